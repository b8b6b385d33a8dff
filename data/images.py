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
    # Only files: a folder named "x.jpg" is not an image.
    names = [n for n in os.listdir(directory) if n.lower().endswith(tuple(extensions))
             and os.path.isfile(os.path.join(directory, n))]
    return [os.path.join(directory, n) for n in sorted(names, key=natural_key)]


def memory_budget_bytes(fraction=0.25):
    """A fraction of physical memory: the most we cache as decoded uint8 arrays."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * fraction)
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def decode_file(path, channels, image_size=None):
    """tf graph function: file path -> uint8 (H, W, channels), resized if `image_size`.

    `channels` 0 keeps the file's own (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    if image_size is not None:
        image = tf.image.resize(image, image_size, antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image


def _reason(err):
    """TensorFlow's error text without its op/device decorations."""
    text = re.sub(r"\{\{.*?\}\}\s*", "", str(err).splitlines()[0])
    return re.sub(r"\s*\[Op:.*$", "", text).strip().rstrip(".")


def _find_bad_file(files):
    for path in files:
        try:
            tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as err:
            return path, _reason(err)
    return None, None


def probe_image(path):
    """(H, W) of one image file (to estimate the memory a decoded set needs)."""
    try:
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as err:
        raise DataError(f"Cannot read image {path}: {_reason(err)}. "
                        "Remove or replace the file.") from None
    return tuple(image.shape[:2])


def _to_channels(image, channels):
    """uint8 (H, W, c) with c in 1..4 -> (H, W, channels), channels 1 (gray) or 3 (RGB); alpha dropped.
    Colour to gray uses ITU-R BT.601 luma, as tf.image.rgb_to_grayscale."""
    have = image.shape[-1]
    if have in (2, 4):
        image = image[..., :have - 1]
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=-1)
    luma = image.astype(np.float32) @ np.asarray([0.2989, 0.5870, 0.1140], np.float32)
    return np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]


def common_channels(native):
    """(channels, note) for images whose own channel counts are `native` (ints, 1..4).

    Every image of a set gets the same channels: gray (1) if most images are gray, else RGB (3);
    `note` is one line naming the minority that is converted (None if the set is uniform).
    """
    native = np.asarray(native)
    gray = int(np.isin(native, (1, 2)).sum())
    colour = len(native) - gray
    channels = 1 if gray > colour else 3
    minority = colour if channels == 1 else gray
    if not minority:
        return channels, None
    return channels, (f"the images mix grayscale ({gray}) and colour ({colour}); the "
                      f"{'colour' if channels == 1 else 'grayscale'} ones are converted to "
                      f"{'grayscale' if channels == 1 else 'RGB'}, as the majority.")


def decode_files(files, image_size=None, description="images"):
    """Decodes every file (in parallel) with its own channels: a list of uint8 (H, W, c).

    Raises DataError naming the first unreadable file, or asking for `image_size`
    when the images differ in size. `stack` turns the list into one array.
    """
    files = list(files)
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        raise DataError(f"{len(missing)} listed image file(s) do not exist, e.g. {missing[0]}. "
                        "Check the data directory / list file paths.")
    ds = tf.data.Dataset.from_tensor_slices(files).map(
        lambda p: decode_file(p, 0, image_size), num_parallel_calls=os.cpu_count() or 2,
        deterministic=True).prefetch(64)
    out, size = [], None
    progress = __import__("keras").utils.Progbar(len(files), unit_name=description)
    try:
        for i, image in enumerate(ds.as_numpy_iterator()):
            if size is None:
                size = image.shape[:2]
            elif image.shape[:2] != size:
                raise DataError(f"Images differ in size ({files[i]} is {image.shape[:2]}, earlier ones "
                                f"{size}); pass --image_size=H,W to resize them all.")
            out.append(image)
            if i % 500 == 0 or i == len(files) - 1:
                progress.update(i + 1)
    except tf.errors.InvalidArgumentError:
        bad, reason = _find_bad_file(files)
        raise DataError(f"Corrupt or unreadable image {bad}: {reason}. Remove or replace the file.") from None
    return out


def stack(images, channels):
    """One uint8 (N, H, W, channels) array of `decode_files`' images."""
    return np.stack([_to_channels(image, channels) for image in images])
