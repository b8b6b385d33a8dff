"""Mixup (Zhang et al., ICLR 2018) on a batch: one lambda per batch, a random partner each.

The random draws are made in the `tf.data` pipeline (`attach_mixup`) and handed to the
train step with the batch, so the compiled step has no random ops (XLA has no CPU kernel
for the Gamma draw) and the draws of step k are a pure function of (seed, k): a resumed run
mixes exactly as an uninterrupted one.
"""

import tensorflow as tf
from keras import ops


def mix_batch(images, targets, lam, permutation):
    """lam * x + (1 - lam) * x[perm] for images (B, H, W, C) and soft targets (B, C)."""
    lam_x = ops.cast(lam, images.dtype)
    mixed_images = lam_x * images + (1.0 - lam_x) * ops.take(images, permutation, axis=0)
    lam_y = ops.cast(lam, targets.dtype)
    mixed_targets = lam_y * targets + (1.0 - lam_y) * ops.take(targets, permutation, axis=0)
    return mixed_images, mixed_targets


def mixup_draws(batch_size, alpha, seed):
    """The draws of one batch: {"lam": (B,) float32, one lambda ~ Beta(alpha, alpha) repeated,
    "order": (B,) float32 uniform keys whose argsort is the partner permutation}.

    Per-example tensors, so a distribution strategy that splits the batch across replicas
    hands each replica its own slice (each then mixes within its slice). `seed` is an int
    (2,) tensor; Beta is sampled as G1 / (G1 + G2) with Gamma(alpha) draws.
    """
    seed = tf.cast(seed, tf.int64)
    gammas = tf.random.stateless_gamma([2], seed=seed, alpha=alpha)
    lam = gammas[0] / (gammas[0] + gammas[1])
    order = tf.random.stateless_uniform([batch_size], seed=seed[::-1] + 1)
    return {"lam": tf.fill([batch_size], lam), "order": order}


def attach_mixup(dataset, alpha, seed, start_step=0):
    """(x, y) batches -> (x, y, draws); batch k (counted from `start_step`) uses seed (seed, k)."""
    def add(step, batch):
        x, y = batch
        return x, y, mixup_draws(tf.shape(y)[0], alpha, tf.stack([tf.constant(seed, tf.int64), step]))
    return dataset.enumerate(start=start_step).map(add, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def unpack_draws(draws):
    """(lambda scalar, permutation (B,)) of the draws handed to the train step."""
    return draws["lam"][0], ops.argsort(draws["order"])


def sample_mixup(batch_size, alpha, seed):
    """lambda and a permutation drawn inside the step: for batches that came without draws."""
    return unpack_draws(mixup_draws(batch_size, alpha, seed))
