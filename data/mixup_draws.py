"""Mixup's random draws, made in the tf.data pipeline: batch k of a run draws from (seed, k).

The train step (bkd_keras/method/mixup.py, bkd_keras/method/distiller.py) mixes the batch with them; drawing
here keeps the compiled step free of random ops and makes a resumed run mix exactly as an
uninterrupted one.
"""

import tensorflow as tf


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
