"""tf.data input pipelines: augment on uint8, normalise, shuffle, batch, prefetch."""

import numpy as np
import tensorflow as tf

_PARALLEL = 2


def _options():
    options = tf.data.Options()
    # Autotune stalled 30-38 s at every epoch boundary here (TF_NOTES.md); the
    # augmentation is cheap, so fixed parallelism loses nothing.
    options.autotune.enabled = False
    options.deterministic = True
    return options


def normalizer(mean, std):
    """uint8 (..., C) -> float32 (x / 255 - mean) / std."""
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)
    return lambda image: (tf.cast(image, tf.float32) / 255.0 - mean) / std


def augmenter(image_shape, pad, flip, seed):
    """uint8 (H, W, C) -> zero-pad `pad`, random (H, W) crop, random horizontal flip."""
    def augment(image):
        if pad:
            image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
            image = tf.image.random_crop(image, image_shape, seed=seed)
        if flip:
            image = tf.image.random_flip_left_right(image, seed=None if seed is None else seed + 1)
        return image
    return augment


def train_dataset(dataset, batch_size, seed=0, augment=True, shuffle=True):
    """Batches of (normalised float32 (B, H, W, C), int64 (B,)) for one epoch.

    Shuffles the whole split each epoch; the last partial batch is kept, as in the
    reference PyTorch loader.
    """
    split = dataset.train
    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
    if shuffle:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    norm = normalizer(dataset.mean, dataset.std)
    if augment:
        aug = augmenter(dataset.image_shape, dataset.augmentation.pad, dataset.augmentation.flip, seed)
        ds = ds.map(lambda x, y: (norm(aug(x)), y), num_parallel_calls=_PARALLEL)
    else:
        ds = ds.map(lambda x, y: (norm(x), y), num_parallel_calls=_PARALLEL)
    return ds.batch(batch_size).prefetch(2).with_options(_options())


def eval_dataset(dataset, batch_size, split="test"):
    """Batches of (normalised images, labels) of `split`, in order, no augmentation."""
    data = getattr(dataset, split)
    norm = normalizer(dataset.mean, dataset.std)
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels))
    return ds.batch(batch_size).map(lambda x, y: (norm(x), y), num_parallel_calls=_PARALLEL) \
        .prefetch(2).with_options(_options())


def steps_per_epoch(dataset, batch_size):
    return int(np.ceil(len(dataset.train) / batch_size))
