"""Method registry: each training method is one `Method` holding everything about itself.

A method names its losses (built from the training class counts), whether it needs a
teacher and mixup, whose class weights it defers (DRW-style) and its own settings. Adding
a method is one entry in METHODS (plus its loss in losses.py if it is new, and a test).
"""

import dataclasses
from typing import Callable, Optional, Tuple

from bkd_keras.method import expert_losses, losses as losses_lib
from bkd_keras.run.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Setting:
    """A method's own setting; also the flag `--<name>`. Values must be > 0."""
    name: str
    default: float
    help: str


@dataclasses.dataclass(frozen=True)
class LossContext:
    """What a classification-loss builder gets: class counts (C,), effective-number weights
    (C,), the method's settings by name, and the initial strength of deferred weights."""
    class_counts: tuple
    weights: object
    options: dict
    reweight: float = 1.0
    weighted_mean: bool = False       # the method's `reduction` is "weighted_mean"


@dataclasses.dataclass(frozen=True)
class Losses:
    """A method's built losses; `deferred` are the reweight variables switched on at `switch_epoch`."""
    classification: object
    distillation: object = None
    deferred: Tuple = ()
    switch_epoch: int = 0

    def callbacks(self):
        """The Keras callbacks that apply the deferred switch (none if nothing is deferred)."""
        from bkd_keras.method.callbacks import DeferredReweighting
        return [DeferredReweighting(self.switch_epoch, self.deferred)] if self.deferred else []


def _plain_ce(ctx):
    return losses_lib.ClassificationLoss()


@dataclasses.dataclass(frozen=True)
class Method:
    """One training method.

    classification: LossContext -> per-example loss(y, student_logits).
    distillation: None (no teacher), "kd" (w = 1) or "bkd" (effective-number w).
    mixup: whether the method uses `mixup_alpha` (else mixup is off).
    defers: "classification" or "distillation": that loss's class weights are off before the
      switch epoch (deferred BKD, LDAM-DRW), on from it.
    head: the student's classifier head, "linear" or "cosine".
    settings: the method's own settings (flags of the same name).
    experts: "any" (single or multi-expert backbones), or "required" (RIDE's loss; a multi-expert
      backbone). expert_targets: with a multi-expert teacher, expert e distils from teacher
      expert e instead of the teacher's ensemble.
    reduction: how the classification loss is reduced over a batch, as the method's authors do
      it (REDUCTIONS): "batch_mean" (sum / B) or "weighted_mean" (sum / sum_i w_{y_i}).
    teacher: the method its teacher is trained with by default (--teacher_method overrides it):
      "ce" as in the BKD paper; DiVE's is balanced softmax.
    """
    description: str
    classification: Callable = _plain_ce
    distillation: Optional[str] = None
    mixup: bool = False
    defers: Optional[str] = None
    head: str = "linear"
    settings: Tuple[Setting, ...] = ()
    experts: str = "any"
    expert_targets: bool = False
    reduction: str = "batch_mean"
    teacher: str = "ce"

    @property
    def needs_teacher(self):
        return self.distillation is not None

    @property
    def deferred(self):
        return self.defers is not None

    def mixup_alpha(self, config):
        return config.mixup_alpha if self.mixup else 0.0

    def options(self, config):
        """{setting name: value} of this method's settings in `config` (a MethodConfig)."""
        return {s.name: float(config.option(s.name, s.default)) for s in self.settings}

    def switch_epoch(self, config, epochs):
        """The 0-based epoch at which this method's deferred class weights switch on, in a stage of
        `epochs`: --bkd_start_epoch if given; else a method with its own deferral (LDAM-DRW, RIDE:
        --drw_start_fraction, 0.8 = their authors' epoch 160 of 200 on CIFAR-10 and CIFAR-100 alike)
        switches there, and BKD's family at the recipe's --bkd_start_fraction (its authors: 0.8 on
        CIFAR-10, 0 on CIFAR-100)."""
        if config.bkd_start_epoch is not None:
            return int(config.bkd_start_epoch)
        own = [s for s in self.settings if s is DRW_START]
        fraction = self.options(config)[DRW_START.name] if own else config.bkd_start_fraction
        return int(round(fraction * epochs))

    def build(self, class_counts, config, epochs):
        """The method's Losses for a stage of `epochs` epochs (build under the strategy's scope)."""
        weights = losses_lib.effective_number_weights(class_counts, config.beta)
        switch = self.switch_epoch(config, epochs) if self.deferred else 0
        start = 0.0 if switch > 0 else 1.0
        ctx = LossContext(tuple(class_counts), weights, self.options(config),
                          start if self.defers == "classification" else 1.0, self.reduction == "weighted_mean")
        classification = self.classification(ctx)
        distillation = None
        if self.distillation == "kd":
            distillation = losses_lib.BalancedKDLoss(None, config.temperature)
        elif self.distillation == "bkd":
            distillation = losses_lib.BalancedKDLoss(weights, config.temperature,
                                                     reweight=start if self.defers == "distillation" else 1.0)
        elif self.distillation == "dive":
            o = ctx.options
            distillation = losses_lib.BalancedKDLoss(None, o["dive_temperature"], teacher_power=o["dive_power"],
                                                     factor=o["dive_alpha"])
        deferred = {"classification": classification, "distillation": distillation}.get(self.defers)
        return Losses(classification, distillation, (deferred.reweight,) if deferred is not None else (), switch)


