"""Learning-rate schedules of the paper, as functions of the optimizer step, computed by Keras'
built-in schedules (PiecewiseConstantDecay, CosineDecay)."""

import math

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="bkd_keras")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Per-epoch LR of the CIFAR recipe; epochs e are 1-based.

    e <= warmup_epochs: base_lr * e / warmup_epochs; afterwards base_lr times the
    factor of the last boundary passed (e > boundary). docs/method.md (200 epochs):
    boundaries (160, 180), factors (0.01, 0.0001). `warmup_epochs` may be fractional
    (a short schedule's warm-up, see `scaled_step_schedule`).
    """

    note = None     # a line for the user about how the schedule was fitted to its epochs

    def __init__(self, base_lr, steps_per_epoch, warmup_epochs=5, boundaries=(160, 180),
                 factors=(0.01, 0.0001), note=None):
        if len(boundaries) != len(factors):
            raise ValueError("boundaries and factors must have the same length.")
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.warmup_epochs = float(warmup_epochs)
        self.boundaries = [int(b) for b in boundaries]
        self.factors = [float(f) for f in factors]
        self.note = note
        self._schedule = self._piecewise()

    def lr_at_epoch(self, epoch):
        """Python LR for 1-based epoch `epoch` (for tests and logs)."""
        if epoch <= self.warmup_epochs:
            return self.base_lr * epoch / self.warmup_epochs
        factor = 1.0
        for boundary, f in zip(self.boundaries, self.factors):
            if epoch > boundary:
                factor = f
        return self.base_lr * factor

    def describe(self, epochs):
        """One line: the LR of each epoch (runs of equal values merged), e.g. '1: 0.02, ..., 5-160: 0.1'."""
        runs, start = [], 1
        for e in range(1, epochs + 1):
            if e == epochs or self.lr_at_epoch(e + 1) != self.lr_at_epoch(e):
                runs.append(f"{start}{'' if start == e else f'-{e}'}: {self.lr_at_epoch(e):.3g}")
                start = e + 1
        return "LR by epoch " + ", ".join(runs)

    def _float32_lr(self, epoch):
        """The float32 LR of 1-based `epoch`, rounded as TensorFlow computed it before this schedule
        was Keras' PiecewiseConstantDecay (bit-identical training)."""
        if epoch <= self.warmup_epochs:
            return np.float32(np.float32(self.base_lr) * np.float32(epoch)) / np.float32(self.warmup_epochs)
        factor = [f for b, f in zip(self.boundaries, self.factors) if epoch > b]
        return np.float32(self.base_lr * factor[-1]) if factor else np.float32(self.base_lr)

    def _piecewise(self):
        """Keras' PiecewiseConstantDecay over optimizer steps: a boundary at each epoch whose LR changes
        (its last step, PiecewiseConstantDecay's `step <= boundary`); None when the LR never changes."""
        last = int(max([math.floor(self.warmup_epochs)] + self.boundaries)) + 1
        values, boundaries = [self._float32_lr(1)], []
        for epoch in range(2, last + 1):
            lr = self._float32_lr(epoch)
            if lr != values[-1]:
                boundaries.append((epoch - 1) * self.steps_per_epoch - 1)
                values.append(lr)
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values) if boundaries else None

    def __call__(self, step):
        if self._schedule is None:
            return ops.convert_to_tensor(self._float32_lr(1), "float32")
        return self._schedule(step)

    def get_config(self):
        return {"base_lr": self.base_lr, "steps_per_epoch": self.steps_per_epoch,
                "warmup_epochs": self.warmup_epochs, "boundaries": self.boundaries, "factors": self.factors}


