"""Learning-rate schedules of the paper, as functions of the optimizer step."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bkd_keras")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Per-epoch LR of the CIFAR recipe; epochs e are 1-based.

    e <= warmup_epochs: base_lr * e / warmup_epochs; afterwards base_lr times the
    factor of the last boundary passed (e > boundary). RECIPE.md (200 epochs):
    boundaries (160, 180), factors (0.01, 0.0001). `warmup_epochs` may be fractional
    (a short schedule's warm-up, see `scaled_step_schedule`).
    """

    def __init__(self, base_lr, steps_per_epoch, warmup_epochs=5, boundaries=(160, 180),
                 factors=(0.01, 0.0001)):
        if len(boundaries) != len(factors):
            raise ValueError("boundaries and factors must have the same length.")
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.warmup_epochs = float(warmup_epochs)
        self.boundaries = [int(b) for b in boundaries]
        self.factors = [float(f) for f in factors]

    def lr_at_epoch(self, epoch):
        """Python LR for 1-based epoch `epoch` (for tests and logs)."""
        if epoch <= self.warmup_epochs:
            return self.base_lr * epoch / self.warmup_epochs
        factor = 1.0
        for boundary, f in zip(self.boundaries, self.factors):
            if epoch > boundary:
                factor = f
        return self.base_lr * factor

    def __call__(self, step):
        epoch = ops.floor_divide(ops.cast(step, "int64"), self.steps_per_epoch) + 1
        epoch_f = ops.cast(epoch, "float32")
        lr = ops.convert_to_tensor(self.base_lr, "float32")
        for boundary, f in zip(self.boundaries, self.factors):
            lr = ops.where(epoch > boundary, self.base_lr * f, lr)
        if self.warmup_epochs > 0:
            lr = ops.where(epoch_f <= self.warmup_epochs, self.base_lr * epoch_f / self.warmup_epochs, lr)
        return lr

    def get_config(self):
        return {"base_lr": self.base_lr, "steps_per_epoch": self.steps_per_epoch,
                "warmup_epochs": self.warmup_epochs, "boundaries": self.boundaries, "factors": self.factors}


@keras.saving.register_keras_serializable(package="bkd_keras")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over `warmup_epochs`, then per-step cosine decay to 0 at `total_epochs`."""

    def __init__(self, base_lr, steps_per_epoch, total_epochs, warmup_epochs=0):
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_epochs = int(total_epochs)
        self.warmup_epochs = float(warmup_epochs)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = float(round(self.warmup_epochs * self.steps_per_epoch))
        total = float(max(self.total_epochs * self.steps_per_epoch, 1))
        progress = ops.clip((step - warm) / max(total - warm, 1.0), 0.0, 1.0)
        lr = 0.5 * self.base_lr * (1.0 + ops.cos(math.pi * progress))
        if warm > 0:
            lr = ops.where(step < warm, self.base_lr * (step + 1.0) / warm, lr)
        return lr

    def get_config(self):
        return {"base_lr": self.base_lr, "steps_per_epoch": self.steps_per_epoch,
                "total_epochs": self.total_epochs, "warmup_epochs": self.warmup_epochs}


def short_warmup(warmup_epochs, epochs):
    """Warm-up epochs of a schedule of `epochs`: never more than a quarter of them (so a short
    run still reaches its peak LR; 20 epochs keep the recipe's 5)."""
    return min(float(warmup_epochs), epochs / 4.0)


def scaled_step_schedule(base_lr, steps_per_epoch, epochs, warmup_epochs=5, decay_at=(0.8, 0.9), decay=0.01):
    """The CIFAR recipe's shape at any length: warm-up (at most a quarter of the epochs), then the
    LR is multiplied by `decay` at each fraction `decay_at` of `epochs` (CIFAR: 0.8, 0.9 =
    epochs 160 and 180 of 200; text: 20 and 25 of 30), never before the warm-up has ended."""
    warmup = short_warmup(warmup_epochs, epochs)
    boundaries = [max(int(round(f * epochs)), math.ceil(warmup)) for f in decay_at]
    factors = [decay ** (i + 1) for i in range(len(boundaries))]
    return WarmupStepDecay(base_lr, steps_per_epoch, warmup, boundaries, factors)


SCHEDULES = {
    "step": scaled_step_schedule,
    "cosine": lambda base_lr, steps_per_epoch, epochs, warmup_epochs=0, decay_at=None, decay=None: WarmupCosine(
        base_lr, steps_per_epoch, epochs, short_warmup(warmup_epochs, epochs)),
}