# Each reduction convention and where its authors' code has it (a method's `reduction`).
REDUCTIONS = {
    # Every method not listed under weighted_mean; CB too: Cui et al.'s TensorFlow code takes the
    # weighted sum over the batch divided by B.
    "batch_mean": "sum over the batch / B (a torch .mean() or nn.CrossEntropyLoss() without weights)",
    # LDAM-DRW (kaidic/LDAM-DRW): losses.py, LDAMLoss.forward's return F.cross_entropy(self.s*output,
    # target, weight=self.weight), and cifar_train.py's DRW rule nn.CrossEntropyLoss(weight=per_cls_weights).
    # RIDE (frank-xwang/RIDE-LongTailRecognition): model/loss.py line 229, self.base_loss(final_output,
    # target, weight=self.per_cls_weights_base); its diversity KL (line 245) is reduction='batchmean'.
    "weighted_mean": "class-weighted CE summed over the batch / sum_i w_{y_i} (PyTorch's cross_entropy with "
                     "weight=w); RIDE's diversity term / B",
}

LA_TAU = Setting("la_tau", 1.0, "tau of the logit-adjusted loss (--method=la).")
DRW_START = Setting("drw_start_fraction", 0.8, "LDAM-DRW / RIDE: their class re-weighting switches on at this "
                                               "fraction of --epochs (their authors: epoch 160 of 200 on every "
                                               "dataset); --bkd_start_epoch overrides it.")
LDAM_MAX_MARGIN = Setting("ldam_max_margin", 0.5, "Largest LDAM margin (--method=ldam_drw).")
LDAM_SCALE = Setting("ldam_scale", 30.0, "LDAM logit scale s on the cosine head (--method=ldam_drw).")
RIDE_DIVERSITY = Setting("ride_diversity", 0.2, "RIDE: weight of the experts' diversity (KL) term, which is "
                                                "maximised (RIDE's additional_diversity_factor -0.2).")
RIDE_TEMPERATURE = Setting("ride_temperature", 1.0, "RIDE: base temperature of the diversity term.")
RIDE_REWEIGHT_FACTOR = Setting("ride_reweight_factor", 0.05, "RIDE: how much the diversity temperature "
                                                             "follows the class prior after the DRW switch.")
DIVE_ALPHA = Setting("dive_alpha", 0.5, "DiVE: weight alpha of the distillation term; balanced softmax gets "
                                        "1 - alpha (He et al. 2021).")
DIVE_TEMPERATURE = Setting("dive_temperature", 3.0, "DiVE: distillation temperature (its paper's 3; --temperature "
                                                    "is KD's and BKD's).")
