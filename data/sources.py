"""Data sources: each returns a full (not yet long-tailed) train split and a test split."""

import os
import socket

import numpy as np

from data import images as image_io
from data.spec import Augmentation, DataError, Split

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


def load_digits(test_per_class=40):
    """scikit-learn's 8x8 digits (1,797 images, ships offline): a small real dataset.

    The first `test_per_class` images of each class (file order) form a balanced
    test set; the rest is the training pool. Pixels 0..16 are rescaled to uint8.
    """
    from sklearn.datasets import load_digits as sk_digits
    bunch = sk_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    test_mask = np.zeros(len(labels), bool)
    for c in range(10):
        test_mask[np.flatnonzero(labels == c)[:test_per_class]] = True
    return dict(train=Split(labels[~test_mask], images=images[~test_mask]),
                test=Split(labels[test_mask], images=images[test_mask]),
                class_names=[str(c) for c in range(10)],
                augmentation=Augmentation(pad=1, flip=False))  # digits are not mirror-symmetric


def _tfds_host_reachable(host="www.cs.toronto.edu", timeout=5.0):
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def tfds_splits(name, read, data_dir=None, download=True, local_fix=None):
    """(read(train ds), read(test ds), info) of TFDS dataset `name`.

    Fails fast with a DataError when the data is not prepared and the machine is
    offline (TFDS itself would retry the download for minutes). `local_fix` says
    which local source to use instead.
    """
    import tensorflow_datasets as tfds

    def load(split, download_now):
        ds, info = tfds.load(name, split=split, shuffle_files=False, data_dir=data_dir,
                             download=download_now, with_info=True)
        return read(ds), info

    try:
        train, info = load("train", False)
    except AssertionError:
        fix = (f"Either run once on a machine with internet (TFDS caches it under "
               f"{data_dir or '~/tensorflow_datasets'}), or use a local copy: {local_fix}.")
        if not download:
            raise DataError(f"TFDS dataset {name!r} is not prepared and downloading is disabled. {fix}") from None
        if not _tfds_host_reachable():
            raise DataError(f"TFDS dataset {name!r} is not downloaded and this machine cannot reach the "
                            f"download server (offline?). {fix}") from None
        train, info = load("train", True)
    test, _ = load("test", False)
    return train, test, info


def load_tfds_cifar(name, data_dir=None, download=True):
    """CIFAR-10 / CIFAR-100 from TensorFlow Datasets as uint8 arrays (original order)."""
    import tensorflow_datasets as tfds

    def read(ds):
        # Chunks rather than batch_size=-1: that aborts the process on tfds.testing.mock_data.
        chunks = list(tfds.as_numpy(ds.map(lambda x: (x["image"], x["label"])).batch(10000)))
        return np.concatenate([c[0] for c in chunks]).astype(np.uint8), np.concatenate([c[1] for c in chunks])

    (train_x, train_y), (test_x, test_y), info = tfds_splits(
        name, read, data_dir, download, "--dataset=folder --data_dir=PATH with PATH/train/<class>/*")
    return dict(train=Split(train_y.astype(np.int64), images=train_x),
                test=Split(test_y.astype(np.int64), images=test_x),
                class_names=list(info.features["label"].names),
                mean=CIFAR_MEAN, std=CIFAR_STD)


def _require_dir(path, what):
    if not path:
        raise DataError(f"{what} needs --data_dir=PATH.")
    if not os.path.isdir(path):
        raise DataError(f"Data directory {path} does not exist; pass --data_dir with the folder "
                        f"that holds {what}.")


