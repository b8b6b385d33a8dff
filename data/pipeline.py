"""tf.data input pipelines: augment on uint8, normalise, shuffle, batch, prefetch.

The training pipeline is a pure function of (seed, epoch): the shuffle order and every
random crop / flip come from stateless random ops keyed on them. A run resumed at
epoch k therefore sees exactly the batches an uninterrupted run sees at epoch k.
"""

import functools
import os

import numpy as np
import tensorflow as tf

_PARALLEL = 2
# Decoding full-size image files is the costly step of the 224 pipeline: one decoder per core
# (autotune stays off, see _options).
_DECODERS = max(2, os.cpu_count() or 2)
_MAX_EPOCHS = 1 << 30


def _options():
    options = tf.data.Options()
    # Autotune stalled 30-38 s at every epoch boundary here (docs/performance.md); the
    # augmentation is cheap, so fixed parallelism loses nothing.
    options.autotune.enabled = False
    options.deterministic = True
    return options


def normalizer(mean, std):
    """uint8 (or float in 0..255) (..., C) -> float32 (x / 255 - mean) / std."""
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


def train_dataset(dataset, batch_size, seed=0, augment_images=True, start_epoch=0, repeat=False, mixup_alpha=0.0,
                  start_step=0, raw_text=False):
    """Batches of (normalised float32 (B, H, W, C), or int64 token ids (B, L) for text; int64 (B,)).

    Text with `raw_text`: the inputs are {"tokens": ids (B, L), "text": the strings (B,)}, for a
    teacher that reads raw text through its own preprocessor (bkd_keras/run/hub_teacher.py).

    With `mixup_alpha` > 0 each batch also carries mixup's draws (data/mixup_draws.py),
    batch k of the run (counted over epochs from 0) drawn from (seed, k).

    One epoch (`start_epoch`), or with `repeat` the epochs start_epoch, start_epoch + 1,
    ... back to back (pass `steps_per_epoch` to `fit`). Each epoch is the whole split in
    a fresh random order; its last partial batch is kept, as in the reference loader.
    `start_step` drops the first batches of `start_epoch` (a resume mid-epoch) before any
    example is read or decoded; the rest are exactly those of an uninterrupted run.
    """
    split = dataset.train
    n = len(split)
    if mixup_alpha > 0:
        from data.mixup_draws import attach_mixup
        mixup = functools.partial(attach_mixup, alpha=mixup_alpha, seed=seed,
                                  start_step=start_epoch * steps_per_epoch(dataset, batch_size) + start_step)
    else:
        mixup = None
    epochs = functools.partial(_epochs, start_epoch=start_epoch, repeat=repeat, mixup=mixup,
                               skip=start_step * batch_size)
    if dataset.is_text:
        if mixup:
            raise ValueError("Mixup is not defined on token ids.")
        return _text_train_dataset(dataset, batch_size, seed, epochs, raw_text)
    if dataset.augmentation.resized_crop:
        return _file_train_dataset(dataset, batch_size, seed, augment_images, epochs)
    images = tf.constant(split.images)
    labels = tf.constant(split.labels)
    norm = normalizer(dataset.mean, dataset.std)
    pad, flip = dataset.augmentation.pad, dataset.augmentation.flip

    def one_epoch(epoch, skip):
        order = _epoch_order(n, seed, epoch)

        def load(position, index):
            image = tf.gather(images, index)
            if augment_images:
                image = augment(image, pad, flip, tf.stack([epoch * n + position, tf.constant(seed, tf.int64) + 1]))
            return norm(image), tf.gather(labels, index)

        return tf.data.Dataset.from_tensor_slices(order).enumerate().skip(skip) \
            .map(load, num_parallel_calls=_PARALLEL, deterministic=True).batch(batch_size)

    return epochs(one_epoch)


def _epochs(one_epoch, start_epoch, repeat, mixup=None, skip=0):
    """Epoch start_epoch (or, with `repeat`, it and all later ones back to back) of
    `one_epoch(epoch, skip)`, where `skip` examples are dropped from the start of `start_epoch`
    only; `mixup`: a transform adding mixup's draws to the batches."""
    end = _MAX_EPOCHS if repeat else start_epoch + 1
    first = tf.constant(start_epoch, tf.int64)
    batches = tf.data.Dataset.range(start_epoch, end).flat_map(
        lambda epoch: one_epoch(epoch, tf.where(epoch == first, tf.constant(skip, tf.int64), tf.constant(0, tf.int64))))
    if mixup is not None:
        batches = mixup(batches)
    return batches.prefetch(2).with_options(_options())


