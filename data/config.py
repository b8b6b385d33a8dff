"""The data's part of a run's configuration (a flag per field; see bkd_keras/run/config.py).

It is also the dataset's cache key: every setting that changes the loaded data is in it.
Checked by data/registry.py (`check_config`); imports nothing outside data/.
"""

import dataclasses
from typing import Optional, Tuple


@dataclasses.dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"
    data_dir: Optional[str] = None
    train_list: str = "train.txt"
    test_list: str = "test.txt"
    image_size: Optional[Tuple[int, int]] = None
    imbalance_type: str = "exp"
    imbalance_ratio: float = 20.0
    max_per_class: Optional[int] = None
    subset_seed: int = 0
    tfds_download: bool = True
    mean: Optional[Tuple[float, ...]] = None   # per channel, [0, 1] units; None: from the train split
    std: Optional[Tuple[float, ...]] = None
    max_tokens: int = 20000            # text: vocabulary size, with the padding and OOV ids
    sequence_length: int = 256         # text: tokens per example
    augmentation: str = "pad_crop"     # pad_crop (CIFAR, images in memory) | resized_crop (224, streamed files)
    tokenizer: str = "words"           # text: words (TextVectorization) | wordpiece (keras-hub, learnt on train)
    label_column: str = "label"        # text_table: the header's column names
    text_column: str = "text"
