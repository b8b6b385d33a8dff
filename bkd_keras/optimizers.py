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
