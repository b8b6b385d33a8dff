"""Keras callbacks of the training runs."""

import csv
import math
import os
import time

import keras


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises NonFiniteLossError naming the stage, epoch and step at the first NaN/inf loss
    (the Distiller logs a NaN loss for a step whose gradients are not finite).

    Raising (rather than `stop_training`) ends `fit` before the epoch-end callbacks,
    so the broken weights are never saved as a finished epoch.
    """

    def __init__(self, stage="training"):
        super().__init__()
        self.stage = stage
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"[{self.stage}] the loss became {float(loss)} at epoch {self._epoch + 1}, step {batch + 1}; "
                "nothing of this epoch was saved. Lower --learning_rate, check the data, or use float32.")


class DeferredReweighting(keras.callbacks.Callback):
    """Deferred class weights: off for epochs < start_epoch (0-based), on from start_epoch.

    Deferred BKD (plain KD, then BKD) and DRW (plain CE, then re-weighted). Sets the given
    `reweight` variables (from the method's `Losses.deferred`) at each epoch start, so they
    are right after a resume too and the train step is never retraced.
    """

    def __init__(self, start_epoch, variables):
        super().__init__()
        self.start_epoch = int(start_epoch)
        self.variables = tuple(variables)

    def on_epoch_begin(self, epoch, logs=None):
        for variable in self.variables:
            variable.assign(1.0 if epoch >= self.start_epoch else 0.0)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.variables:
            logs["reweight_active"] = float(keras.ops.convert_to_numpy(self.variables[0]))


class Throughput(keras.callbacks.Callback):
    """Adds `images_per_sec` and `epoch_seconds` (training only, no validation) to the logs.

    `num_images` per epoch of `steps_per_epoch` steps; an epoch resumed part-way counts the
    images of the steps it ran.
    """

    def __init__(self, num_images, steps_per_epoch=None):
        super().__init__()
        self.num_images = int(num_images)
        self.steps_per_epoch = steps_per_epoch
        self.history = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._train_end = None
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_test_begin(self, logs=None):
        if getattr(self, "_start", None) is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = self._train_end or time.perf_counter()
        seconds = end - self._start
        images = self.num_images
        if self.steps_per_epoch and self._steps:
            images = self.num_images * min(self._steps, self.steps_per_epoch) / self.steps_per_epoch
        rate = images / max(seconds, 1e-9)
        self.history.append(rate)
        if logs is not None:
            logs["images_per_sec"] = rate
            logs["epoch_seconds"] = seconds


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the learning rate of the epoch's first step (`lr`) to the logs."""

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = opt.learning_rate
        if callable(lr):
            lr = lr(opt.iterations)
        self._lr = float(keras.ops.convert_to_numpy(lr))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self._lr


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves `model.student` (or the model) weights at each epoch end through a temporary file.

    `path` must end in ".weights.h5"; a kill during the save leaves the previous file intact.
    """

    def __init__(self, path):
        super().__init__()
        if not path.endswith(".weights.h5"):
            raise ValueError(f"Checkpoint path must end in .weights.h5, got {path}.")
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        model = getattr(self.model, "student", self.model)
        tmp = self.path[: -len(".weights.h5")] + ".tmp.weights.h5"
        model.save_weights(tmp)
        os.replace(tmp, self.path)


class RunCSVLogger(keras.callbacks.CSVLogger):
    """Keras' CSVLogger (append mode) whose columns also hold `val_keys`: validation-only metrics
    that the training logs its header is built from do not have. Appending to a log that has a
    header keeps that header's columns, so a run resumed by newer code still writes a readable file."""

    def __init__(self, filename, val_keys=(), **kwargs):
        super().__init__(filename, append=True, **kwargs)
        self.val_keys = list(val_keys)

    def _existing_header(self):
        if not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0:
            return None
        with open(self.filename) as f:
            return next(csv.reader(f, delimiter=self.sep))[1:]

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            keys = self._existing_header()
            if keys is None:
                keys = sorted(logs or {})
                if not any(k.startswith("val_") for k in keys):
                    keys += [f"val_{k}" for k in keys]
                keys += [k for k in self.val_keys if k not in keys]
            self.keys = keys
        super().on_epoch_end(epoch, logs)