def scan_folder_tree(data_dir, extensions=image_io.IMAGE_EXTENSIONS, kind="images"):
    """Class-per-folder tree `data_dir/{train,test}/<class>/*`: file lists and labels.

    Classes are the sub-folders of train/ sorted by name (label = rank); files (names
    ending in `extensions`) are in natural order so the within-class order of the
    original set is kept.
    """
    example = f"*{extensions[0]}"
    _require_dir(data_dir, f"train/<class>/{example} and test/<class>/{example} {kind}")
    splits = {}
    train_dir = os.path.join(data_dir, "train")
    if not os.path.isdir(train_dir):
        raise DataError(f"{data_dir} has no train/ folder; expected {data_dir}/train/<class>/{example} "
                        f"and test/<class>/{example}.")
    class_names = sorted(d for d in os.listdir(train_dir) if os.path.isdir(os.path.join(train_dir, d)))
    if not class_names:
        raise DataError(f"{train_dir} has no class sub-folders; expected train/<class>/{example}.")
    for split in ("train", "test"):
        files, labels = [], []
        for label, cls in enumerate(class_names):
            cls_dir = os.path.join(data_dir, split, cls)
            found = image_io.list_files(cls_dir, extensions) if os.path.isdir(cls_dir) else []
            if not found:
                raise DataError(f"No {kind} in {cls_dir} (class {cls!r}); every class needs "
                                f"{split} {kind} ({', '.join(extensions)}).")
            files += found
            labels += [label] * len(found)
        splits[split] = Split(np.asarray(labels, np.int64), files=files)
    test_dir = os.path.join(data_dir, "test")   # exists: every class has test images
    extra = sorted(d for d in os.listdir(test_dir)
                   if d not in class_names and os.path.isdir(os.path.join(test_dir, d)))
    if extra:
        raise DataError(f"test/ has class folders missing from train/: {extra}.")
    return dict(train=splits["train"], test=splits["test"], class_names=class_names)


def read_image_list(list_file, root):
    """Parses an ImageNet-LT-style list: `relative/path label` per line -> Split of files.

    UTF-8 (a byte-order mark is dropped). The same file listed twice is refused.
    """
    if not os.path.isfile(list_file):
        raise DataError(f"List file {list_file} does not exist.")
    files, labels, first_line = [], [], {}
    with open(list_file, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rsplit(None, 1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit() or int(parts[1]) < 0:
                raise DataError(f"{list_file}:{number}: expected 'relative/path label' with a "
                                f"non-negative integer label, got {line.strip()!r}.")
            path = os.path.normpath(os.path.join(root, parts[0]))
            first_line.setdefault(path, []).append(number)
            files.append(path)
            labels.append(int(parts[1]))
    if not files:
        raise DataError(f"List file {list_file} has no entries.")
    repeated = {p: n for p, n in first_line.items() if len(n) > 1}
    if repeated:
        path, lines = next(iter(repeated.items()))
        raise DataError(f"{list_file} lists {len(repeated)} file(s) more than once, e.g. {path} on lines "
                        f"{', '.join(map(str, lines[:3]))}; each image may appear once. Remove the duplicates.")
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise DataError(f"{len(missing)} image(s) listed in {list_file} do not exist under {root}, e.g. "
                        f"{missing[0]}; check --data_dir (the root the list's paths are relative to).")
    return Split(np.asarray(labels, np.int64), files=files)


def scan_image_lists(data_dir, train_list, test_list):
    """Train / test lists, each a path relative to `data_dir` (or absolute), of paths relative to `data_dir`.

    Never resolved against the current directory: a stray train.txt there must not win.
    A file in both lists is refused (test images would leak into training).
    """
    _require_dir(data_dir, "the images named in the list files")
    resolve = lambda p: p if os.path.isabs(p) else os.path.join(data_dir, p)  # noqa: E731
    train = read_image_list(resolve(train_list), data_dir)
    test = read_image_list(resolve(test_list), data_dir)
    shared = sorted(set(train.files) & set(test.files))
    if shared:
        raise DataError(f"{len(shared)} file(s) are in both {train_list} and {test_list}, e.g. {shared[0]}: test "
                        "images would be trained on. Each image belongs to one split.")
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    return dict(train=train, test=test, class_names=[f"class_{c}" for c in range(num_classes)])
