"""Mixed-precision helpers: build under a dtype policy, or copy a model to another policy."""

import contextlib

import keras

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def policy_name(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}.")
    return PRECISIONS[precision]


@contextlib.contextmanager
def policy_scope(precision):
    """Layers created inside use the global dtype policy of `precision`."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy_name(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def with_precision(model, precision):
    """A copy of functional `model` computing in `precision`, same weights.

    Always a new model, so its variables belong to the current distribution scope.
    The output layers keep float32 so logits (and the losses) stay float32.
    """
    policy = policy_name(precision)
    outputs = {id(layer) for layer in (t._keras_history[0] for t in model.outputs)}

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = "float32" if id(layer) in outputs else policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
