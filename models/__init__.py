"""Backbone registry: name -> builder(num_classes, input_shape) returning a logits model."""

import functools

from models.heads import CosineDense
from models.resnet_cifar import OptionAShortcut, resnet_cifar
from models.small_cnn import small_cnn

BACKBONES = {
    "resnet20": functools.partial(resnet_cifar, depth=20),
    "resnet32": functools.partial(resnet_cifar, depth=32),
    "resnet56": functools.partial(resnet_cifar, depth=56),
    "small_cnn": small_cnn,
}


def build_backbone(name, num_classes, input_shape, head="linear"):
    """Builds backbone `name` with a `num_classes`-way head ("linear" or "cosine") for (H, W, C) input."""
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}. Valid backbones: {', '.join(sorted(BACKBONES))}.")
    return BACKBONES[name](num_classes=num_classes, input_shape=tuple(input_shape), head=head, name=name)


__all__ = ["BACKBONES", "CosineDense", "OptionAShortcut", "build_backbone", "resnet_cifar", "small_cnn"]
