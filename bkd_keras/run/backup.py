"""A stage's resume state: its backups, written and checked so a resume is exact and safe.

The backup folder holds `latest.weights.h5` (the whole training state: student, teacher,
optimizer) with its position inside (epoch, step, the epoch's metric sums, as HDF5
attributes) and, for people and tools, `training_metadata.json`; the previous backup is kept
as `*.bkp`. `StepBackup` writes them (to a temporary name, then renamed) at every epoch end and,
optionally, every N steps; it also stops the run cleanly on SIGTERM. `usable_backup` checks
the latest backup before a resume, falls back to the previous one with a warning, and never
lets a run silently restart from epoch 0.
"""

import contextlib
import json
import os
import shutil
import signal
import threading

import keras
import numpy as np

from bkd_keras.run.config import ConfigError
from bkd_keras.run.io_utils import atomic_write_json

WEIGHTS, METADATA = "latest.weights.h5", "training_metadata.json"


class Preempted(Exception):
    """SIGTERM arrived; the backup of the current step is written (or, outside training, `message`
    says what is saved)."""

    def __init__(self, epoch=None, step=None, message=None):
        super().__init__(message or f"preempted at epoch {epoch + 1}, step {step}; rerun the same command to resume")
        self.epoch, self.step = epoch, step


@contextlib.contextmanager
def stop_on_sigterm(saved):
    """Inside the block, SIGTERM raises Preempted at once, saying what `saved()` (-> str) reports is on
    disk. For the work around training (evaluation, export), where there is no step to finish;
    StepBackup's handler takes over during `fit` and gives this one back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(*_):
        raise Preempted(message=f"stopped by SIGTERM before the run finished; {saved()}. Rerun the same command "
                                "to finish it.")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _readable(weights, metadata):
    """({"epoch", "step", "metrics"}, None) if the backup loads, else (None, why not).

    The position comes from the weights file's attributes (written with it, so never out of
    step with it); backups written by Keras' BackupAndRestore have it only in the JSON.
    """
    if not os.path.exists(weights):
        return None, "missing"
    try:
        import h5py
        with h5py.File(weights, "r") as f:
            f.visit(lambda name: None)      # reads the whole object tree
            attrs = dict(f.attrs)
        if "bkd_position" in attrs:
            return json.loads(attrs["bkd_position"]), None
        with open(metadata) as f:
            return {"epoch": int(json.load(f)["epoch"]), "step": 0, "metrics": None}, None
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"unreadable ({type(err).__name__}: {str(err)[:120]})"


def usable_backup(backup_dir, log=print):
    """The position {"epoch" (finished epochs), "step" (steps done in the next one), "metrics"}
    of a stage's latest backup (epoch 0, step 0 if it has none), after making sure it loads.
    A bad latest backup is replaced by the previous one, with a warning; if neither loads,
    ConfigError says how to start over."""
    weights, metadata = (os.path.join(backup_dir, name) for name in (WEIGHTS, METADATA))
    if not any(os.path.exists(p) for p in (weights, metadata, weights + ".bkp", metadata + ".bkp")):
        return {"epoch": 0, "step": 0, "metrics": None}
    position, problem = _readable(weights, metadata)
    if position is not None:
        return position
    previous, previous_problem = _readable(weights + ".bkp", metadata + ".bkp")
    if previous is None:
        raise ConfigError(f"The backup in {backup_dir} is {problem}, and so is the previous one "
                          f"({previous_problem}); the run cannot resume. Pass --overwrite to start it over "
                          "(or restore the folder from a copy).")
    log(f"WARNING: the latest backup in {backup_dir} is {problem}; resuming from the previous one "
        f"(after epoch {previous['epoch']}, step {previous['step']}).")
    for name in (WEIGHTS, METADATA):
        if os.path.exists(os.path.join(backup_dir, name + ".bkp")):
            tmp = os.path.join(backup_dir, name + ".tmp")
            shutil.copyfile(os.path.join(backup_dir, name + ".bkp"), tmp)
            os.replace(tmp, os.path.join(backup_dir, name))
    return previous


def _agreement(strategy):
    """flag -> whether any worker's flag is set. Under MultiWorkerMirroredStrategy a SIGTERM
    reaches one worker; every worker must stop after the same step, or the others would wait
    in their next collective forever, so the flags are summed across workers at every step."""
    import tensorflow as tf
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return bool

    @tf.function
    def any_set(flag):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.identity(flag)), axis=None)

    def agree(flag):
        with strategy.scope():
            return bool(any_set(tf.constant(1.0 if flag else 0.0)) > 0)

    return agree


class StepBackup(keras.callbacks.Callback):
    """Backs up the training state at every epoch end and every `every_steps` steps (0: epoch
    ends only); on SIGTERM, at the end of the current step, backs up and raises Preempted.

    `start` is the position the run resumes from (usable_backup's result): the metric sums of
    a half-done epoch are restored so its log line equals an uninterrupted run's.
    """

    def __init__(self, backup_dir, steps_per_epoch, every_steps=0, start=None):
        super().__init__()
        self.backup_dir, self.steps_per_epoch, self.every_steps = backup_dir, int(steps_per_epoch), int(every_steps)
        self.start = start or {"epoch": 0, "step": 0, "metrics": None}
        self.epoch = self.step = 0
        self._preempt = threading.Event()
        self._previous_handler = None

    def on_train_begin(self, logs=None):
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM, lambda *_: self._preempt.set())
        self._agree = _agreement(self.model.distribute_strategy)

    def on_train_end(self, logs=None):
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.step = epoch, 0
        if epoch == self.start["epoch"] and self.start["step"]:
            self.step = self.start["step"]
            for metric, values in zip(self.model.metrics, self.start["metrics"] or []):
                for variable, value in zip(metric.variables, values):
                    variable.assign(np.asarray(value, variable.dtype))

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        mid_epoch = self.step < self.steps_per_epoch     # the epoch's end is saved by on_epoch_end
        preempted = self._agree(self._preempt.is_set())
        if mid_epoch and (preempted or (self.every_steps and self.step % self.every_steps == 0)):
            self.save(self.epoch, self.step)
        if preempted:
            self._preempt.set()
            if mid_epoch:
                raise Preempted(self.epoch, self.step)

    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1, 0)
        if self._agree(self._preempt.is_set()):   # every worker stops here, or none
            raise Preempted(epoch + 1, 0)

    def save(self, epoch, step):
        """Writes the backup of position (epoch finished epochs, step steps into the next one)."""
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = os.path.join(self.backup_dir, WEIGHTS)
        tmp = os.path.join(self.backup_dir, "saving.weights.h5")
        metrics = [[np.asarray(v).tolist() for v in m.variables] for m in self.model.metrics] if step else None
        position = {"epoch": int(epoch), "step": int(step), "metrics": metrics}
        self.model.save_weights(tmp)
        import h5py
        with h5py.File(tmp, "r+") as f:
            f.attrs["bkd_position"] = json.dumps(position)
        if os.path.exists(weights):
            os.replace(weights, weights + ".bkp")
            metadata = os.path.join(self.backup_dir, METADATA)
            if os.path.exists(metadata):
                os.replace(metadata, metadata + ".bkp")
        os.replace(tmp, weights)
        atomic_write_json(os.path.join(self.backup_dir, METADATA), {"epoch": int(epoch), "step": int(step)})


@contextlib.contextmanager
def disk_guard(folder, model=None):
    """Turns a full disk while writing under `folder` into disk_error's one-line ConfigError."""
    try:
        yield
    except OSError as err:
        raise _disk_error(err, folder, model) from None


def _is_disk_full(err):
    return getattr(err, "errno", None) == 28 or "No space left" in str(err) or "errno = 28" in str(err)


def _disk_error(err, stage_dir, model=None):
    """The error to raise for an OSError `err` during a stage's training.

    A full disk becomes one ConfigError naming the folder, the free space and about how much a
    backup needs; the half-written temporary backup is removed (the latest complete one is
    what a rerun resumes from). Other errors are returned unchanged.
    """
    if not _is_disk_full(err):
        return err
    leftover = os.path.join(stage_dir, "backup", "saving.weights.h5")
    if os.path.exists(leftover):        # never a final name: the last complete backup is intact
        os.remove(leftover)
    free = shutil.disk_usage(stage_dir).free
    needed = ""
    if model is not None:
        variables = list(model.variables) + list(getattr(model.optimizer, "variables", []))
        size = sum(int(v.numpy().nbytes) for v in variables)
        needed = f"; a backup of this stage needs about {2 * size / 2**20:.1f} MB (two copies)"
    where = getattr(err, "filename", None) or stage_dir
    return ConfigError(f"The disk is full: writing {where} failed with {free / 2**20:.1f} MB free{needed}. "
                       "Free some space and rerun the same command: it resumes from the last complete backup.")
