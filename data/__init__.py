"""Long-tailed datasets: selection, sources, registry and tf.data pipelines.

The names below load on first use, so `data.config` (plain Python) imports no TensorFlow.
"""

import importlib

_HOMES = {"long_tail_counts": "data.long_tail", "long_tail_indices": "data.long_tail",
          "eval_dataset": "data.pipeline", "steps_per_epoch": "data.pipeline", "train_dataset": "data.pipeline",
          "DATASETS": "data.registry", "load_dataset": "data.registry",
          "DataError": "data.spec", "LongTailDataset": "data.spec", "Split": "data.spec"}

__all__ = sorted(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'data' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
