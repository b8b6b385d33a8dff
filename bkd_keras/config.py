"""The plain-Python configuration of a run (what the absl flags turn into)."""

import dataclasses
from typing import Optional, Tuple


class ConfigError(ValueError):
    """An invalid setting; the message names the flag and the fix."""


@dataclasses.dataclass
class TrainConfig:
    # Data
    dataset: str = "digits"
    data_dir: Optional[str] = None
    train_list: str = "train.txt"
    test_list: str = "test.txt"
    image_size: Optional[Tuple[int, int]] = None
    imbalance_type: str = "exp"
    imbalance_ratio: float = 20.0
    max_per_class: Optional[int] = None
    subset_seed: int = 0
    tfds_download: bool = True
    mean: Optional[Tuple[float, ...]] = None   # per channel, [0, 1] units; None: from the train split
    std: Optional[Tuple[float, ...]] = None
    max_tokens: int = 20000            # text: vocabulary size, with the padding and OOV ids
    sequence_length: int = 256         # text: tokens per example
    embeddings: str = "glove_6b_50d"   # text: GloVe .txt path, "glove_6b_50d" (PyPI package) or "random"
    embedding_dim: int = 50            # text, with embeddings="random"
    augmentation: str = "pad_crop"     # pad_crop (CIFAR, images in memory) | resized_crop (224, streamed files)
    # Model and method
    backbone: str = "small_cnn"
    method: str = "bkd"
    stage: str = "all"                 # all | teacher | student
    teacher: Optional[str] = None      # path of a trained teacher .keras file
    pretrained: Optional[str] = None   # "imagenet" or a weights file, for resnet50 / resnet152
    # Optimisation
    epochs: int = 30
    teacher_epochs: Optional[int] = None
    batch_size: int = 64
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    lr_schedule: str = "step"          # step | cosine
    lr_decay_at: Tuple[float, ...] = (0.8, 0.9)   # step: drops at these fractions of the epochs
    lr_decay: float = 0.01             # step: the LR is multiplied by this at each drop
    warmup_epochs: int = 5
    # BKD
    temperature: float = 2.0
    beta: float = 0.9999
    distillation_weight: float = 1.0
    mixup_alpha: float = 1.0
    bkd_start_epoch: int = 0
    la_tau: float = 1.0                # logit-adjusted loss
    ldam_max_margin: float = 0.5       # LDAM-DRW
    ldam_scale: float = 30.0
    # Runtime
    seed: int = 0
    output_dir: str = "runs/default"
    strategy: str = "default"
    precision: str = "float32"         # student: float32 | bfloat16 | float16
    teacher_precision: str = "float32"  # frozen teacher's forward pass
    jit_compile: bool = False          # XLA-compile the train step (accelerators; slower on CPU)
    eval_every: int = 10
    eval_last_fraction: float = 0.2    # also evaluate every epoch of this last fraction of a stage
    verbose: str = "auto"
    overwrite: bool = False

    @property
    def teacher_epochs_resolved(self):
        return self.teacher_epochs or self.epochs

    def validate(self):
        """Raises ConfigError for values that cannot train correctly."""
        from bkd_keras.methods import METHODS
        from bkd_keras.precision import PRECISIONS
        from bkd_keras.schedules import SCHEDULES
        from bkd_keras.strategies import STRATEGIES
        from data.registry import DATASETS, IMBALANCE_CHOICES
        from models import BACKBONES, PRETRAINABLE, TEXT_BACKBONES

        def choice(flag, value, valid):
            if value not in valid:
                raise ConfigError(f"Unknown --{flag}={value!r}. Valid values: {', '.join(sorted(valid))}.")

        choice("dataset", self.dataset, DATASETS)
        choice("backbone", self.backbone, BACKBONES)
        choice("method", self.method, METHODS)
        choice("strategy", self.strategy, STRATEGIES)
        choice("imbalance_type", self.imbalance_type, IMBALANCE_CHOICES)
        choice("lr_schedule", self.lr_schedule, SCHEDULES)
        choice("precision", self.precision, PRECISIONS)
        choice("teacher_precision", self.teacher_precision, PRECISIONS)
        choice("stage", self.stage, ("all", "teacher", "student"))
        choice("augmentation", self.augmentation, ("pad_crop", "resized_crop"))
        if self.augmentation == "resized_crop" and self.dataset not in ("folder", "list"):
            raise ConfigError("--augmentation=resized_crop streams image files: use --dataset=folder or list.")
        if self.pretrained and self.backbone not in PRETRAINABLE:
            raise ConfigError(f"--pretrained is for --backbone={' or '.join(sorted(PRETRAINABLE))}, not {self.backbone}.")
        if self.jit_compile and self.mixup_alpha > 0 and METHODS[self.method].mixup:
            raise ConfigError("--jit_compile cannot compile mixup's Beta sampling (TensorFlow has no XLA kernel "
                              "for random gamma on CPU); pass --mixup_alpha=0 or drop --jit_compile.")
        if self.imbalance_type != "none" and not self.imbalance_ratio >= 1:
            raise ConfigError(f"--imbalance_ratio must be >= 1 (n_max / n_min; 1 = balanced), got {self.imbalance_ratio}.")
        if not self.temperature > 0:
            raise ConfigError(f"--temperature must be > 0 (the paper uses 2), got {self.temperature}.")
        if not 0 <= self.beta <= 1:
            raise ConfigError(f"--beta must be in [0, 1] (the paper uses 0.9999; 1 = inverse frequency), "
                              f"got {self.beta}.")
        if self.mixup_alpha < 0:
            raise ConfigError(f"--mixup_alpha must be >= 0 (0 disables mixup), got {self.mixup_alpha}.")
        for flag in ("epochs", "batch_size"):
            if getattr(self, flag) < 1:
                raise ConfigError(f"--{flag} must be >= 1, got {getattr(self, flag)}.")
        if self.teacher_epochs is not None and self.teacher_epochs < 1:
            raise ConfigError(f"--teacher_epochs must be >= 1, got {self.teacher_epochs}.")
        if not self.learning_rate > 0:
            raise ConfigError(f"--learning_rate must be > 0, got {self.learning_rate}.")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError("--weight_decay must be >= 0 and --momentum in [0, 1).")
        if self.ldam_max_margin <= 0 or self.ldam_scale <= 0:
            raise ConfigError("--ldam_max_margin and --ldam_scale must be > 0.")
        if not 0 <= self.eval_last_fraction <= 1:
            raise ConfigError(f"--eval_last_fraction must be in [0, 1], got {self.eval_last_fraction}.")
        if self.bkd_start_epoch < 0:
            raise ConfigError(f"--bkd_start_epoch must be >= 0, got {self.bkd_start_epoch}.")
        if self.teacher and self.stage == "teacher":
            raise ConfigError("--teacher gives a trained teacher, so --stage=teacher has nothing to do.")
        text_data = DATASETS[self.dataset].modality == "text"
        if text_data != (self.backbone in TEXT_BACKBONES):
            valid = sorted(TEXT_BACKBONES) if text_data else sorted(set(BACKBONES) - TEXT_BACKBONES)
            raise ConfigError(f"--backbone={self.backbone} does not take {self.dataset}'s "
                              f"{'texts' if text_data else 'images'}; use one of {', '.join(valid)}.")
        if text_data and self.mixup_alpha > 0 and METHODS[self.method].mixup:
            raise ConfigError("Mixup is not defined on token ids (the paper uses none for text); "
                              "pass --mixup_alpha=0 (the text presets do).")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"--lr_decay must be in (0, 1], got {self.lr_decay}.")
        if not all(0 < f <= 1 for f in self.lr_decay_at) or list(self.lr_decay_at) != sorted(self.lr_decay_at):
            raise ConfigError(f"--lr_decay_at takes increasing fractions of --epochs in (0, 1], got "
                              f"{list(self.lr_decay_at)}.")
        if self.dataset in ("folder", "list", "text_folder", "text_table") and not self.data_dir:
            raise ConfigError(f"--dataset={self.dataset} needs --data_dir=PATH.")
        return self
