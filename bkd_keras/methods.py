"""Method registry: how each named method builds its losses from the class counts."""

import dataclasses

from bkd_keras import losses as losses_lib


@dataclasses.dataclass(frozen=True)
class Method:
    """One training method.

    classification: "ce" or "cb" (effective-number weighted CE).
    distillation: None (no teacher), "kd" (w = 1) or "bkd" (effective-number w).
    mixup: whether the method uses `mixup_alpha` (else mixup is off).
    deferred: whether BKD's weights switch on at `bkd_start_epoch` (plain KD before).
    """
    description: str
    classification: str = "ce"
    distillation: str = None
    mixup: bool = False
    deferred: bool = False

    @property
    def needs_teacher(self):
        return self.distillation is not None


METHODS = {
    "ce": Method("plain cross-entropy (the teacher recipe)"),
    "cb": Method("class-balanced CE with effective-number weights (Cui et al. 2019)", classification="cb"),
    "mixup": Method("CE with mixup", mixup=True),
    "kd": Method("plain knowledge distillation from the CE teacher", distillation="kd"),
    "kd_mixup": Method("plain KD with mixup", distillation="kd", mixup=True),
    "weighted_kd": Method("BKD without mixup", distillation="bkd", deferred=True),
    "bkd": Method("Balanced Knowledge Distillation: CE + class-balanced KD, with mixup",
                  distillation="bkd", mixup=True, deferred=True),
}


def get_method(name):
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}. Valid methods: {', '.join(sorted(METHODS))}.")
    return METHODS[name]


def build_losses(method, class_counts, beta=0.9999, temperature=2.0, bkd_start_epoch=0):
    """(classification_loss, distillation_loss or None) for `method` (a Method).

    Deferred BKD starts with reweight 0 (plain KD) when bkd_start_epoch > 0; the
    `DeferredReweighting` callback switches it on.
    """
    weights = losses_lib.effective_number_weights(class_counts, beta)
    classification = losses_lib.ClassificationLoss(weights if method.classification == "cb" else None)
    if method.distillation is None:
        return classification, None
    if method.distillation == "kd":
        return classification, losses_lib.BalancedKDLoss(None, temperature)
    start_on = not (method.deferred and bkd_start_epoch > 0)
    return classification, losses_lib.BalancedKDLoss(weights, temperature, reweight=1.0 if start_on else 0.0)
