"""tf.data input pipelines: augment on uint8, normalise, shuffle, batch, prefetch.

The training pipeline is a pure function of (seed, epoch): the shuffle order and every
random crop / flip come from stateless random ops keyed on them. A run resumed at
epoch k therefore sees exactly the batches an uninterrupted run sees at epoch k.
"""

import numpy as np
import tensorflow as tf

_PARALLEL = 2
_MAX_EPOCHS = 1 << 30


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


def augment(image, pad, flip, seed):
    """uint8 (H, W, C): zero-pad `pad`, random (H, W) crop, random horizontal flip.

    `seed` is an int64 (2,) tensor; the result is a pure function of it.
    """
    if pad:
        shape = tf.shape(image)
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.image.stateless_random_crop(padded, shape, seed=seed)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seed[::-1])
    return image


def train_dataset(dataset, batch_size, seed=0, augment_images=True, start_epoch=0, repeat=False):
    """Batches of (normalised float32 (B, H, W, C), or int64 token ids (B, L) for text; int64 (B,)).

    One epoch (`start_epoch`), or with `repeat` the epochs start_epoch, start_epoch + 1,
    ... back to back (pass `steps_per_epoch` to `fit`). Each epoch is the whole split in
    a fresh random order; its last partial batch is kept, as in the reference loader.
    """
    split = dataset.train
    n = len(split)
    if dataset.is_text:
        return _text_train_dataset(dataset, batch_size, seed, start_epoch, repeat)
    images = tf.constant(split.images)
    labels = tf.constant(split.labels)
    norm = normalizer(dataset.mean, dataset.std)
    pad, flip = dataset.augmentation.pad, dataset.augmentation.flip

    def one_epoch(epoch):
        order = _epoch_order(n, seed, epoch)

        def load(position, index):
            image = tf.gather(images, index)
            if augment_images:
                image = augment(image, pad, flip, tf.stack([epoch * n + position, tf.constant(seed, tf.int64) + 1]))
            return norm(image), tf.gather(labels, index)

        return tf.data.Dataset.from_tensor_slices(order).enumerate() \
            .map(load, num_parallel_calls=_PARALLEL, deterministic=True).batch(batch_size)

    end = _MAX_EPOCHS if repeat else start_epoch + 1
    return tf.data.Dataset.range(start_epoch, end).flat_map(one_epoch).prefetch(2).with_options(_options())


def _epoch_order(n, seed, epoch):
    return tf.cast(tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), epoch]))),
                   tf.int64)


def _text_train_dataset(dataset, batch_size, seed, start_epoch, repeat):
    """Text: the same (seed, epoch) order; tokenised per batch by the dataset's vectorizer."""
    texts = tf.constant(dataset.train.texts.astype(str))
    labels = tf.constant(dataset.train.labels)
    vectorizer = dataset.vectorizer

    def one_epoch(epoch):
        return tf.data.Dataset.from_tensor_slices(_epoch_order(len(dataset.train), seed, epoch)) \
            .batch(batch_size).map(lambda index: (vectorizer(tf.gather(texts, index)), tf.gather(labels, index)),
                                   num_parallel_calls=_PARALLEL, deterministic=True)

    end = _MAX_EPOCHS if repeat else start_epoch + 1
    return tf.data.Dataset.range(start_epoch, end).flat_map(one_epoch).prefetch(2).with_options(_options())


def eval_dataset(dataset, batch_size, split="test"):
    """Batches of (normalised images or token ids, labels) of `split`, in order, no augmentation."""
    data = getattr(dataset, split)
    if dataset.is_text:
        return tf.data.Dataset.from_tensor_slices((data.texts.astype(str), data.labels)).batch(batch_size) \
            .map(lambda x, y: (dataset.vectorizer(x), y), num_parallel_calls=_PARALLEL) \
            .prefetch(2).with_options(_options())
    norm = normalizer(dataset.mean, dataset.std)
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels))
    return ds.batch(batch_size).map(lambda x, y: (norm(x), y), num_parallel_calls=_PARALLEL) \
        .prefetch(2).with_options(_options())


def steps_per_epoch(dataset, batch_size):
    return int(np.ceil(len(dataset.train) / batch_size))
