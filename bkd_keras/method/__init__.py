"""The method: BKD and the peer losses, the distiller (train_step with mixup), the method registry, LR schedules,
optimizer and the deferred re-weighting callback."""
