"""Inference-only copies of a frozen model: BatchNorm folded into the convolution before it.

The frozen teacher of the student stage only ever runs in inference mode, where
BatchNormalization is the per-channel affine map  y = gamma (x - mean) / sqrt(var + eps) + beta.
After a convolution (or dense layer) that is the same as scaling its kernel's output
channels and adding a bias, so the copy skips one full pass over every activation map.
"""

import keras
import numpy as np

_FOLDABLE = (keras.layers.Conv2D, keras.layers.Dense)


@keras.saving.register_keras_serializable(package="bkd_keras")
class FoldedBatchNorm(keras.layers.Layer):
    """Stands where a folded BatchNormalization was: passes its input through (same call signature)."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def _producer(layer):
    """The layer whose output `layer` reads, if it reads exactly one tensor, else None."""
    if len(layer._inbound_nodes) != 1:
        return None
    inputs = layer._inbound_nodes[0].input_tensors
    if len(inputs) != 1:
        return None
    return inputs[0]._keras_history.operation


def foldable_pairs(model):
    """{BatchNormalization layer name: the Conv2D / Dense layer it directly follows}, for the
    pairs whose convolution feeds only that BatchNormalization (axis -1)."""
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or layer.axis not in (-1, len(layer.input.shape) - 1):
            continue
        producer = _producer(layer)
        if isinstance(producer, _FOLDABLE) and len(producer._outbound_nodes) == 1 and \
                len(producer._inbound_nodes) == 1 and producer.get_config().get("activation") in (None, "linear"):
            pairs[layer.name] = producer
    return pairs


def fold_batchnorm(model):
    """A copy of functional `model` for inference only, with foldable BatchNormalization layers
    merged into the convolution before them (replaced by FoldedBatchNorm); other layers and weights are
    copied. Logits equal the original's in inference mode up to float rounding."""
    pairs = foldable_pairs(model)
    if not pairs:
        return model
    convs = {conv.name: bn_name for bn_name, conv in pairs.items()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in pairs:
            return FoldedBatchNorm(name=layer.name, dtype=layer.dtype_policy)
        if layer.name in convs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        target = copy.get_layer(layer.name)
        if layer.name in pairs:
            continue
        if layer.name not in convs:
            target.set_weights(layer.get_weights())
            continue
        bn = model.get_layer(convs[layer.name])
        kernel = np.asarray(layer.kernel)
        bias = np.asarray(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
        gamma = np.asarray(bn.gamma) if bn.scale else np.ones_like(bias)
        beta = np.asarray(bn.beta) if bn.center else np.zeros_like(bias)
        scale = gamma / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
        target.set_weights([(kernel * scale).astype(np.float32),
                            ((bias - np.asarray(bn.moving_mean)) * scale + beta).astype(np.float32)])
    copy.trainable = False
    return copy
