"""Losses of BKD and its baselines; per-example values (B,), reduced by the caller.

Paper notation: z_t / z_s teacher / student logits, T temperature, w class weights.
  CE:   -sum_c y_c log softmax(z_s)_c           (y may be soft, e.g. mixup targets)
  CB:   -sum_c w_c y_c log softmax(z_s)_c       (Cui et al. 2019 class-balanced CE)
  LA:   CE on z_s + tau log pi   (logit-adjusted loss, Menon et al. 2021; with tau = 1 and
        pi the training prior it equals balanced softmax, Ren et al. 2020)
  LDAM: CE on s (z_s - Delta_y),  Delta_c = C / n_c^(1/4), max Delta = 0.5 (Cao et al. 2019)
  KD:   T^2 KL(p || softmax(z_s / T)),  p = softmax(z_t / T)          (Hinton et al.)
  BKD:  T^2 KL(q || softmax(z_s / T)),  q = normalise(w * p)          (Zhang et al. 2023)
  Focal: -sum_c y_c (1 - p_c)^gamma log p_c,  p = softmax(z_s)       (Lin et al. 2017)
  RIDE: sum over experts e of LDAM(z_e) - lambda T^2 KL(softmax(z_bar / T) || softmax(z_e / T))
        (Wang et al. 2021; z_bar the experts' mean, T per class after the DRW switch)
Multi-expert students (models/ride_resnet.py) apply the other losses to every expert's
logits and sum them (`expert_losses.expert_sum`), as RIDE sums its experts' individual losses.

Reduction over the batch: the caller divides the sum of the per-example values by the global
batch size B, except for losses with `weighted_mean` (LDAM-DRW, RIDE: PyTorch's
F.cross_entropy(weight=w)), whose class-weighted CE is divided by the batch's sum of label
weights sum_i w_{y_i} instead (`batch_loss`). Which method uses which is said in methods.py.
"""

import keras
import numpy as np
from keras import ops


def effective_number_weights(class_counts, beta=0.9999, normalize=True):
    """Cui et al.'s effective-number weights w_i = (1 - beta) / (1 - beta ** n_i).

    Args:
      class_counts: (C,) training images per class, each >= 1.
      beta: in [0, 1]; 1 is the limit beta -> 1, inverse frequency 1 / n_i (the paper's
        "IF" in Fig. 6); 0 gives equal weights.
      normalize: scale so the weights sum to C (the reference's convention; BKD
        renormalises q, so the scale only matters for CB).
    Returns:
      float32 numpy array (C,).
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"class_counts must be a non-empty 1-D list, got shape {counts.shape}.")
    if np.any(counts < 1):
        raise ValueError(f"Every class needs at least one training image; counts {counts.astype(int).tolist()}.")
    check_beta(beta)
    if beta == 1.0:
        weights = 1.0 / counts
    elif beta == 0.0:
        weights = np.ones_like(counts)
    else:
        # -expm1(n log beta) == 1 - beta**n without cancellation for beta near 1.
        weights = (1.0 - beta) / -np.expm1(counts * np.log(beta))
    if normalize:
        weights = weights / weights.sum() * len(counts)
    return weights.astype(np.float32)


def _as_targets(y_true, num_classes):
    """Integer labels (B,) or soft targets (B, C) -> float32 (B, C)."""
    if len(y_true.shape) == 1 or (len(y_true.shape) == 2 and y_true.shape[-1] == 1 and num_classes != 1):
        return ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), num_classes)
    return ops.cast(y_true, "float32")


def soft_cross_entropy(y_true, logits, class_weights=None):
    """-sum_c w_c y_c log softmax(logits)_c per example, (B,); w = 1 if None."""
    logits = ops.cast(logits, "float32")
    targets = _as_targets(y_true, logits.shape[-1])
    if class_weights is not None:
        targets = targets * ops.cast(class_weights, "float32")
    return -ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1)


def label_weights(y_true, class_weights):
    """Each example's label weight sum_c w_c y_c, (B,) (w_{y_i} for hard labels; mixed for mixup)."""
    weights = ops.cast(class_weights, "float32")
    return ops.sum(_as_targets(y_true, weights.shape[-1]) * weights, axis=-1)


