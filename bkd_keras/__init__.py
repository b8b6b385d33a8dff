"""bkd-keras: Balanced Knowledge Distillation for long-tailed classification (Keras 3)."""

import os

# TensorFlow uses oneDNN's convolutions by default only on CPUs with AVX-512 VNNI / BF16 or AMX;
# elsewhere (AVX2) its Eigen convolutions made the BKD student step 1.44x slower
# (benchmarks/step_profile_*.json). Set before TensorFlow is imported; a user's own value wins.
# It changes CPU kernels only (GPUs keep cuDNN).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# Without an NVIDIA driver, TensorFlow's first op logs "failed call to cuInit" as an ERROR line on
# every command; only level 3 silences it. Python exceptions are unaffected; a user's value wins.
if not os.path.exists("/proc/driver/nvidia"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bkd_keras.run.config import ConfigError, TrainConfig
from bkd_keras.method.callbacks import DeferredReweighting
from bkd_keras.method.distiller import Distiller
from bkd_keras.method.keras_distillation import BalancedLogitsDistillation, keras_mixup
from bkd_keras.method.losses import (BalancedKDLoss, ClassificationLoss, FocalLoss, balanced_kd_loss,
                              effective_number_weights, soft_cross_entropy)
from bkd_keras.method.methods import METHODS
from bkd_keras.method.optimizers import CoupledSGD
from bkd_keras.method.schedules import WarmupCosine, WarmupStepDecay

__all__ = ["BalancedKDLoss", "BalancedLogitsDistillation", "ClassificationLoss", "ConfigError", "CoupledSGD",
           "DeferredReweighting", "Distiller", "FocalLoss", "METHODS", "TrainConfig", "WarmupCosine",
           "WarmupStepDecay", "balanced_kd_loss", "effective_number_weights", "keras_mixup", "soft_cross_entropy"]
