"""ResNets for 224x224 images: ResNet-10 and ResNeXt-50 (32x4d) built here, ResNet-50 / ResNet-152
from `keras.applications` (so ImageNet-pretrained weights load, as the paper does for Places-LT).

All take normalised float images (B, H, W, 3) and end in a global-average-pooled "features"
layer and a float32 head, like the CIFAR ResNet.
"""

import os

import keras
from keras import layers

from models import batch_norm as bn_lib
from models.heads import classifier

_BN = dict(momentum=0.9, epsilon=1e-5)


def _conv_bn(x, filters, kernel, stride, name, groups=1, relu=True, bn="fused"):
    if stride > 1 and kernel > 1:
        # Symmetric padding as in PyTorch / the reference ImageNet-LT code.
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, groups=groups, use_bias=False,
                      kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"),
                      name=f"{name}_conv")(x)
    x = bn_lib.batch_norm(bn, **_BN, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _shortcut(x, filters, stride, name, bn):
    if stride == 1 and x.shape[-1] == filters:
        return x
    return _conv_bn(x, filters, 1, stride, f"{name}_down", relu=False, bn=bn)


def _basic(x, filters, stride, name, bn, **_):
    out = _conv_bn(x, filters, 3, stride, f"{name}_a", bn=bn)
    out = _conv_bn(out, filters, 3, 1, f"{name}_b", relu=False, bn=bn)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([out, _shortcut(x, filters, stride, name, bn)]))


def _bottleneck(x, filters, stride, name, bn, groups=1, width_per_group=64):
    width = int(filters * width_per_group / 64) * groups
    out = _conv_bn(x, width, 1, 1, f"{name}_a", bn=bn)
    out = _conv_bn(out, width, 3, stride, f"{name}_b", groups=groups, bn=bn)
    out = _conv_bn(out, filters * 4, 1, 1, f"{name}_c", relu=False, bn=bn)
    return layers.ReLU(name=f"{name}_out")(
        layers.Add(name=f"{name}_add")([out, _shortcut(x, filters * 4, stride, name, bn)]))


def resnet_224(num_classes, input_shape=(224, 224, 3), blocks=(1, 1, 1, 1), block="basic", groups=1,
               width_per_group=64, head="linear", name="resnet10", batch_norm="fused"):
    """7x7/2 stem + 3x3/2 max-pool, four stages (64/128/256/512 x expansion), pool, head."""
    unit = {"basic": _basic, "bottleneck": _bottleneck}[block]
    inputs = keras.Input(shape=input_shape, name="images")
    x = _conv_bn(inputs, 64, 7, 2, "stem", bn=batch_norm)
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = layers.MaxPooling2D(3, 2, name="stem_pool")(x)
    for stage, (count, filters) in enumerate(zip(blocks, (64, 128, 256, 512)), 1):
        for i in range(count):
            x = unit(x, filters, 2 if (i == 0 and stage > 1) else 1, f"stage{stage}_block{i + 1}", batch_norm,
                     groups=groups, width_per_group=width_per_group)
    features = layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, classifier(features, num_classes, head), name=name)


def resnet10(num_classes, input_shape=(224, 224, 3), head="linear", name="resnet10", batch_norm="fused", **_):
    """ResNet-10 (basic blocks 1-1-1-1), the ImageNet-LT baseline of Liu et al. 2019."""
    return resnet_224(num_classes, input_shape, (1, 1, 1, 1), "basic", head=head, name=name, batch_norm=batch_norm)


def resnext50(num_classes, input_shape=(224, 224, 3), head="linear", name="resnext50", batch_norm="fused", **_):
    """ResNeXt-50 32x4d (bottlenecks 3-4-6-3, 32 groups of width 4)."""
    return resnet_224(num_classes, input_shape, (3, 4, 6, 3), "bottleneck", groups=32, width_per_group=4,
                      head=head, name=name, batch_norm=batch_norm)


def _applications(constructor, num_classes, input_shape, head, name, weights=None):
    """A keras.applications ResNet body + our head. `weights`: None, "imagenet" (Keras'
    cache, downloaded once when online) or a local .h5 file of the body without top."""
    if weights not in (None, "imagenet") and not os.path.isfile(weights):
        raise ValueError(f"Pretrained weights {weights!r}: not a file; pass a local .h5 of "
                         f"{constructor.__name__} without its top, or 'imagenet'.")
    inputs = keras.Input(shape=input_shape, name="images")
    body = constructor(include_top=False, weights=weights, input_shape=input_shape, pooling=None)
    features = layers.GlobalAveragePooling2D(name="features")(body(inputs))
    return keras.Model(inputs, classifier(features, num_classes, head), name=name)


def resnet50(num_classes, input_shape=(224, 224, 3), head="linear", name="resnet50", pretrained=None, **_):
    return _applications(keras.applications.ResNet50, num_classes, input_shape, head, name, pretrained)


def resnet152(num_classes, input_shape=(224, 224, 3), head="linear", name="resnet152", pretrained=None, **_):
    return _applications(keras.applications.ResNet152, num_classes, input_shape, head, name, pretrained)
