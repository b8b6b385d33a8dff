"""Mixup (Zhang et al., ICLR 2018) on a batch: one lambda per batch, a random partner each."""

import keras
from keras import ops


def mix_batch(images, targets, lam, permutation):
    """lam * x + (1 - lam) * x[perm] for images (B, H, W, C) and soft targets (B, C)."""
    lam_x = ops.cast(lam, images.dtype)
    mixed_images = lam_x * images + (1.0 - lam_x) * ops.take(images, permutation, axis=0)
    lam_y = ops.cast(lam, targets.dtype)
    mixed_targets = lam_y * targets + (1.0 - lam_y) * ops.take(targets, permutation, axis=0)
    return mixed_images, mixed_targets


def sample_mixup(batch_size, alpha, seed_generator):
    """lambda ~ Beta(alpha, alpha) (scalar) and a random permutation of range(batch_size)."""
    lam = keras.random.beta((), alpha, alpha, seed=seed_generator)
    permutation = ops.argsort(keras.random.uniform((batch_size,), seed=seed_generator))
    return lam, permutation
