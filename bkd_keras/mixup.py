"""Mixup (Zhang et al., ICLR 2018) on a batch: one lambda per batch, a random partner each."""

import tensorflow as tf
from keras import ops


def mix_batch(images, targets, lam, permutation):
    """lam * x + (1 - lam) * x[perm] for images (B, H, W, C) and soft targets (B, C)."""
    lam_x = ops.cast(lam, images.dtype)
    mixed_images = lam_x * images + (1.0 - lam_x) * ops.take(images, permutation, axis=0)
    lam_y = ops.cast(lam, targets.dtype)
    mixed_targets = lam_y * targets + (1.0 - lam_y) * ops.take(targets, permutation, axis=0)
    return mixed_images, mixed_targets


def sample_mixup(batch_size, alpha, seed):
    """lambda ~ Beta(alpha, alpha) (scalar) and a random permutation of range(batch_size).

    `seed` is an int (2,) tensor, e.g. (run seed, optimizer step): the draws are a pure
    function of it, so a resumed run mixes exactly as an uninterrupted one.
    Beta is sampled as G1 / (G1 + G2) with Gamma(alpha) draws.
    """
    seed = tf.cast(seed, tf.int64)
    gammas = tf.random.stateless_gamma([2], seed=seed, alpha=alpha)
    lam = gammas[0] / (gammas[0] + gammas[1])
    permutation = tf.argsort(tf.random.stateless_uniform([batch_size], seed=seed[::-1] + 1))
    return lam, permutation