DIVE_POWER = Setting("dive_power", 0.5, "DiVE: power p of the teacher's prediction before renormalising "
                                        "(flattens it; 1 = none).")
FOCAL_GAMMA = Setting("focal_gamma", 1.0, "Focal loss gamma (--method=focal; 1 as in the LDAM-DRW paper's "
                                          "CIFAR table).")

METHODS = {
    "ce": Method("plain cross-entropy (the teacher recipe)"),
    "cb": Method("class-balanced CE with effective-number weights (Cui et al. 2019)",
                 lambda ctx: losses_lib.ClassificationLoss(ctx.weights)),
    "mixup": Method("CE with mixup", mixup=True),
    "focal": Method("focal loss (Lin et al. 2017)",
                    lambda ctx: losses_lib.FocalLoss(ctx.options["focal_gamma"]), settings=(FOCAL_GAMMA,)),
    "la": Method("logit-adjusted loss, tau * log prior on the logits (Menon et al. 2021)",
                 lambda ctx: losses_lib.ClassificationLoss(
                     logit_adjustment=ctx.options["la_tau"] * losses_lib.log_prior(ctx.class_counts)),
                 settings=(LA_TAU,)),
    # The logit-adjusted loss with tau = 1 IS balanced softmax; kept under both names.
    "balanced_softmax": Method("balanced softmax, log n_c on the logits (Ren et al. 2020)",
                               lambda ctx: losses_lib.ClassificationLoss(
                                   logit_adjustment=1.0 * losses_lib.log_prior(ctx.class_counts))),
    "ldam_drw": Method("LDAM margins on a cosine head with deferred re-weighting (Cao et al. 2019)",
                       lambda ctx: losses_lib.ClassificationLoss(
                           ctx.weights, margins=losses_lib.ldam_margins(ctx.class_counts, ctx.options["ldam_max_margin"]),
                           scale=ctx.options["ldam_scale"], reweight=ctx.reweight, weighted_mean=ctx.weighted_mean),
                       defers="classification", head="cosine", settings=(LDAM_MAX_MARGIN, LDAM_SCALE, DRW_START),
                       reduction="weighted_mean"),
    "ride": Method("RIDE: per-expert LDAM-DRW + distribution-aware diversity loss on a multi-expert model "
                   "(Wang et al. 2021)",
                   lambda ctx: expert_losses.RIDELoss(
                       ctx.weights, losses_lib.ldam_margins(ctx.class_counts, ctx.options["ldam_max_margin"]),
                       expert_losses.ride_diversity_weights(ctx.class_counts, ctx.options["ride_reweight_factor"]),
                       scale=ctx.options["ldam_scale"], diversity=ctx.options["ride_diversity"],
                       temperature=ctx.options["ride_temperature"], reweight=ctx.reweight),
                   defers="classification", head="cosine", experts="required", reduction="weighted_mean",
                   settings=(LDAM_MAX_MARGIN, LDAM_SCALE, DRW_START, RIDE_DIVERSITY, RIDE_TEMPERATURE,
                             RIDE_REWEIGHT_FACTOR)),
    "kd": Method("plain knowledge distillation from the CE teacher", distillation="kd"),
    "kd_mixup": Method("plain KD with mixup", distillation="kd", mixup=True),
    "weighted_kd": Method("BKD without mixup", distillation="bkd", defers="distillation"),
    "bkd": Method("Balanced Knowledge Distillation: CE + class-balanced KD, with mixup",
                  distillation="bkd", mixup=True, defers="distillation"),
    "bkd_la": Method("BKD with the logit-adjusted loss (tau * log prior) as its classification term, mixup",
                     lambda ctx: losses_lib.ClassificationLoss(
                         logit_adjustment=ctx.options["la_tau"] * losses_lib.log_prior(ctx.class_counts)),
                     distillation="bkd", mixup=True, defers="distillation", settings=(LA_TAU,)),
    # He et al., ICCV 2021 (code forked from BalancedMetaSoftmax-Classification): a balanced-softmax
    # teacher; the student minimises (1 - alpha) balanced-softmax CE + alpha T^2 KL(q || p_s), with q
    # the teacher's softmax at T raised to the power p and renormalised.
    "dive": Method("DiVE: (1 - alpha) balanced softmax + alpha T^2 KL to the power-normalised prediction of a "
                   "balanced-softmax teacher (He et al. 2021)",
                   lambda ctx: losses_lib.ClassificationLoss(
                       logit_adjustment=losses_lib.log_prior(ctx.class_counts), factor=1.0 - ctx.options["dive_alpha"]),
                   distillation="dive", settings=(DIVE_ALPHA, DIVE_TEMPERATURE, DIVE_POWER),
                   teacher="balanced_softmax"),
    "bkd_per_expert": Method("BKD on a multi-expert model, expert e distilling from teacher expert e "
                             "(with `bkd`, every expert distils from the teacher's ensemble)",
                             distillation="bkd", mixup=True, defers="distillation", experts="required",
                             expert_targets=True),
}


