"""A small CNN for tiny images (the offline 8x8 digits default, smoke tests)."""

import keras
from keras import layers

from models import batch_norm as bn_lib
from models.heads import classifier


def small_cnn(num_classes, input_shape=(8, 8, 1), widths=(32, 64, 128), head="linear", name="small_cnn",
              batch_norm="fused"):
    """Conv-BN-ReLU x3 (the second and third with stride 2), global pool, dense.

    Input (B, H, W, C) normalised floats -> logits (B, num_classes). `batch_norm`: "fused" or
    "keras" (models/batch_norm.py).
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for i, width in enumerate(widths):
        x = layers.Conv2D(width, 3, strides=1 if i == 0 else 2, padding="same", use_bias=False,
                          kernel_initializer="he_normal", name=f"conv{i + 1}")(x)
        x = bn_lib.batch_norm(batch_norm, momentum=0.9, epsilon=1e-5, name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
    features = layers.GlobalAveragePooling2D(name="features")(x)
    logits = classifier(features, num_classes, head)
    return keras.Model(inputs, logits, name=name)
