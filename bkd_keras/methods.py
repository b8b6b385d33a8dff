"""Method registry: how each named method builds its losses from the class counts."""

import dataclasses

from bkd_keras import losses as losses_lib


@dataclasses.dataclass(frozen=True)
class Method:
    """One training method.

    classification: "ce", "cb" (effective-number weighted CE), "la" (logit-adjusted CE,
      tau * log prior added to the logits) or "ldam" (LDAM margins, scale, class weights).
    distillation: None (no teacher), "kd" (w = 1) or "bkd" (effective-number w).
    mixup: whether the method uses `mixup_alpha` (else mixup is off).
    deferred: class weights (of the KD term, or of the CE for LDAM-DRW) switch on at
      `bkd_start_epoch`; before it they are 1.
    head: the student's classifier head, "linear" or "cosine".
    """
    description: str
    classification: str = "ce"
    distillation: str = None
    mixup: bool = False
    deferred: bool = False
    head: str = "linear"

    @property
    def needs_teacher(self):
        return self.distillation is not None


METHODS = {
    "ce": Method("plain cross-entropy (the teacher recipe)"),
    "cb": Method("class-balanced CE with effective-number weights (Cui et al. 2019)", classification="cb"),
    "mixup": Method("CE with mixup", mixup=True),
    "la": Method("logit-adjusted loss, tau * log prior on the logits (Menon et al. 2021)", classification="la"),
    # With tau = 1 the logit-adjusted loss IS balanced softmax; kept under both names.
    "balanced_softmax": Method("balanced softmax, log n_c on the logits (Ren et al. 2020)", classification="la"),
    "ldam_drw": Method("LDAM margins on a cosine head with deferred re-weighting (Cao et al. 2019)",
                       classification="ldam", deferred=True, head="cosine"),
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


def build_losses(method, class_counts, beta=0.9999, temperature=2.0, bkd_start_epoch=0, la_tau=1.0,
                 ldam_max_margin=0.5, ldam_scale=30.0):
    """(classification_loss, distillation_loss or None) for `method` (a Method).

    Deferred weights start switched off (reweight 0) when bkd_start_epoch > 0; the
    `DeferredReweighting` callback switches them on.
    """
    weights = losses_lib.effective_number_weights(class_counts, beta)
    start = 0.0 if (method.deferred and bkd_start_epoch > 0) else 1.0
    kind = method.classification
    if kind == "ce":
        classification = losses_lib.ClassificationLoss()
    elif kind == "cb":
        classification = losses_lib.ClassificationLoss(weights)
    elif kind == "la":
        tau = 1.0 if method is METHODS["balanced_softmax"] else la_tau
        classification = losses_lib.ClassificationLoss(logit_adjustment=tau * losses_lib.log_prior(class_counts))
    elif kind == "ldam":
        classification = losses_lib.ClassificationLoss(
            weights, margins=losses_lib.ldam_margins(class_counts, ldam_max_margin), scale=ldam_scale,
            reweight=start)
    else:
        raise ValueError(f"Unknown classification loss {kind!r}.")
    if method.distillation is None:
        return classification, None
    if method.distillation == "kd":
        return classification, losses_lib.BalancedKDLoss(None, temperature)
    return classification, losses_lib.BalancedKDLoss(weights, temperature, reweight=start)