def teacher_method(config):
    """The name of the method a run's teacher trains with: --teacher_method, else the student
    method's own default (plain CE, as in the BKD paper; balanced softmax for DiVE)."""
    return config.teacher_method or get_method(config.method).teacher


def all_settings():
    """Every method's own settings, one per name (the flags define one each)."""
    return list({s.name: s for m in METHODS.values() for s in m.settings}.values())


def get_method(name):
    if name not in METHODS:
        raise ConfigError(f"Unknown --method={name!r}. Valid values: {', '.join(sorted(METHODS))}.")
    return METHODS[name]


def check_config(config, text=False, multi_expert=False):
    """Raises ConfigError for a MethodConfig that cannot train correctly; `text`: token-id inputs;
    `multi_expert`: the student's backbone has experts."""
    method = get_method(config.method)
    if method.experts == "required" and not multi_expert:
        from models import MULTI_EXPERT
        raise ConfigError(f"--method={config.method} trains a multi-expert model: pass --backbone="
                          f"{' or '.join(sorted(MULTI_EXPERT))} (with --experts).")
    from bkd_keras.method.distiller import check_mixup_alpha
    for check, value in ((losses_lib.check_temperature, config.temperature), (losses_lib.check_beta, config.beta),
                         (check_mixup_alpha, config.mixup_alpha)):
        try:
            check(value)
        except ValueError as err:       # the library's rule, said with its flag
            raise ConfigError(f"--{err}") from None
    if config.bkd_start_epoch is not None and config.bkd_start_epoch < 0:
        raise ConfigError(f"--bkd_start_epoch must be >= 0, got {config.bkd_start_epoch}.")
    if not 0 <= config.bkd_start_fraction <= 1:
        raise ConfigError(f"--bkd_start_fraction must be in [0, 1], got {config.bkd_start_fraction}.")
    known = {s.name: s for s in all_settings()}
    for name, value in config.options:
        if name not in known:
            raise ConfigError(f"Unknown setting {name!r}; method settings are {', '.join(sorted(known))}.")
        if not value > 0:
            raise ConfigError(f"--{name} must be > 0, got {value}.")
    alpha = method.options(config).get(DIVE_ALPHA.name)
    if alpha is not None and not alpha < 1:
        raise ConfigError(f"--dive_alpha must be < 1 (balanced softmax gets 1 - alpha), got {alpha}.")
    if config.teacher_method is not None:
        teacher = get_method(config.teacher_method)
        if teacher.needs_teacher:
            raise ConfigError(f"--teacher_method={config.teacher_method} itself needs a teacher; a teacher trains "
                              "with a single-model method: " + ", ".join(sorted(
                                  n for n, m in METHODS.items() if not m.needs_teacher and m.experts == "any")) + ".")
        if teacher.experts == "required" and not multi_expert:
            raise ConfigError(f"--teacher_method={config.teacher_method} trains a multi-expert model; pass a "
                              "multi-expert --backbone (or --teacher_backbone).")
    if text and method.mixup_alpha(config) > 0:
        raise ConfigError("Mixup is not defined on token ids (the paper uses none for text); "
                          "pass --mixup_alpha=0 (the text presets do).")
    return method
