"""Distribution strategies by name."""

import tensorflow as tf


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices (before TensorFlow runs any op)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)


def _mirrored():
    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus)


def _multi_worker():
    """MultiWorkerMirroredStrategy from the TF_CONFIG environment variable (all workers' GPUs)."""
    cluster = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if not cluster.cluster_spec().as_dict():
        raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable (the cluster's "
                         "workers and this process's task); see the multi-machine example in docs/usage.md.")
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=cluster)


STRATEGIES = {
    "default": tf.distribute.get_strategy,
    "mirrored": _mirrored,  # all local GPUs; on a CPU-only machine every logical CPU device
    "multi_worker": _multi_worker,
}


def is_chief(strategy):
    """True on the process that writes the run's files: the only one, or worker 0 (the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0
                                    and "chief" not in resolver.cluster_spec().as_dict())


def worker_id(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    return 0 if resolver is None else int(resolver.task_id or 0)


def make_strategy(name):
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Valid strategies: {', '.join(STRATEGIES)}.")
    return STRATEGIES[name]()


def set_threads(threads, log=print):
    """Sets TensorFlow's intra- and inter-op thread pools to `threads` (0: leave its defaults).

    Must run before TensorFlow executes anything; if it already has, a warning says so.
    """
    if threads <= 0:
        return
    current = (tf.config.threading.get_intra_op_parallelism_threads(),
               tf.config.threading.get_inter_op_parallelism_threads())
    if current == (threads, threads):
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        log(f"WARNING: --threads={threads} not applied: TensorFlow was initialised before the run "
            "started (set it before any TensorFlow op, as `python -m bkd_keras.train` does).")
        return
    log(f"TensorFlow threads: intra-op {threads}, inter-op {threads}")
