"""Finding and decoding image files into uint8 arrays, with errors that name the file."""

import os
import re

import numpy as np
import tensorflow as tf

from data.spec import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def natural_key(text):
    """Sort key that orders "img2" before "img10" (keeps the original within-class order)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def list_files(directory, extensions=IMAGE_EXTENSIONS):
    """Files directly inside `directory` whose names end in `extensions`, in natural order."""
    names = [n for n in os.listdir(directory) if n.lower().endswith(tuple(extensions))]
    return [os.path.join(directory, n) for n in sorted(names, key=natural_key)]


def memory_budget_bytes(fraction=0.25):
    """A fraction of physical memory: the most we cache as decoded uint8 arrays."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * fraction)
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def decode_file(path, channels, image_size=None):
    """tf graph function: file path -> uint8 (H, W, channels), resized if `image_size`."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    if image_size is not None:
        image = tf.image.resize(image, image_size, antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image


def _reason(err):
    """TensorFlow's error text without its op/device decorations."""
    text = re.sub(r"\{\{.*?\}\}\s*", "", str(err).splitlines()[0])
    return re.sub(r"\s*\[Op:.*$", "", text).strip().rstrip(".")


def _find_bad_file(files, channels):
    for path in files:
        try:
            tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as err:
            return path, _reason(err)
    return None, None


def probe_image(path):
    """(channels to decode every image with: 1 for grayscale, else 3; (H, W) of this image)."""
    try:
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as err:
        raise DataError(f"Cannot read image {path}: {_reason(err)}. "
                        "Remove or replace the file.") from None
    return (1 if image.shape[-1] == 1 else 3), tuple(image.shape[:2])


def decode_files(files, channels, image_size=None, description="images"):
    """Decodes every file (in parallel) into uint8 (N, H, W, C).

    Raises DataError naming the first unreadable file, or asking for `image_size`
    when the images differ in size.
    """
    files = list(files)
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        raise DataError(f"{len(missing)} listed image file(s) do not exist, e.g. {missing[0]}. "
                        "Check the data directory / list file paths.")
    ds = tf.data.Dataset.from_tensor_slices(files).map(
        lambda p: decode_file(p, channels, image_size), num_parallel_calls=os.cpu_count() or 2,
        deterministic=True).prefetch(64)
    out, shape = [], None
    progress = __import__("keras").utils.Progbar(len(files), unit_name=description)
    try:
        for i, image in enumerate(ds.as_numpy_iterator()):
            if shape is None:
                shape = image.shape
            elif image.shape != shape:
                raise DataError(f"Images differ in size ({files[i]} is {image.shape[:2]}, earlier ones "
                                f"{shape[:2]}); pass --image_size=H,W to resize them all.")
            out.append(image)
            if i % 500 == 0 or i == len(files) - 1:
                progress.update(i + 1)
    except tf.errors.InvalidArgumentError:
        bad, reason = _find_bad_file(files, channels)
        raise DataError(f"Corrupt or unreadable image {bad}: {reason}. Remove or replace the file.") from None
    return np.stack(out)