def _epoch_order(n, seed, epoch):
    return tf.cast(tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), epoch]))),
                   tf.int64)


def _text_train_dataset(dataset, batch_size, seed, epochs, raw_text):
    """Text: the same (seed, epoch) order; tokenised per batch by the dataset's vectorizer."""
    texts = tf.constant(dataset.train.texts.astype(str))
    labels = tf.constant(dataset.train.labels)
    vectorizer = dataset.vectorizer

    def load(index):
        batch = tf.gather(texts, index)
        ids = vectorizer(batch)
        return ({"tokens": ids, "text": batch} if raw_text else ids), tf.gather(labels, index)

    def one_epoch(epoch, skip):
        return tf.data.Dataset.from_tensor_slices(_epoch_order(len(dataset.train), seed, epoch)).skip(skip) \
            .batch(batch_size).map(load, num_parallel_calls=_PARALLEL, deterministic=True)

    return epochs(one_epoch)


def _decode(path):
    return tf.image.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def random_resized_crop(image, size, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """uint8 (H, W, 3) -> float32 (size[0], size[1], 3): a random area / aspect crop, resized.

    Stateless: a pure function of `seed` (int64 (2,)). Falls back to the whole image when
    no valid box is found (tf.image's behaviour).
    """
    begin, box, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), tf.zeros([0, 0, 4], tf.float32), seed=seed, area_range=scale,
        aspect_ratio_range=ratio, max_attempts=10, use_image_if_no_bounding_boxes=True)
    crop = tf.slice(image, begin, box)
    return tf.image.resize(crop, size, antialias=False)


def center_crop(image, size, crop_fraction=0.875):
    """uint8 (H, W, 3) -> float32 (size, 3): shorter side to size / 0.875, central crop."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    target = tf.cast(max(size), tf.float32) / crop_fraction
    scale = target / tf.reduce_min(shape)
    resized = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32))
    return tf.image.resize_with_crop_or_pad(resized, size[0], size[1])


def _file_train_dataset(dataset, batch_size, seed, augment_images, epochs):
    """Image files decoded in parallel and augmented the ImageNet way, in the (seed, epoch) order."""
    files = tf.constant(list(dataset.train.files))
    labels = tf.constant(dataset.train.labels)
    size = tuple(dataset.image_shape[:2])
    norm = normalizer(dataset.mean, dataset.std)
    n = len(dataset.train)

    def one_epoch(epoch, skip):
        def load(position, index):
            image = _decode(tf.gather(files, index))
            step_seed = tf.stack([epoch * n + position, tf.constant(seed, tf.int64) + 1])
            if augment_images:
                image = random_resized_crop(image, size, step_seed)
                image = tf.image.stateless_random_flip_left_right(image, seed=step_seed[::-1])
            else:
                image = center_crop(image, size)
            return norm(image), tf.gather(labels, index)

        return tf.data.Dataset.from_tensor_slices(_epoch_order(n, seed, epoch)).enumerate().skip(skip) \
            .map(load, num_parallel_calls=_DECODERS, deterministic=True).batch(batch_size)

    return epochs(one_epoch)


def eval_dataset(dataset, batch_size, split="test", raw_text=False):
    """Batches of (normalised images or token ids, labels) of `split`, in order, no augmentation.

    Text with `raw_text`: the strings (B,) instead of their token ids (for a preset teacher).
    """
    data = getattr(dataset, split)
    if dataset.augmentation.resized_crop:
        size = tuple(dataset.image_shape[:2])
        norm = normalizer(dataset.mean, dataset.std)
        return tf.data.Dataset.from_tensor_slices((list(data.files), data.labels)) \
            .map(lambda f, y: (norm(center_crop(_decode(f), size)), y), num_parallel_calls=_DECODERS) \
            .batch(batch_size).prefetch(2).with_options(_options())
    if dataset.is_text:
        texts = tf.data.Dataset.from_tensor_slices((data.texts.astype(str), data.labels)).batch(batch_size)
        if raw_text:
            return texts.prefetch(2).with_options(_options())
        return texts \
            .map(lambda x, y: (dataset.vectorizer(x), y), num_parallel_calls=_PARALLEL) \
            .prefetch(2).with_options(_options())
    norm = normalizer(dataset.mean, dataset.std)
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels))
    return ds.batch(batch_size).map(lambda x, y: (norm(x), y), num_parallel_calls=_PARALLEL) \
        .prefetch(2).with_options(_options())


def steps_per_epoch(dataset, batch_size):
    return int(np.ceil(len(dataset.train) / batch_size))
