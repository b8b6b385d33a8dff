"""Losses of multi-expert models (RIDE's backbone): each expert's classification and
distillation terms, and RIDE's own distribution-aware diversity loss."""

import keras
import numpy as np
from keras import ops

from bkd_keras.method.losses import _as_targets, _floats, check_temperature, soft_cross_entropy


def expert_sum(loss, y_true, expert_logits):
    """sum_e loss(y_true, expert_logits[:, e]) per example, (B,); expert_logits (B, E, C).

    A loss with `takes_experts` (RIDELoss) gets all the experts at once instead.
    """
    if getattr(loss, "takes_experts", False):
        return loss(y_true, expert_logits)
    return sum(loss(y_true, expert_logits[:, e]) for e in range(expert_logits.shape[1]))


def expert_distillation(loss, teacher_logits, expert_logits):
    """sum_e loss(teacher target of expert e, expert_logits[:, e]), (B,).

    `teacher_logits`: the teacher's ensemble logits (B, C), the same target for every
    expert; or its experts' logits (B, E, C), expert e distilling from teacher expert e.
    """
    experts = expert_logits.shape[1]
    if len(teacher_logits.shape) == 3:
        return sum(loss(teacher_logits[:, e], expert_logits[:, e]) for e in range(experts))
    return sum(loss(teacher_logits, expert_logits[:, e]) for e in range(experts))


@keras.saving.register_keras_serializable(package="bkd_keras")
class RIDELoss(keras.losses.Loss):
    """RIDE's distribution-aware diversity loss over a multi-expert model, per example (B,).

    Called as loss(y, expert_outputs (B, E, C)), the experts' cosine-head outputs. With
    z_e = scale * outputs[:, e] and z_bar the mean over experts:

      sum_e [ CE(y, z_e - scale * Delta * y; w^r)                      (LDAM-DRW per expert)
              - diversity * mean(T)^2 * KL(softmax(z_bar / T) || softmax(z_e / T)) ]

    with LDAM margins Delta (C,), effective-number weights w (C,) switched on by `reweight`
    r in {0, 1} (DRW), and T = temperature * v^r per class, v = C * reweight_factor * n_c / n
    + 1 - reweight_factor normalised to max 1 (RIDE: more frequent classes get a higher
    temperature after the switch). z_bar's distribution is a fixed target (no gradient).
    RIDE's defaults: diversity 0.2, temperature 1, reweight_factor 0.05, margins up to 0.5,
    scale 30. Reduced as RIDE's model/loss.py does (`batch_loss`): each expert's weighted CE
    over the batch's sum of label weights sum_i w_{y_i}^r (F.cross_entropy(weight=w)), the
    diversity KL over the batch size (F.kl_div(reduction='batchmean')).
    """

    takes_experts = True
    weighted_mean = True

    def __init__(self, class_weights, margins, diversity_weights, scale=30.0, diversity=0.2, temperature=1.0,
                 reweight=1.0, name="ride_loss", reduction=None, **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        check_temperature(temperature)
        self.class_weights = _floats(class_weights)
        self.margins = _floats(margins)
        self.diversity_weights = _floats(diversity_weights)
        self.scale, self.diversity, self.temperature = float(scale), float(diversity), float(temperature)
        self._log_weights = np.log(np.asarray(self.class_weights, np.float32))
        self._log_diversity = np.log(np.asarray(self.diversity_weights, np.float32))
        self._margins = np.asarray(self.margins, np.float32)
        self.reweight = keras.Variable(float(reweight), trainable=False, dtype="float32", name="ce_reweight")

    def _parts(self, y_true, y_pred):
        """(experts' weighted LDAM CE, experts' diversity term, label weights), each (B,), summed over experts."""
        z = ops.cast(y_pred, "float32") * self.scale
        targets = _as_targets(y_true, z.shape[-1])
        weights = ops.exp(self.reweight * self._log_weights)
        temperature = self.temperature * ops.exp(self.reweight * self._log_diversity)
        mean_t2 = ops.square(ops.mean(temperature))
        log_target = ops.stop_gradient(ops.log_softmax(ops.mean(z, axis=1) / temperature, axis=-1))
        ldam, diversity = 0.0, 0.0
        for e in range(z.shape[1]):
            z_e = z[:, e]
            ldam = ldam + soft_cross_entropy(targets, z_e - self.scale * self._margins * targets, weights)
            log_p = ops.log_softmax(z_e / temperature, axis=-1)
            kl = ops.sum(ops.exp(log_target) * (log_target - log_p), axis=-1)
            diversity = diversity - self.diversity * mean_t2 * kl
        return ldam, diversity, ops.sum(targets * weights, axis=-1)

    def call(self, y_true, y_pred):
        ldam, diversity, _ = self._parts(y_true, y_pred)
        return ldam + diversity

    def batch_loss(self, y_true, expert_logits, global_sum):
        """(this loss's share of the step's loss, per-example values (B,)): the CE part over the global
        sum of label weights, the diversity part over the global batch size."""
        ldam, diversity, label_weight = self._parts(y_true, expert_logits)
        batch = ops.cast(ops.shape(label_weight)[0], "float32")
        share = ops.sum(ldam) / global_sum(ops.sum(label_weight)) + ops.sum(diversity) / global_sum(batch)
        return share, ldam + diversity

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights, "margins": self.margins,
                "diversity_weights": self.diversity_weights, "scale": self.scale, "diversity": self.diversity,
                "temperature": self.temperature, "reweight": float(ops.convert_to_numpy(self.reweight))}


def ride_diversity_weights(class_counts, reweight_factor=0.05):
    """RIDE's per-class diversity-temperature factors v (C,): C * f * prior + 1 - f, max 1."""
    counts = np.asarray(class_counts, np.float64)
    v = len(counts) * reweight_factor * counts / counts.sum() + 1.0 - reweight_factor
    v = v / v.max()
    if not np.all(v > 0):
        raise ValueError(f"reweight_factor {reweight_factor} is too large: a diversity temperature is <= 0.")
    return v
