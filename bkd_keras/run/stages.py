"""One stage of a run (the teacher, or the student): train it, resume it, or reuse it finished."""

import functools
import os
import shutil
import time

import keras
import numpy as np

from bkd_keras.method import callbacks as callbacks_lib
from bkd_keras.scoring import evaluation
from bkd_keras.run import run_records
from bkd_keras.run.assembly import build_distiller, trainable_parameters
from bkd_keras.run.backup import StepBackup, disk_guard, usable_backup
from bkd_keras.method.distiller import reads_text
from bkd_keras.method.methods import teacher_method
from bkd_keras.run.export import write_vocabulary
from bkd_keras.run.io_utils import atomic_save_model, atomic_write_json, read_json
from bkd_keras.method.schedules import make_schedule
from bkd_keras.run.seeding import stage_seed
from data import eval_dataset, steps_per_epoch, train_dataset


def _callbacks(name, stage_dir, losses, num_images, steps, save_every_steps, start, val_keys=()):
    """The stage's callbacks; the first is Throughput, the last the StepBackup. `val_keys`: the
    validation-only log columns (the Distiller's test metrics')."""
    cbs = [callbacks_lib.Throughput(num_images, steps), callbacks_lib.LearningRateLogger(),
           callbacks_lib.StopOnNonFiniteLoss(name)] + losses.callbacks()
    os.makedirs(os.path.join(stage_dir, "checkpoints"), exist_ok=True)
    cbs += [
        # The log line of an epoch is written before its backup: a kill in between re-runs
        # the epoch, and run_records.trim_log drops the stale line on resume.
        callbacks_lib.RunCSVLogger(os.path.join(stage_dir, "log.csv"), val_keys=val_keys),
        keras.callbacks.TensorBoard(os.path.join(stage_dir, "tensorboard"), write_graph=False,
                                    update_freq="epoch", profile_batch=0),
        callbacks_lib.AtomicCheckpoint(os.path.join(stage_dir, "checkpoints", "last.weights.h5")),
        # Deleted only once the stage's model.keras and stage.json are written.
        StepBackup(os.path.join(stage_dir, "backup"), steps, save_every_steps, start),
    ]
    return cbs


def train_stage(name, method, dataset, config, strategy, teacher=None, epochs=None, log=print,
                extra_callbacks=(), model=None, started=None):
    """Trains (or resumes, or reuses a finished) stage in OUT/name; returns (model, info).

    `model`: the ModelConfig of the model trained here (default `config.model`); `started`:
    called before anything of the stage is written (the run folder's RunFolder.start).
    """
    stage_dir = os.path.join(config.run.output_dir, name)
    model_path = os.path.join(stage_dir, "model.keras")
    info_path = os.path.join(stage_dir, "stage.json")
    if os.path.exists(info_path) and os.path.exists(model_path):
        log(f"[{name}] finished earlier; reusing {model_path}")
        return keras.saving.load_model(model_path, compile=False), read_json(info_path)
    if started is not None:
        started()
    os.makedirs(stage_dir, exist_ok=True)
    epochs = epochs or config.optim.epochs
    seed = stage_seed(config.run.seed, name)
    keras.utils.set_random_seed(seed)
    steps, batch_size = steps_per_epoch(dataset, config.optim.batch_size), config.optim.batch_size
    schedule = make_schedule(config.optim, steps, epochs)
    distiller, losses = build_distiller(method, dataset, config, strategy, teacher, epochs, seed, model, schedule)
    shown = teacher_method(config.method) if name == "teacher" else config.method.method
    log(f"[{name}] {distiller.student.name}, method={shown} "
        f"({method.description}), {epochs} epochs, {trainable_parameters(distiller.student):,} trainable parameters, "
        f"mixup {'alpha ' + format(distiller.mixup_alpha, 'g') if distiller.mixup_alpha else 'off'}")
    log(f"[{name}] {schedule.describe(epochs)}" + (f"\n[{name}] note: {schedule.note}" if schedule.note else ""))
    start = usable_backup(os.path.join(stage_dir, "backup"), log)
    val_keys = [f"val_{k}" for m in distiller.test_metrics for k in m.result_names()]
    cbs = _callbacks(name, stage_dir, losses, len(dataset.train), steps, config.run.save_every_steps, start,
                     val_keys) + list(extra_callbacks)
    if start["epoch"] or start["step"]:
        distiller.load_weights(os.path.join(stage_dir, "backup", "latest.weights.h5"))
        log(f"[{name}] resuming at epoch {start['epoch'] + 1}, step {start['step']} (from {stage_dir}/backup)")
    run_records.trim_log(os.path.join(stage_dir, "log.csv"), start["epoch"])
    begin = time.time()
    evaluated = evaluation.eval_epochs(epochs, config.run.eval_every, config.run.eval_last_fraction)
    fit = dict(callbacks=cbs, validation_data=eval_dataset(dataset, 512) if evaluated else None,
               validation_freq=evaluated or 1, verbose=config.run.verbose, shuffle=False)
    # The data of epoch e depends only on (seed, e), mixup's draws of step k on (seed, k):
    # resuming at (epoch, step) replays exactly, the seen batches skipped before decoding.
    data = functools.partial(train_dataset, dataset, batch_size, seed=seed, mixup_alpha=distiller.mixup_alpha,
                             raw_text=reads_text(teacher))
    _fit(distiller, data, start, epochs, steps, fit, name, stage_dir)
    return distiller.student, _finish(distiller, cbs[0].history, begin, epochs, seed, dataset, stage_dir)


def _fit(distiller, data, start, epochs, steps, fit, name, stage_dir):
    """Fits epochs start["epoch"] .. epochs-1, first the rest of a half-done epoch if any."""
    try:
        with disk_guard(stage_dir, distiller):
            first = start["epoch"]
            if start["step"]:
                distiller.fit(data(start_epoch=first, start_step=start["step"]), initial_epoch=first,
                              epochs=first + 1, steps_per_epoch=steps - start["step"], **fit)
                first += 1
            if first < epochs:
                distiller.fit(data(start_epoch=first, repeat=True), initial_epoch=first, epochs=epochs,
                              steps_per_epoch=steps, **fit)
    except KeyboardInterrupt:
        saved = usable_backup(os.path.join(stage_dir, "backup"))
        raise KeyboardInterrupt(f"[{name}] interrupted; the backup in {stage_dir}/backup holds epochs up to "
                                f"{saved['epoch']}. Rerun the same command to resume.") from None


def _finish(distiller, rates, begin, epochs, seed, dataset, stage_dir):
    """Writes the finished stage (model.keras, stage.json), drops its backup; returns stage.json's dict."""
    info = {"epochs": epochs, "seconds": time.time() - begin,
            "images_per_sec": float(np.median(rates)) if rates else None,
            "images_per_sec_per_epoch": rates, "seed": seed,
            "backbone": distiller.student.name, "parameters": trainable_parameters(distiller.student),
            "test_curve": run_records.test_curve(os.path.join(stage_dir, "log.csv"))}
    with disk_guard(stage_dir, distiller):
        atomic_save_model(distiller.student, os.path.join(stage_dir, "model.keras"))
        if dataset.is_text:
            write_vocabulary(dataset.vocabulary, stage_dir)
        atomic_write_json(os.path.join(stage_dir, "stage.json"), info)
    shutil.rmtree(os.path.join(stage_dir, "backup"), ignore_errors=True)
    return info
