"""One stage of a run (the teacher, or the student): build, train or resume, evaluate."""

import functools
import os
import shutil
import time

import keras
import numpy as np

from bkd_keras import callbacks as callbacks_lib
from bkd_keras import diagnostics, evaluation, run_folder
from bkd_keras.backup import StepBackup, disk_guard, usable_backup
from bkd_keras.config import ConfigError
from bkd_keras.distiller import Distiller, check_compatible, reads_text
from bkd_keras.export import read_vocabulary, write_vocabulary
from bkd_keras.folding import fold_batchnorm
from bkd_keras.io_utils import atomic_save_model, atomic_write_json, read_json
from bkd_keras.losses import effective_number_weights
from bkd_keras.optimizers import CoupledSGD
from bkd_keras.precision import policy_scope, with_precision
from bkd_keras.schedules import make_schedule
from bkd_keras.seeding import stage_seed
from data import eval_dataset, steps_per_epoch, train_dataset
from data.embeddings import embedding_matrix
from models import backbone_options, build_backbone


def load_teacher(path, dataset):
    """Loads a trained teacher (.keras) and checks it fits `dataset`."""
    if not os.path.isfile(path) or not path.endswith(".keras"):
        raise ConfigError(f"--teacher={path} is not a .keras file; pass the model.keras of a finished "
                          "teacher (RUN/teacher/model.keras or RUN/export/model.keras).")
    import models  # noqa: F401  (registers the backbones' custom layers)
    import zipfile
    if not zipfile.is_zipfile(path):      # Keras would say "File not found" for a file that exists
        raise ConfigError(f"--teacher={path} cannot be loaded as a Keras model (it is not a zip archive: "
                          "truncated, or another format); pass the model.keras of a finished teacher run.")
    try:
        teacher = keras.saving.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001  (a user's file: any failure to load is the same fault)
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise ConfigError(f"--teacher={path} cannot be loaded as a Keras model ({reason}); it is damaged or not "
                          "a model.keras. Pass the model.keras of a finished teacher run.") from None
    if teacher.output_shape[-1] != dataset.num_classes:
        raise ConfigError(f"The teacher {path} predicts {teacher.output_shape[-1]} classes but {dataset.name} has "
                          f"{dataset.num_classes}; train a teacher on this dataset (omit --teacher).")
    if dataset.is_text and read_vocabulary(os.path.dirname(path)) != dataset.vocabulary:
        raise ConfigError(f"The teacher {path} was trained with another vocabulary than this run's "
                          f"({os.path.dirname(path)}/vocabulary.txt differs or is missing): token ids would "
                          "mean different words. Train the teacher with the same text data and "
                          "--max_tokens, or omit --teacher.")
    if tuple(teacher.input_shape[1:]) != tuple(dataset.image_shape):
        raise ConfigError(f"The teacher {path} takes images of shape {tuple(teacher.input_shape[1:])} but "
                          f"{dataset.name} has {tuple(dataset.image_shape)}; use a teacher trained on this data.")
    return teacher


def _callbacks(name, stage_dir, losses, num_images, steps, save_every_steps, start):
    """The stage's callbacks; the first is Throughput, the last the StepBackup."""
    cbs = [callbacks_lib.Throughput(num_images, steps), callbacks_lib.LearningRateLogger(),
           callbacks_lib.StopOnNonFiniteLoss(name)] + losses.callbacks()
    os.makedirs(os.path.join(stage_dir, "checkpoints"), exist_ok=True)
    cbs += [
        # The log line of an epoch is written before its backup: a kill in between re-runs
        # the epoch, and run_folder.trim_log drops the stale line on resume.
        keras.callbacks.CSVLogger(os.path.join(stage_dir, "log.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(stage_dir, "tensorboard"), write_graph=False,
                                    update_freq="epoch", profile_batch=0),
        callbacks_lib.AtomicCheckpoint(os.path.join(stage_dir, "checkpoints", "last.weights.h5")),
        # Deleted only once the stage's model.keras and stage.json are written.
        StepBackup(os.path.join(stage_dir, "backup"), steps, save_every_steps, start),
    ]
    return cbs


def build_distiller(method, dataset, config, strategy, teacher=None, epochs=None, seed=None, model=None):
    """(Distiller, Losses): student + losses + optimizer inside `strategy.scope()`, compiled and built.

    `method`: a methods.Method; `seed`: the stage's seed (mixup, text embeddings' random
    init), default `config.run.seed`; `model`: the ModelConfig of the model trained here
    (default `config.model`, the student's).
    """
    epochs = epochs or config.optim.epochs
    seed = config.run.seed if seed is None else seed
    model = model or config.model
    steps = steps_per_epoch(dataset, config.optim.batch_size)
    embeddings = None
    if dataset.is_text:
        embeddings, _ = embedding_matrix(dataset.vocabulary, model.embeddings, model.embedding_dim, seed)
    with strategy.scope():
        with policy_scope(config.run.precision):
            student = build_backbone(model.backbone, dataset.num_classes, dataset.image_shape, method.head,
                                     embedding_matrix=embeddings, pretrained=model.pretrained,
                                     **backbone_options(model))
        losses = method.build(dataset.class_counts, config.method, epochs)
        if teacher is not None:
            check_compatible(teacher, student)
            if not reads_text(teacher):   # a preset teacher keeps its own precision
                teacher = with_precision(teacher, config.run.teacher_precision)  # a copy made in this scope
                if config.run.fold_teacher_batchnorm:
                    teacher = fold_batchnorm(teacher)
        distiller = Distiller(student, teacher, losses.classification, losses.distillation,
                              config.method.distillation_weight, method.mixup_alpha(config.method), seed=seed,
                              expert_targets=method.expert_targets and teacher is not None, name="distiller")
        optim = config.optim
        optimizer = CoupledSGD(make_schedule(optim, steps, epochs), momentum=optim.momentum, l2=optim.weight_decay)
        if config.run.precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        distiller.compile(optimizer=optimizer, jit_compile=config.run.jit_compile)
        distiller(np.zeros((1,) + tuple(dataset.image_shape), "int64" if dataset.is_text else "float32"))
        distiller.optimizer.build(distiller.trainable_variables)
    return distiller, losses


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
    distiller, losses = build_distiller(method, dataset, config, strategy, teacher, epochs, seed, model)
    log(f"[{name}] {distiller.student.name}, method={config.method.method if name != 'teacher' else 'ce'} "
        f"({method.description}), "
        f"{epochs} epochs, {_trainable_parameters(distiller.student):,} trainable parameters, "
        f"mixup {'alpha ' + format(distiller.mixup_alpha, 'g') if distiller.mixup_alpha else 'off'}")
    steps, batch_size = steps_per_epoch(dataset, config.optim.batch_size), config.optim.batch_size
    schedule = make_schedule(config.optim, steps, epochs)
    log(f"[{name}] {schedule.describe(epochs)}")
    if getattr(schedule, "note", None):
        log(f"[{name}] note: {schedule.note}")
    start = usable_backup(os.path.join(stage_dir, "backup"), log)
    cbs = _callbacks(name, stage_dir, losses, len(dataset.train), steps, config.run.save_every_steps, start) \
        + list(extra_callbacks)
    if start["epoch"] or start["step"]:
        distiller.load_weights(os.path.join(stage_dir, "backup", "latest.weights.h5"))
        log(f"[{name}] resuming at epoch {start['epoch'] + 1}, step {start['step']} (from {stage_dir}/backup)")
    run_folder.trim_log(os.path.join(stage_dir, "log.csv"), start["epoch"])
    begin = time.time()
    evaluated = evaluation.eval_epochs(epochs, config.run.eval_every, config.run.eval_last_fraction)
    fit = dict(callbacks=cbs, validation_data=eval_dataset(dataset, 512) if evaluated else None,
               validation_freq=evaluated or 1, verbose=config.run.verbose, shuffle=False)
    # The data of epoch e depends only on (seed, e), mixup's draws of step k on (seed, k):
    # resuming at (epoch, step) replays exactly, the seen batches skipped before decoding.
    data = functools.partial(train_dataset, dataset, batch_size, seed=seed, mixup_alpha=distiller.mixup_alpha,
                             raw_text=reads_text(teacher))
    try:
        with disk_guard(stage_dir, distiller):
            first = start["epoch"]
            if start["step"]:           # the rest of a half-done epoch, then the others
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
    rates = cbs[0].history
    info = {"epochs": epochs, "seconds": time.time() - begin,
            "images_per_sec": float(np.median(rates)) if rates else None,
            "images_per_sec_per_epoch": rates, "seed": seed,
            "backbone": distiller.student.name, "parameters": _trainable_parameters(distiller.student),
            "test_curve": run_folder.test_curve(os.path.join(stage_dir, "log.csv"))}
    with disk_guard(stage_dir, distiller):
        atomic_save_model(distiller.student, model_path)
        if dataset.is_text:
            write_vocabulary(dataset.vocabulary, stage_dir)
        atomic_write_json(info_path, info)
    shutil.rmtree(os.path.join(stage_dir, "backup"), ignore_errors=True)
    return distiller.student, info


def _trainable_parameters(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def predict_logits(model, dataset, split="test", verbose=0):
    """Logits (N, C) of `split` in dataset order.

    Under MultiWorkerMirroredStrategy Keras' `predict` shards the data across workers and the
    concatenated outputs are not in dataset order, so a local copy of the model predicts instead.
    """
    import tensorflow as tf
    if isinstance(getattr(model, "distribute_strategy", None), tf.distribute.MultiWorkerMirroredStrategy):
        local = keras.models.clone_model(model)     # outside the strategy's scope: not distributed
        local.set_weights(model.get_weights())
        model = local
    return model.predict(eval_dataset(dataset, 512, split, raw_text=reads_text(model)),
                         verbose=verbose)


def predict_with_experts(model, dataset, split="test", verbose="auto"):
    """(logits (N, C), experts' logits (N, E, C) or None): a multi-expert model's prediction is the
    mean of its experts' logits, so one pass gives both."""
    from models import expert_view
    view = expert_view(model)
    if view is None:
        return predict_logits(model, dataset, split, verbose=verbose), None
    experts = predict_logits(view, dataset, split, verbose=verbose)
    return experts.mean(1), experts


def evaluate(model, dataset, verbose="auto", groups="paper"):
    """The model's classification report on the test split (`groups`: evaluation.GROUP_RULES); a
    multi-expert model's also has "experts": each expert's own top1 / many / medium / few, to show
    what the ensemble adds."""
    logits, experts = predict_with_experts(model, dataset, verbose=verbose)
    report = evaluation.classification_report(dataset.test.labels, logits, dataset.class_counts, groups)
    if experts is not None:
        report["experts"] = [{k: r[k] for k in ("top1", "many", "medium", "few")} for r in (
            evaluation.classification_report(dataset.test.labels, experts[:, e], dataset.class_counts, groups)
            for e in range(experts.shape[1]))]
    return report


def check_teacher_fit(teacher, dataset, config, log=print):
    """The balanced target's agreement with the labels on the training split; warns if poor.
    A multi-expert teacher's report also has "experts": each expert's own (the targets of
    --method=bkd_per_expert)."""
    logits, experts = predict_with_experts(teacher, dataset, "train", verbose=0)
    weights = effective_number_weights(dataset.class_counts, config.method.beta)
    fit = lambda z: diagnostics.balanced_target_fit(z, dataset.train.labels, weights, config.method.temperature)
    report = fit(logits)
    log("balanced teacher target keeps the label (% of train images per class): "
        + ", ".join(f"{n} {v:.1f}" for n, v in zip(dataset.class_names, report["target_top1"]) if v is not None))
    if experts is not None:
        report["experts"] = [fit(experts[:, e]) for e in range(experts.shape[1])]
        for e, r in enumerate(report["experts"]):
            log(f"  expert {e}: " + str([round(v, 1) for v in r["target_top1"]]))
    warning = diagnostics.fit_warning(report, dataset.class_counts, class_names=dataset.class_names)
    if warning:
        log("WARNING: " + warning)
    return report
