"""BKD inside Keras' own distillation API (`keras.distillation`, Keras 3.12+).

    loss = BalancedLogitsDistillation(class_counts=data.class_counts, beta=0.9999, temperature=2.0)
    distiller = keras.distillation.Distiller(teacher=teacher, student=student,
                                             distillation_losses=loss, student_loss_weight=0.5)
    distiller.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    distiller.fit(keras_mixup(train_dataset(data, 128, repeat=True, mixup_alpha=1.0), data.num_classes),
                  callbacks=[DeferredReweighting(start_epoch, [loss.reweight])], ...)

Keras' Distiller minimises a convex mix, student_loss_weight x CE + (1 - student_loss_weight) x
distillation; at 0.5 that is half the paper's CE + 1 x BKD (same direction, half the step).
"""

import keras
from keras import ops

from bkd_keras.method.losses import BalancedKDLoss, effective_number_weights
from bkd_keras.method.mixup import mix_batch, unpack_draws


@keras.saving.register_keras_serializable(package="bkd_keras")
class BalancedLogitsDistillation(keras.distillation.DistillationLoss):
    """The paper's class-balanced distillation term L_BKD as a `keras.distillation.DistillationLoss`:
    the batch mean of T^2 KL(q || softmax(z_s / T)), q = normalise(w * softmax(z_t / T)), a scalar.

    Weights: `class_weights` (C,), or effective-number weights of `class_counts` (C,) with `beta`
    (Cui et al. 2019, normalised to sum to C). `reweight` (a non-trainable variable, 0 or 1) applies
    them as w ** reweight: 0 is plain KD, 1 is BKD. The `DeferredReweighting` callback sets it at every
    epoch start (deferred BKD), so changing it never retraces the step. Keras' checkpoints do not
    hold it (the loss is not a layer of the Distiller); `get_config` records its current value, and
    the callback sets it again on a resumed fit. Build it under the strategy's scope.
    """

    def __init__(self, class_counts=None, beta=0.9999, temperature=2.0, class_weights=None, reweight=1.0):
        if (class_counts is None) == (class_weights is None):
            raise ValueError("BalancedLogitsDistillation needs exactly one of class_counts (the training "
                             "images per class) or class_weights.")
        if class_weights is None:
            class_weights = effective_number_weights(class_counts, beta)
        # The project's BKD term computes it; this class adapts it to Keras' API.
        self._term = BalancedKDLoss(class_weights, temperature, reweight=reweight)
        self.class_weights = self._term.class_weights
        self.beta = float(beta)
        self.temperature = self._term.temperature
        self.reweight = self._term.reweight

    def validate_outputs(self, teacher_outputs, student_outputs):
        super().validate_outputs(teacher_outputs, student_outputs)
        if teacher_outputs.shape[-1] != len(self.class_weights):
            raise ValueError(f"The teacher predicts {teacher_outputs.shape[-1]} classes but BalancedLogitsDistillation "
                             f"has {len(self.class_weights)} class weights; build it from this data's class counts.")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return ops.mean(self._term.call(teacher_outputs, student_outputs))

    def get_config(self):
        return {"class_weights": self.class_weights, "beta": self.beta, "temperature": self.temperature,
                "reweight": float(ops.convert_to_numpy(self.reweight))}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def keras_mixup(batches, num_classes):
    """The project's (images, labels, mixup draws) batches (`train_dataset(..., mixup_alpha=a)`) as
    (mixed images (B, H, W, C), mixed one-hot targets (B, C)) for `keras.distillation.Distiller`:
    the mixing the project's Distiller does inside its step, done in tf.data."""
    import tensorflow as tf

    def mix(images, labels, draws):
        lam, permutation = unpack_draws(draws)
        return mix_batch(images, tf.one_hot(labels, num_classes), lam, permutation)
    return batches.map(mix, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
