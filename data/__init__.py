"""Long-tailed datasets: selection, sources, registry and tf.data pipelines."""

from data.long_tail import long_tail_counts, long_tail_indices
from data.pipeline import eval_dataset, steps_per_epoch, train_dataset
from data.registry import DATASETS, load_dataset
from data.spec import DataError, LongTailDataset, Split

__all__ = ["DATASETS", "DataError", "LongTailDataset", "Split", "eval_dataset", "load_dataset",
           "long_tail_counts", "long_tail_indices", "steps_per_epoch", "train_dataset"]
