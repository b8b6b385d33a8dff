"""ResNet-32 for 32x32 inputs, as in LDAM-DRW / BKD (He et al. 2016, CIFAR variant).

3x3 conv-16 stem, three stages of basic blocks (16/32/64 channels, strides 1/2/2),
"option A" shortcuts (parameter-free: subsample + zero channel padding), global
average pooling and a dense head. Kaiming-normal fan-in init, no conv bias,
BatchNorm momentum 0.9 / epsilon 1e-5 (PyTorch momentum 0.1).
"""

import math

import keras
from keras import layers, ops

from models import batch_norm as bn_lib
from models.heads import classifier

_BN = dict(momentum=0.9, epsilon=1e-5)


def _he_normal():
    # PyTorch kaiming_normal_ (fan_in, gain sqrt(2)) is untruncated.
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


@keras.saving.register_keras_serializable(package="bkd_keras")
class OptionAShortcut(layers.Layer):
    """Parameter-free shortcut: `x[:, ::s, ::s, :]`, then zero-pad channels.

    Input (B, H, W, C) -> (B, ceil(H/s), ceil(W/s), out_channels); the extra
    channels are split evenly before and after, as in the reference.
    """

    def __init__(self, out_channels, stride=2, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = int(out_channels)
        self.stride = int(stride)

    def call(self, x):
        x = x[:, :: self.stride, :: self.stride, :]
        extra = self.out_channels - x.shape[-1]
        if extra < 0:
            raise ValueError(f"OptionAShortcut cannot reduce channels {x.shape[-1]} -> {self.out_channels}.")
        before = extra // 2
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, extra - before]])

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        sub = lambda d: None if d is None else math.ceil(d / self.stride)
        return (b, sub(h), sub(w), self.out_channels)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels, "stride": self.stride}


def _conv3x3(x, filters, stride, name):
    if stride > 1:
        # PyTorch pads (1, 1) on both sides; Keras "same" with stride 2 pads (0, 1),
        # which would shift the sampling grid against the option-A shortcut.
        x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(filters, 3, strides=stride, padding=padding, use_bias=False,
                         kernel_initializer=_he_normal(), name=name)(x)


def _stem_bn(x, bn):
    return bn_lib.batch_norm(bn, **_BN, name="stem_bn")(x)


def _basic_block(x, filters, stride, name, bn="fused"):
    shortcut = x
    y = _conv3x3(x, filters, stride, f"{name}_conv1")
    y = bn_lib.batch_norm(bn, **_BN, name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv3x3(y, filters, 1, f"{name}_conv2")
    y = bn_lib.batch_norm(bn, **_BN, name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = OptionAShortcut(filters, stride, name=f"{name}_shortcut")(x)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def resnet_cifar(num_classes, input_shape=(32, 32, 3), depth=32, widths=(16, 32, 64), head="linear", name=None,
                 batch_norm="fused"):
    """CIFAR ResNet of `depth` = 6n + 2 layers; returns logits (B, num_classes).

    Args:
      num_classes: size of the dense head.
      input_shape: (H, W, C) of normalised float images.
      depth: 20, 32, 44, 56, 110, ... (ResNet-32 has n = 5 blocks per stage).
      head: "linear" (dense, the default) or "cosine" (LDAM's normalised head).
      batch_norm: "fused" or "keras" (models/batch_norm.py).
    """
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (20, 32, 44, 56, 110), got {depth}.")
    blocks = (depth - 2) // 6
    inputs = keras.Input(shape=input_shape, name="images")
    x = _conv3x3(inputs, widths[0], 1, "stem_conv")
    x = _stem_bn(x, batch_norm)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if (stage > 0 and block == 0) else 1
            x = _basic_block(x, width, stride, f"stage{stage + 1}_block{block + 1}", batch_norm)
    features = layers.GlobalAveragePooling2D(name="features")(x)
    bound = 1.0 / math.sqrt(widths[-1])  # PyTorch nn.Linear default bias init
    logits = classifier(features, num_classes, head, kernel_initializer=_he_normal(),
                        bias_initializer=keras.initializers.RandomUniform(-bound, bound))
    return keras.Model(inputs, logits, name=name or f"resnet{depth}")
