"""Multi-expert ResNet-32 for 32x32 inputs, after RIDE's CIFAR model (Wang et al., ICLR 2021).

The stem and the first stage (16 channels) are shared; each expert has its own second and
third stage at RIDE's reduced widths (24 and 48 instead of 32 and 64), global pooling and
head. The model's output is the mean of the experts' logits; the experts' own logits are the
output of the layer named EXPERT_LAYER, (B, experts, C).
"""

import math

import keras
from keras import layers, ops

from models.heads import classifier
from models.resnet_cifar import _basic_block, _conv3x3, _he_normal, _stem_bn

EXPERT_LAYER = "expert_logits"


@keras.saving.register_keras_serializable(package="bkd_keras")
class StackExperts(layers.Layer):
    """E tensors (B, C) -> (B, E, C)."""

    def call(self, inputs):
        return ops.stack(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(input_shape), input_shape[0][-1])


@keras.saving.register_keras_serializable(package="bkd_keras")
class MeanOverExperts(layers.Layer):
    """(B, E, C) -> (B, C): the ensemble's logits (RIDE averages the experts' logits)."""

    def call(self, inputs):
        return ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def ride_resnet32(num_classes, input_shape=(32, 32, 3), experts=3, widths=(16, 24, 48), blocks=5, head="linear",
                  name="ride_resnet32", batch_norm="fused"):
    """RIDE's multi-expert ResNet-32: logits (B, num_classes), the mean of `experts` experts.

    Args:
      experts: number of experts (RIDE reports 2, 3, 4).
      widths: channels of the shared first stage and of each expert's second and third
        stages (RIDE's `reduce_dimension`: 16, 24, 48).
      head: each expert's head, "linear" or "cosine" (RIDE's NormedLinear; the loss scales it).
      batch_norm: "fused" or "keras" (models/batch_norm.py).
    """
    if experts < 1:
        raise ValueError(f"--experts must be >= 1, got {experts}.")
    inputs = keras.Input(shape=input_shape, name="images")
    x = _conv3x3(inputs, widths[0], 1, "stem_conv")
    x = _stem_bn(x, batch_norm)
    x = layers.ReLU(name="stem_relu")(x)
    for block in range(blocks):
        x = _basic_block(x, widths[0], 1, f"stage1_block{block + 1}", batch_norm)
    shared = x
    bound = 1.0 / math.sqrt(widths[-1])
    outputs = []
    for e in range(experts):
        y = shared
        for stage, width in enumerate(widths[1:], 2):
            for block in range(blocks):
                y = _basic_block(y, width, 2 if block == 0 else 1, f"expert{e}_stage{stage}_block{block + 1}",
                                 batch_norm)
        features = layers.GlobalAveragePooling2D(name=f"expert{e}_features")(y)
        outputs.append(classifier(features, num_classes, head, kernel_initializer=_he_normal(),
                                  bias_initializer=keras.initializers.RandomUniform(-bound, bound),
                                  name=f"expert{e}_logits"))
    stacked = StackExperts(name=EXPERT_LAYER, dtype="float32")(outputs)
    return keras.Model(inputs, MeanOverExperts(name="logits", dtype="float32")(stacked), name=name)


def expert_view(model):
    """A model sharing `model`'s layers that returns the experts' logits (B, E, C), or None
    if `model` has no experts."""
    try:
        layer = model.get_layer(EXPERT_LAYER)
    except ValueError:
        return None
    return keras.Model(model.inputs, layer.output, name=f"{model.name}_experts")
