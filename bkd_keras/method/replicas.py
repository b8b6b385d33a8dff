"""Reductions over the replicas of a tf.distribute strategy: a training step's loss is a mean
over the GLOBAL batch (apply_gradients sums the replicas' gradients), and its logs a shape the
strategy can average."""

import tensorflow as tf
from keras import ops


def step_logs(metrics):
    """{name: result} of `metrics` (a metric whose result is a dict adds its entries). Under MultiWorkerMirroredStrategy Keras 3.15 averages the
    replicas' logs with reduce(MEAN, axis=0), which fails on scalars: give them shape (1,)."""
    logs = {}
    for m in metrics:
        result = m.result()
        logs.update(result if isinstance(result, dict) else {m.name: result})
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        logs = {k: ops.reshape(v, (1,)) for k, v in logs.items()}
    return logs


def num_replicas():
    """How many replicas run the step in sync (1 without a strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def global_sum(local):
    """A per-replica scalar summed over the replicas (itself on one device)."""
    ctx = tf.distribute.get_replica_context()
    local = ops.cast(local, "float32")
    if ctx is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return local
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, local)


def global_batch_size(local_batch):
    # all_reduce gives the exact global size, also for an uneven last batch.
    return global_sum(local_batch)
