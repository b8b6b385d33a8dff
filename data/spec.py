"""What every data source returns: images (or files) and labels for train and test."""

import dataclasses
import functools
from typing import List, Optional, Sequence

import numpy as np


class DataError(ValueError):
    """A problem with the user's data or data flags; the message says how to fix it."""


@dataclasses.dataclass
class Split:
    """One split: decoded uint8 images (N, H, W, C) in memory, image files, or raw texts.

    Exactly one of `images` / `files` / `texts` (object array of str, (N,)) is set.
    `labels` is int64 (N,).
    """
    labels: np.ndarray
    images: Optional[np.ndarray] = None
    files: Optional[Sequence[str]] = None
    texts: Optional[np.ndarray] = None

    def __len__(self):
        return len(self.labels)

    def subset(self, indices):
        indices = np.asarray(indices)
        return Split(labels=self.labels[indices],
                     images=None if self.images is None else self.images[indices],
                     files=None if self.files is None else [self.files[i] for i in indices],
                     texts=None if self.texts is None else self.texts[indices])


# --augmentation: CIFAR's pad-and-crop on images held in memory, or the ImageNet
# random-resized-crop on image files streamed from disk.
AUGMENTATIONS = ("pad_crop", "resized_crop")


@dataclasses.dataclass
class Augmentation:
    """Training augmentation: zero-pad `pad` + random crop (CIFAR), optional flip.

    `resized_crop`: instead, images stay files decoded in the pipeline: random-resized-crop
    (scale 0.08-1, aspect 3/4-4/3) to the dataset's image shape for training; resize the
    shorter side to size / 0.875 and centre-crop for evaluation (the ImageNet recipe).
    """
    pad: int = 4
    flip: bool = True
    resized_crop: bool = False


@dataclasses.dataclass
class LongTailDataset:
    """A long-tailed train split, a balanced test split, and what the loss needs.

    `class_counts` (C,) are the training counts after the long-tailed selection;
    `mean`/`std` (channels,) are in [0, 1] pixel units.
    """
    name: str
    train: Split
    test: Split
    class_names: Sequence[str]
    image_shape: tuple
    mean: Sequence[float]
    std: Sequence[float]
    augmentation: Augmentation = dataclasses.field(default_factory=Augmentation)
    # Text datasets: the TextVectorization layer adapted on the train split; the model
    # input is then its token ids, `image_shape` = (sequence_length,), mean/std unused.
    vectorizer: Optional[object] = None
    # Things about the data a user should know (merged label spellings, converted images), one line each.
    notes: List[str] = dataclasses.field(default_factory=list)

    @property
    def is_text(self):
        return self.vectorizer is not None

    @functools.cached_property
    def vocabulary(self):
        return self.vectorizer.get_vocabulary() if self.is_text else None

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def class_counts(self):
        return np.bincount(self.train.labels, minlength=self.num_classes).astype(np.int64)

    def summary(self):
        counts = self.class_counts
        kind, shape = ("texts", f"{self.image_shape[0]} tokens, vocabulary {len(self.vocabulary)}") \
            if self.is_text else ("images", f"image shape {self.image_shape}")
        return (f"{self.name}: {len(self.train)} train {kind} in {self.num_classes} classes "
                f"(max {counts.max()}, min {counts.min()}, ratio {counts.max() / max(counts.min(), 1):.1f}), "
                f"{len(self.test)} test {kind}, {shape}")


def channel_stats(images):
    """Per-channel mean and std in [0, 1] units of uint8 images (N, H, W, C)."""
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return x.mean(0).tolist(), np.maximum(x.std(0), 1e-3).tolist()


def validate_labels(split_name, labels, class_names):
    """Raises DataError for labels outside [0, C) or, in the train split, classes with no example.

    Runs on the source's splits, before any long-tailed selection: an empty class here is a
    labelling problem (labels must be 0..C-1, each class present), not an imbalance one.
    """
    labels, num_classes = np.asarray(labels), len(class_names)
    if len(labels) == 0:
        raise DataError(f"The {split_name} split is empty.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataError(f"The {split_name} split has labels {int(labels.min())}..{int(labels.max())}, outside "
                        f"0..{num_classes - 1}: labels must be 0..C-1 (or class names), one per class.")
    counts = np.bincount(labels, minlength=num_classes)
    empty = np.flatnonzero(counts == 0)
    if split_name == "train" and len(empty):
        hint = (" They start at 1: if they are 1-based, subtract 1." if empty.tolist() == [0] else "")
        named = ", ".join(repr(str(class_names[c])) for c in empty[:5]) + (", ..." if len(empty) > 5 else "")
        raise DataError(f"The train split has no example of class(es) {named} (of {num_classes}; its labels "
                        f"are {_ranges(np.flatnonzero(counts))}). Labels must be 0..C-1 with every class "
                        f"present.{hint}")


def _ranges(values):
    """'0, 2..5, 9' for sorted ints."""
    values, parts, start = list(values), [], None
    for i, v in enumerate(values):
        start = v if start is None else start
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(f"{start}" if start == v else f"{start}..{v}")
            start = None
    return ", ".join(parts)
