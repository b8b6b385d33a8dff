"""BatchNormalization for the CNN backbones: Keras' layer, computed by TensorFlow's fused kernel.

Keras 3's BatchNormalization computes training-mode statistics with `moments` and then
normalises with `tf.nn.batch_normalization`: about ten element-wise ops forward and more
backward, each a full pass over the activations. TensorFlow's `FusedBatchNormV3` does the
forward in one op and the backward in one op (oneDNN's fused primitive on CPU, cuDNN's on
GPU); on a 2-core CPU it makes a ResNet-32 training step about 1.25x faster
(`python -m benchmarks.speed_lab.speed --configs=...keras_bn...`, docs/performance.md).

The math is Keras' own: batch mean and biased batch variance in training, moving averages
with Keras' `momentum`, the moving statistics at inference. Weights, config and checkpoints
are those of `keras.layers.BatchNormalization`. Where the fused kernel does not apply
(another backend, not 4-D channels-last, a mask, renorm, synchronized statistics) the layer
runs Keras' own code.
"""

import keras

BATCH_NORMS = ("fused", "keras")   # --batch_norm choices; "keras": Keras' own layer, for comparison


@keras.saving.register_keras_serializable(package="bkd_keras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` on TensorFlow's fused kernel. Input (B, H, W, C) -> same."""

    def _fusable(self, inputs, mask):
        return (keras.backend.backend() == "tensorflow" and mask is None and not self.renorm
                and not self.synchronized and len(inputs.shape) == 4 and self.axis in (-1, 3))

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = inputs if inputs.dtype in (tf.float32, tf.bfloat16, tf.float16) else tf.cast(inputs, tf.float32)
        channels = x.shape[-1]
        # The kernel keeps its statistics and affine parameters in float32 for any input dtype.
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32)
        if training and self.trainable:
            y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon,
                                                                 is_training=True)
            # The kernel returns the Bessel-corrected variance; Keras averages the biased one.
            count = tf.cast(tf.size(x) // channels, tf.float32)
            variance = unbiased * (count - 1.0) / count
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon, is_training=False)
        return tf.cast(y, self.compute_dtype)


def batch_norm(kind="fused", **kwargs):
    """A BatchNormalization layer of `kind` (one of BATCH_NORMS); `kwargs` go to the layer."""
    if kind == "fused":
        return FusedBatchNormalization(**kwargs)
    if kind == "keras":
        return keras.layers.BatchNormalization(**kwargs)
    raise ValueError(f"Unknown --batch_norm={kind!r}. Valid values: {', '.join(BATCH_NORMS)}.")
