"""Classifier heads."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bkd_keras")
class CosineDense(keras.layers.Layer):
    """Cosine-similarity head (LDAM's NormedLinear): (B, D) -> (B, units) in [-1, 1].

    out = normalize(x) @ normalize(W, over D); the scale is applied by the loss.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                      initializer=keras.initializers.RandomUniform(-1.0, 1.0))

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        kernel = ops.cast(self.kernel, self.compute_dtype)
        return ops.matmul(_l2_normalize(x, 1), _l2_normalize(kernel, 0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _l2_normalize(x, axis, epsilon=1e-12):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), epsilon))


def classifier(features, num_classes, head="linear", kernel_initializer="glorot_uniform",
               bias_initializer="zeros", kernel_constraint=None, name="logits"):
    """The logits layer (float32 under mixed precision): a dense or a cosine head."""
    if head == "linear":
        return keras.layers.Dense(num_classes, kernel_initializer=kernel_initializer,
                                  bias_initializer=bias_initializer, kernel_constraint=kernel_constraint,
                                  dtype="float32", name=name)(features)
    if head == "cosine":
        return CosineDense(num_classes, dtype="float32", name=name)(features)
    raise ValueError(f"Unknown head {head!r}; valid: linear, cosine.")
