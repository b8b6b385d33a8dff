"""Backbone registry: name -> builder(num_classes, input_shape) returning a logits model."""

import functools

from models.batch_norm import BATCH_NORMS, FusedBatchNormalization
from models.heads import CosineDense
from models.resnet_cifar import OptionAShortcut, resnet_cifar
from models.ride_resnet import EXPERT_LAYER, MeanOverExperts, StackExperts, expert_view, ride_resnet32
from models.resnet_imagenet import resnet10, resnet50, resnet152, resnext50
from models.small_cnn import small_cnn
from models.text_cnn import text_cnn
from models.transformer import MaskedMeanPooling, check_size, transformer

BACKBONES = {
    "resnet20": functools.partial(resnet_cifar, depth=20),
    "resnet32": functools.partial(resnet_cifar, depth=32),
    "resnet56": functools.partial(resnet_cifar, depth=56),
    "ride_resnet32": ride_resnet32,    # RIDE's multi-expert ResNet-32 (--experts)
    "small_cnn": small_cnn,
    "textcnn": text_cnn,
    "transformer": transformer,        # keras-hub encoder blocks, sized by --transformer_*
    # 224x224 ImageNet-style inputs (ImageNet-LT, iNaturalist, Places-LT).
    "resnet10": resnet10,
    "resnext50": resnext50,
    "resnet50": resnet50,
    "resnet152": resnet152,
}
# Backbones that can start from ImageNet weights (--pretrained).
PRETRAINABLE = {"resnet50", "resnet152"}
# Backbones whose input is token ids (text datasets); the others take images.
TEXT_BACKBONES = {"textcnn", "transformer"}
# Backbones with several experts (their output is the experts' mean; see models/ride_resnet.py).
MULTI_EXPERT = {"ride_resnet32"}
# A backbone's own settings: ModelConfig field -> builder argument.
_BATCH_NORM = {"batch_norm": "batch_norm"}   # the CNNs built here (not keras.applications')
BACKBONE_OPTIONS = {**{name: _BATCH_NORM for name in ("resnet20", "resnet32", "resnet56", "small_cnn", "resnet10",
                                                      "resnext50")},
                    "ride_resnet32": {"experts": "experts", **_BATCH_NORM},
                    "transformer": {"transformer_layers": "num_layers", "transformer_heads": "num_heads",
                                    "transformer_width": "width"}}


def backbone_options(config):
    """The builder keywords of `config.backbone`'s own settings (e.g. the transformer's size)."""
    return {arg: getattr(config, field) for field, arg in BACKBONE_OPTIONS.get(config.backbone, {}).items()}


def check_config(config, text=False, data_name="the dataset"):
    """Raises ValueError for a ModelConfig that cannot build; `text`: the data are token ids.

    Checks the student's model and, if it differs, the teacher's (--teacher_backbone).
    """
    _check_one(config, text, data_name, "")
    if config.teacher_backbone or config.teacher_pretrained:
        _check_one(config.for_teacher(), text, data_name, "teacher_")
    if config.teacher_hub_preset and not text:
        raise ValueError(f"--teacher_hub_preset is a keras-hub text classifier; {data_name} is images. "
                         "Use --teacher_backbone (trained here) or --teacher=FILE.keras.")
    if config.teacher_hub_preset and config.teacher_backbone:
        raise ValueError("--teacher_hub_preset gives the teacher, so --teacher_backbone has nothing to build; "
                         "pass one of them.")
    if config.batch_norm not in BATCH_NORMS:
        raise ValueError(f"Unknown --batch_norm={config.batch_norm!r}. Valid values: {', '.join(BATCH_NORMS)}.")
    if config.experts < 1:
        raise ValueError(f"--experts must be >= 1, got {config.experts}.")
    if config.backbone == "transformer" or config.teacher_backbone == "transformer":
        check_size(config.transformer_layers, config.transformer_heads, config.transformer_width)


def _check_one(config, text, data_name, prefix):
    if config.backbone not in BACKBONES:
        raise ValueError(f"Unknown --{prefix}backbone={config.backbone!r}. Valid values: {', '.join(sorted(BACKBONES))}.")
    if config.pretrained and config.backbone not in PRETRAINABLE:
        raise ValueError(f"--{prefix}pretrained is for --{prefix}backbone={' or '.join(sorted(PRETRAINABLE))}, "
                         f"not {config.backbone}.")
    if text != (config.backbone in TEXT_BACKBONES):
        valid = sorted(TEXT_BACKBONES) if text else sorted(set(BACKBONES) - TEXT_BACKBONES)
        raise ValueError(f"--{prefix}backbone={config.backbone} does not take {data_name}'s "
                         f"{'texts' if text else 'images'}; use one of {', '.join(valid)}.")


def build_backbone(name, num_classes, input_shape, head="linear", embedding_matrix=None, pretrained=None,
                   **options):
    """Builds backbone `name` with a `num_classes`-way head ("linear" or "cosine").

    `input_shape`: (H, W, C) images, or (L,) token ids for text backbones, which also take
    the initial `embedding_matrix` (V, d). `pretrained`: "imagenet" or a local weights file
    for the PRETRAINABLE backbones. `options`: the backbone's own settings
    (`backbone_options(model_config)`).
    """
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}. Valid backbones: {', '.join(sorted(BACKBONES))}.")
    if pretrained and name not in PRETRAINABLE:
        raise ValueError(f"--pretrained is available for {', '.join(sorted(PRETRAINABLE))}, not {name}.")
    extra = {"embedding_matrix": embedding_matrix} if name in TEXT_BACKBONES else {}
    extra.update(options)
    if pretrained:
        extra["pretrained"] = pretrained
    return BACKBONES[name](num_classes=num_classes, input_shape=tuple(input_shape), head=head, name=name, **extra)


__all__ = ["BACKBONES", "BACKBONE_OPTIONS", "BATCH_NORMS", "FusedBatchNormalization", "MULTI_EXPERT", "EXPERT_LAYER", "MeanOverExperts", "StackExperts", "expert_view",
           "ride_resnet32", "PRETRAINABLE", "TEXT_BACKBONES", "CosineDense", "MaskedMeanPooling",
           "OptionAShortcut", "backbone_options", "build_backbone", "check_config", "resnet_cifar", "small_cnn",
           "text_cnn", "transformer"]
