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


STRATEGIES = {
    "default": tf.distribute.get_strategy,
    "mirrored": _mirrored,  # all local GPUs; on a CPU-only machine every logical CPU device
}


def make_strategy(name):
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Valid strategies: {', '.join(STRATEGIES)}.")
    return STRATEGIES[name]()
