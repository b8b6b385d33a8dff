"""Fingerprints of a run's inputs, so a resumed run can tell whether its data changed.

A split's fingerprint hashes its labels and its examples: decoded pixels, texts, or, for
images streamed from files, the file paths relative to the data root. A dataset moved to
another folder keeps its fingerprint; one whose selection, labels or content changed does not.
"""

import hashlib
import os

import numpy as np


def split_sha256(split, root=None):
    h = hashlib.sha256(np.asarray(split.labels, np.int64).tobytes())
    if split.images is not None:
        h.update(str(split.images.shape).encode())
        h.update(np.ascontiguousarray(split.images).tobytes())
    elif split.files is not None:
        for path in split.files:
            h.update((os.path.relpath(path, root) if root else path).encode() + b"\0")
    else:
        for text in split.texts:
            h.update(str(text).encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def dataset_fingerprint(dataset, root=None):
    """{"classes", "train_counts", "test_counts", "train", "test"} of a LongTailDataset;
    `root`: the folder file paths are relative to (--data_dir)."""
    return {"classes": list(dataset.class_names),
            "train_counts": dataset.class_counts.tolist(),
            "test_counts": np.bincount(dataset.test.labels, minlength=dataset.num_classes).tolist(),
            "train": split_sha256(dataset.train, root), "test": split_sha256(dataset.test, root)}


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def folder_sha256(path):
    """SHA-256 over the relative names and contents of every file under `path` (a preset folder)."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode() + b"\0" + file_sha256(full).encode())
    return h.hexdigest()


def describe_change(old, new):
    """What differs between two dataset fingerprints, in words (None if nothing)."""
    if old == new:
        return None
    if old.get("classes") != new.get("classes"):
        return f"the classes changed ({old.get('classes')} -> {new.get('classes')})"
    for split in ("train", "test"):
        if old.get(f"{split}_counts") != new.get(f"{split}_counts"):
            return (f"the {split} split's images per class changed ({old.get(f'{split}_counts')} -> "
                    f"{new.get(f'{split}_counts')})")
    for split in ("train", "test"):
        if old.get(split) != new.get(split):
            return f"the {split} split's examples or labels changed (same counts, other content)"
    return "the data changed"
