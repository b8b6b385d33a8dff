"""SGD exactly as PyTorch's torch.optim.SGD with coupled L2 weight decay (the reference)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bkd_keras")
class CoupledSGD(keras.optimizers.SGD):
    """g <- g + l2 * w;  v <- momentum * v + g;  w <- w - lr * v.

    Differs from `keras.optimizers.SGD(weight_decay=...)` in two ways that matter for
    reproducing the PyTorch recipe: the decay is added to the gradient before the
    momentum (coupled L2, on every variable, BN included), and the learning rate
    multiplies the velocity at each step, so an LR drop takes effect at once.
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, l2=2e-4, name="coupled_sgd", **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=False, name=name, **kwargs)
        if l2 < 0:
            raise ValueError(f"l2 weight decay must be >= 0, got {l2}.")
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2:
            gradient = ops.add(gradient, ops.multiply(ops.cast(self.l2, variable.dtype), variable))
        if self.momentum:
            v = self.momentums[self._get_variable_index(variable)]
            self.assign(v, ops.add(ops.multiply(v, ops.cast(self.momentum, variable.dtype)), gradient))
            gradient = v
        self.assign_sub(variable, ops.multiply(lr, gradient))

    def get_config(self):
        config = super().get_config()
        config.pop("nesterov", None)
        return {**config, "l2": self.l2}


def check_config(config):
    """Raises ConfigError for an OptimConfig that cannot train correctly."""
    from bkd_keras.run.config import ConfigError
    from bkd_keras.method.schedules import SCHEDULES
    if config.lr_schedule not in SCHEDULES:
        raise ConfigError(f"Unknown --lr_schedule={config.lr_schedule!r}. Valid values: {', '.join(sorted(SCHEDULES))}.")
    for flag in ("epochs", "batch_size"):
        if getattr(config, flag) < 1:
            raise ConfigError(f"--{flag} must be >= 1, got {getattr(config, flag)}.")
    if config.teacher_epochs is not None and config.teacher_epochs < 1:
        raise ConfigError(f"--teacher_epochs must be >= 1, got {config.teacher_epochs}.")
    if not config.learning_rate > 0:
        raise ConfigError(f"--learning_rate must be > 0, got {config.learning_rate}.")
    if config.weight_decay < 0 or not 0 <= config.momentum < 1:
        raise ConfigError("--weight_decay must be >= 0 and --momentum in [0, 1).")
    if config.warmup_epochs < 0:
        raise ConfigError(f"--warmup_epochs must be >= 0, got {config.warmup_epochs}.")
    if not 0 < config.lr_decay <= 1:
        raise ConfigError(f"--lr_decay must be in (0, 1], got {config.lr_decay}.")
    if not all(0 < f <= 1 for f in config.lr_decay_at) or list(config.lr_decay_at) != sorted(config.lr_decay_at):
        raise ConfigError(f"--lr_decay_at takes increasing fractions of --epochs in (0, 1], got "
                          f"{list(config.lr_decay_at)}.")


def resolve(config):
    """(OptimConfig as it will run, notes): the warm-up capped at a quarter of the shortest stage's
    epochs (schedules.short_warmup), so the run folder records the warm-up actually used."""
    import dataclasses

    from bkd_keras.method.schedules import short_warmup
    shortest = min(config.epochs, config.teacher_epochs_resolved)
    warmup = short_warmup(config.warmup_epochs, shortest)
    if warmup == config.warmup_epochs:
        return config, []
    note = (f"--warmup_epochs={config.warmup_epochs:g} is more than a quarter of {shortest} epochs; "
            f"the warm-up is {warmup:g} epochs.")
    return dataclasses.replace(config, warmup_epochs=warmup), [note]