def log_prior(class_counts):
    """log pi_c = log(n_c / sum n), float32 (C,): the training label prior."""
    counts = np.asarray(class_counts, np.float64)
    if np.any(counts < 1):
        raise ValueError(f"Every class needs at least one training image; counts {counts.astype(int).tolist()}.")
    return np.log(counts / counts.sum()).astype(np.float32)


def ldam_margins(class_counts, max_margin=0.5):
    """LDAM's per-class margins Delta_c proportional to n_c^(-1/4), largest = max_margin, (C,)."""
    counts = np.asarray(class_counts, np.float64)
    if np.any(counts < 1):
        raise ValueError(f"Every class needs at least one training image; counts {counts.astype(int).tolist()}.")
    margins = counts ** -0.25
    return (margins * (max_margin / margins.max())).astype(np.float32)


def balanced_kd_loss(teacher_logits, student_logits, class_weights=None, temperature=2.0, teacher_power=1.0):
    """T^2 KL(q || softmax(z_s / T)) per example, (B,), with q = normalise(w * softmax(z_t / T) ** p).

    Computed in log space (log q = log_softmax(p z_t / T + log w)), so logits of any
    magnitude give finite values. `class_weights=None` is plain KD; `teacher_power` p < 1 is
    DiVE's power normalisation of the teacher's prediction (He et al. 2021: p = 0.5).
    """
    t = ops.cast(teacher_logits, "float32") / temperature
    if teacher_power != 1.0:
        t = t * teacher_power
    s = ops.cast(student_logits, "float32") / temperature
    if class_weights is not None:
        t = t + ops.log(ops.cast(class_weights, "float32"))
    log_q = ops.log_softmax(t, axis=-1)
    log_p_s = ops.log_softmax(s, axis=-1)
    return (temperature ** 2) * ops.sum(ops.exp(log_q) * (log_q - log_p_s), axis=-1)


def check_temperature(temperature):
    """The rule for T (its one home; the config check reuses it)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (the paper uses 2), got {temperature}.")


def check_beta(beta):
    """The rule for the effective-number beta (its one home; the config check reuses it)."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1] (the paper uses 0.9999; 1 = inverse frequency), got {beta}.")


def _floats(values):
    return None if values is None else [float(v) for v in np.ravel(values)]


