import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import bkd_keras  # noqa: E402,F401  (first: it picks TensorFlow's CPU kernels before TF loads)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices for the MirroredStrategy test; must happen before any op runs.
# Everything else uses the default strategy (device /cpu:0).
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def write_image_tree(root, classes, per_class, split_sizes=None, size=(8, 8), fmt="png"):
    """Writes root/{train,test}/<class>/<i>.<fmt> with random pixels; returns root."""
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for c, name in enumerate(classes):
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            count = per_class[c] if split == "train" else (split_sizes or 3)
            for i in range(count):
                pixels = rng.integers(0, 256, size + (3,), dtype=np.uint8)
                data = tf.io.encode_png(pixels) if fmt == "png" else tf.io.encode_jpeg(pixels)
                tf.io.write_file(os.path.join(folder, f"{i}.{fmt}"), data)
    return root


def small_config(tmp_path, **overrides):
    """A 1-epoch digits TrainConfig writing under tmp_path (fast; for runner-level tests)."""
    from bkd_keras.run.config import TrainConfig
    values = dict(dataset="digits", backbone="small_cnn", epochs=1, batch_size=32, imbalance_ratio=20.0,
                  eval_every=0, verbose=0, output_dir=str(tmp_path / "run"))
    values.update(overrides)
    return TrainConfig.flat(**values)


def trained_like(model, seed=0):
    """Sets every BatchNorm's statistics and affine parameters away from their initial values."""
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.2, c),
                               rng.uniform(0.5, 2.0, c)])
    return model
