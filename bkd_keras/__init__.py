"""bkd-keras: Balanced Knowledge Distillation for long-tailed classification (Keras 3)."""

from bkd_keras.config import ConfigError, TrainConfig
from bkd_keras.distiller import Distiller
from bkd_keras.losses import (BalancedKDLoss, ClassificationLoss, FocalLoss, balanced_kd_loss,
                              effective_number_weights, soft_cross_entropy)
from bkd_keras.methods import METHODS
from bkd_keras.optimizers import CoupledSGD
from bkd_keras.schedules import WarmupCosine, WarmupStepDecay

__all__ = ["BalancedKDLoss", "ClassificationLoss", "ConfigError", "CoupledSGD", "Distiller", "FocalLoss", "METHODS",
           "TrainConfig", "WarmupCosine", "WarmupStepDecay", "balanced_kd_loss",
           "effective_number_weights", "soft_cross_entropy"]