@keras.saving.register_keras_serializable(package="bkd_keras")
class ClassificationLoss(keras.losses.Loss):
    """Per-example CE on hard or soft (mixup) targets, with the long-tail variants.

    loss(y, z) = -sum_c w_c^r y_c log softmax(scale * (z + logit_adjustment - margins * y))_c

    Args:
      class_weights: w (C,) or None (CB re-weighting; DRW when `reweight` starts at 0).
      logit_adjustment: (C,) added to the logits, e.g. tau * log prior (LA / balanced softmax).
      margins: (C,) LDAM margins subtracted from the target logit(s).
      scale: logit scale s (LDAM uses 30 on a cosine head).
      reweight: r in {0, 1}, a non-trainable variable switched by `DeferredReweighting`.
      weighted_mean: reduce over the batch by the sum of the label weights w_{y_i}^r instead of
        the batch size (`batch_loss`), as PyTorch's F.cross_entropy(weight=w) does.
      factor: multiplies the loss (DiVE's 1 - alpha).
    """

    def __init__(self, class_weights=None, logit_adjustment=None, margins=None, scale=1.0, reweight=1.0,
                 weighted_mean=False, factor=1.0, name="classification_loss", reduction=None, **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.factor = float(factor)
        self.class_weights = _floats(class_weights)
        self.logit_adjustment = _floats(logit_adjustment)
        self.margins = _floats(margins)
        self.scale = float(scale)
        self.weighted_mean = bool(weighted_mean) and class_weights is not None
        as_np = lambda v: None if v is None else np.asarray(v, np.float32)
        self._log_weights = None if class_weights is None else np.log(as_np(self.class_weights))
        self._adjust, self._margins = as_np(self.logit_adjustment), as_np(self.margins)
        self.reweight = keras.Variable(float(reweight), trainable=False, dtype="float32", name="ce_reweight")

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        if self._adjust is not None:
            logits = logits + self._adjust
        if self._margins is not None:
            logits = logits - self._margins * _as_targets(y_true, logits.shape[-1])
        if self.scale != 1.0:
            logits = logits * self.scale
        loss = soft_cross_entropy(y_true, logits, self._weights())
        return loss * self.factor if self.factor != 1.0 else loss

    def _weights(self):
        return None if self._log_weights is None else ops.exp(self.reweight * self._log_weights)

    def batch_loss(self, y_true, expert_logits, global_sum):
        """(this loss's share of the step's loss, per-example values (B,)) for experts' logits (B, E, C):
        the per-example values summed over the global batch, divided by the global sum of label
        weights sum_i w_{y_i}^r (`weighted_mean`; before a deferred switch r = 0 makes that B)."""
        from bkd_keras.method.expert_losses import expert_sum   # imports this module: import here
        per_example = expert_sum(self, y_true, expert_logits)
        weights = self._weights() if self.weighted_mean else ops.ones((expert_logits.shape[-1],))
        return ops.sum(per_example) / global_sum(ops.sum(label_weights(y_true, weights))), per_example

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights,
                "logit_adjustment": self.logit_adjustment, "margins": self.margins, "scale": self.scale,
                "reweight": float(ops.convert_to_numpy(self.reweight)), "weighted_mean": self.weighted_mean,
                "factor": self.factor}


@keras.saving.register_keras_serializable(package="bkd_keras")
class FocalLoss(keras.losses.Loss):
    """Focal loss per example, (B,): -sum_c y_c (1 - p_c)^gamma log p_c with p = softmax(z).

    On one-hot labels this is the LDAM-DRW code's (1 - p_y)^gamma * CE; soft (mixup) targets
    weight each class's term by its own (1 - p_c)^gamma. gamma = 0 is plain CE.
    """

    def __init__(self, gamma=1.0, name="focal_loss", reduction=None, **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}.")
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        log_p = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        targets = _as_targets(y_true, log_p.shape[-1])
        modulation = ops.power(1.0 - ops.exp(log_p), self.gamma)
        return -ops.sum(targets * modulation * log_p, axis=-1)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="bkd_keras")
class BalancedKDLoss(keras.losses.Loss):
    """Distillation term: KD, or BKD when `class_weights` is given.

    Called as loss(teacher_logits, student_logits) -> (B,), times `factor` (DiVE's alpha), with the
    teacher's prediction raised to `teacher_power` (DiVE's power normalisation). The weights are applied
    with strength `reweight` in {0, 1} (a non-trainable variable): q uses w ** reweight,
    so setting it from 0 to 1 switches KD to BKD without retracing (deferred BKD).
    Build under the distribution strategy's scope.
    """

    def __init__(self, class_weights=None, temperature=2.0, reweight=1.0, teacher_power=1.0, factor=1.0,
                 name="distillation_loss", reduction=None, **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        check_temperature(temperature)
        self.teacher_power = float(teacher_power)
        self.factor = float(factor)
        self.temperature = float(temperature)
        self.class_weights = _floats(class_weights)
        self._log_weights = None if class_weights is None else np.log(np.asarray(self.class_weights, np.float32))
        self.reweight = keras.Variable(float(reweight), trainable=False, dtype="float32", name="kd_reweight")

    def call(self, y_true, y_pred):
        weights = None
        if self._log_weights is not None:
            weights = ops.exp(self.reweight * self._log_weights)
        loss = balanced_kd_loss(y_true, y_pred, weights, self.temperature, self.teacher_power)
        return loss * self.factor if self.factor != 1.0 else loss

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights,
                "temperature": self.temperature, "reweight": float(ops.convert_to_numpy(self.reweight)),
                "teacher_power": self.teacher_power, "factor": self.factor}
