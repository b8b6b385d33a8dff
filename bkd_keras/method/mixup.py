"""Mixup (Zhang et al., ICLR 2018) on a batch: one lambda per batch, a random partner each.

The random draws are made in the `tf.data` pipeline (data/mixup_draws.py, `attach_mixup`) and handed to the
train step with the batch, so the compiled step has no random ops (XLA has no CPU kernel
for the Gamma draw) and the draws of step k are a pure function of (seed, k): a resumed run
mixes exactly as an uninterrupted one.
"""

from keras import ops

from data.mixup_draws import mixup_draws


def mix_batch(images, targets, lam, permutation):
    """lam * x + (1 - lam) * x[perm] for images (B, H, W, C) and soft targets (B, C)."""
    lam_x = ops.cast(lam, images.dtype)
    mixed_images = lam_x * images + (1.0 - lam_x) * ops.take(images, permutation, axis=0)
    lam_y = ops.cast(lam, targets.dtype)
    mixed_targets = lam_y * targets + (1.0 - lam_y) * ops.take(targets, permutation, axis=0)
    return mixed_images, mixed_targets


def unpack_draws(draws):
    """(lambda scalar, permutation (B,)) of the draws handed to the train step."""
    return draws["lam"][0], ops.argsort(draws["order"])


def sample_mixup(batch_size, alpha, seed):
    """lambda and a permutation drawn inside the step: for batches that came without draws."""
    return unpack_draws(mixup_draws(batch_size, alpha, seed))