@keras.saving.register_keras_serializable(package="bkd_keras")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over `warmup_epochs`, then per-step cosine decay to 0 at `total_epochs`."""

    note = None

    def __init__(self, base_lr, steps_per_epoch, total_epochs, warmup_epochs=0):
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_epochs = int(total_epochs)
        self.warmup_epochs = float(warmup_epochs)

    def describe(self, epochs):
        warm = f"linear warm-up over {self.warmup_epochs:g} epochs, then " if self.warmup_epochs else ""
        return f"LR {warm}cosine from {self.base_lr:g} to 0 at epoch {self.total_epochs}"

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = float(round(self.warmup_epochs * self.steps_per_epoch))
        total = float(max(self.total_epochs * self.steps_per_epoch, 1))
        cosine = keras.optimizers.schedules.CosineDecay(self.base_lr, decay_steps=max(total - warm, 1.0))
        lr = cosine(ops.maximum(step - warm, 0.0))
        if warm > 0:
            # (step + 1) / warm: the first step already moves (Keras' own warm-up starts at 0).
            lr = ops.where(step < warm, self.base_lr * (step + 1.0) / warm, lr)
        return lr

    def get_config(self):
        return {"base_lr": self.base_lr, "steps_per_epoch": self.steps_per_epoch,
                "total_epochs": self.total_epochs, "warmup_epochs": self.warmup_epochs}


def short_warmup(warmup_epochs, epochs):
    """Warm-up epochs of a schedule of `epochs`: never more than a quarter of them (so a short
    run still reaches its peak LR; 20 epochs keep the recipe's 5). The config resolves this once
    (optimizers.resolve), so flags.json and the start-up summary show the warm-up used."""
    return min(float(warmup_epochs), epochs / 4.0)


def step_boundaries(epochs, warmup_epochs, decay_at):
    """(boundaries, note): the epochs after which the step schedule's LR drops, and a line for the
    user when `epochs` is too short to hold them (else None).

    Each drop lands at round(fraction * epochs), moved as little as needed so that the drops fall
    on distinct epochs, after the warm-up, and each stage keeps at least one epoch (5 epochs at
    0.8 / 0.9: after epochs 3 and 4, not both after 4). With fewer epochs than the warm-up plus
    one per stage, there are no drops: the LR stays at its peak, and the note says so.
    """
    first = max(math.ceil(warmup_epochs), 1)      # the earliest a drop may come: after the warm-up
    if not decay_at:
        return [], None
    if epochs < first + len(decay_at):
        return [], (f"{epochs} epochs are too few for the step schedule's {len(decay_at)} LR drops after a "
                    f"{warmup_epochs:g}-epoch warm-up (it needs >= {first + len(decay_at)}); the LR stays at its peak.")
    boundaries = [min(max(int(round(f * epochs)), first), epochs - 1) for f in decay_at]
    for i in range(1, len(boundaries)):                       # distinct, in order
        boundaries[i] = max(boundaries[i], boundaries[i - 1] + 1)
    for i in range(len(boundaries)):                          # each stage keeps an epoch
        boundaries[i] = min(boundaries[i], epochs - len(boundaries) + i)
    return boundaries, None


def scaled_step_schedule(base_lr, steps_per_epoch, epochs, warmup_epochs=5, decay_at=(0.8, 0.9), decay=0.01):
    """The CIFAR recipe's shape at any length: warm-up (at most a quarter of the epochs), then the
    LR is multiplied by `decay` at each fraction `decay_at` of `epochs` (CIFAR: 0.8, 0.9 =
    epochs 160 and 180 of 200; text: 20 and 25 of 30); see `step_boundaries`."""
    warmup = short_warmup(warmup_epochs, epochs)
    boundaries, note = step_boundaries(epochs, warmup, decay_at)
    factors = [decay ** (i + 1) for i in range(len(boundaries))]
    return WarmupStepDecay(base_lr, steps_per_epoch, warmup, boundaries, factors, note)


def make_schedule(optim, steps_per_epoch, epochs):
    """The LearningRateSchedule of an OptimConfig for a stage of `epochs`."""
    return SCHEDULES[optim.lr_schedule](optim.learning_rate, steps_per_epoch, epochs,
                                        warmup_epochs=optim.warmup_epochs, decay_at=optim.lr_decay_at,
                                        decay=optim.lr_decay)


SCHEDULES = {
    "step": scaled_step_schedule,
    "cosine": lambda base_lr, steps_per_epoch, epochs, warmup_epochs=0, decay_at=None, decay=None: WarmupCosine(
        base_lr, steps_per_epoch, epochs, short_warmup(warmup_epochs, epochs)),
}
