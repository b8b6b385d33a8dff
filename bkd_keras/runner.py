"""A whole run: data, CE teacher, student by `method`, evaluation, reports, exports."""

import csv
import dataclasses
import json
import os
import shutil
import time

import keras
import numpy as np

from bkd_keras import callbacks as callbacks_lib
from bkd_keras import diagnostics, evaluation
from bkd_keras.config import ConfigError, TrainConfig
from bkd_keras.distiller import Distiller, check_compatible
from bkd_keras.export import export_classifier, read_vocabulary, write_vocabulary
from bkd_keras.io_utils import atomic_save_model, atomic_write_json, atomic_write_text, read_json
from bkd_keras.losses import effective_number_weights
from bkd_keras.methods import METHODS, build_losses, get_method
from bkd_keras.optimizers import CoupledSGD
from bkd_keras.precision import policy_scope, with_precision
from bkd_keras.schedules import SCHEDULES
from bkd_keras.seeding import stage_seed
from bkd_keras.strategies import is_chief, make_strategy, worker_id
from data import eval_dataset, load_dataset, steps_per_epoch, train_dataset
from data.embeddings import embedding_matrix
from models import build_backbone

_IGNORED_ON_RESUME = ("overwrite", "verbose", "output_dir")


def prepare_output_dir(config):
    """Creates the run folder; refuses to overwrite a finished or a different run."""
    out = config.output_dir
    flags_path = os.path.join(out, "flags.json")
    if os.path.exists(out) and config.overwrite:
        shutil.rmtree(out)
    if os.path.exists(os.path.join(out, "results.json")):
        raise ConfigError(f"{out} holds a finished run; pass --overwrite to replace it, or another --output_dir.")
    current = dataclasses.asdict(config)
    if os.path.exists(flags_path):
        previous = read_json(flags_path)
        defaults = dataclasses.asdict(TrainConfig())
        # A setting added to TrainConfig after the run started is unchanged if it has its default.
        changed = sorted(k for k in current if k not in _IGNORED_ON_RESUME
                         and _jsonable(previous.get(k, defaults[k])) != _jsonable(current[k]))
        if changed:
            raise ConfigError(f"{out} holds an unfinished run with other settings ({', '.join(changed)}); "
                              "rerun with its settings to resume, or pass --overwrite / another --output_dir.")
    os.makedirs(out, exist_ok=True)
    atomic_write_json(flags_path, {k: _jsonable(v) for k, v in current.items()})


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def load_teacher(path, dataset):
    """Loads a trained teacher (.keras) and checks it fits `dataset`."""
    if not os.path.isfile(path) or not path.endswith(".keras"):
        raise ConfigError(f"--teacher={path} is not a .keras file; pass the model.keras of a finished "
                          "teacher (RUN/teacher/model.keras or RUN/export/model.keras).")
    import models  # noqa: F401  (registers the backbones' custom layers)
    teacher = keras.saving.load_model(path, compile=False)
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


def _callbacks(name, stage_dir, method, config, num_images):
    cbs = [callbacks_lib.Throughput(num_images), callbacks_lib.LearningRateLogger(),
           callbacks_lib.StopOnNonFiniteLoss(name)]
    if method.deferred:
        cbs.append(callbacks_lib.DeferredReweighting(config.bkd_start_epoch))
    os.makedirs(os.path.join(stage_dir, "checkpoints"), exist_ok=True)
    cbs += [
        # The log line of an epoch is written before its backup: a kill in between re-runs
        # the epoch, and _trim_log drops the stale line on resume.
        keras.callbacks.CSVLogger(os.path.join(stage_dir, "log.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(stage_dir, "tensorboard"), write_graph=False,
                                    update_freq="epoch", profile_batch=0),
        callbacks_lib.AtomicCheckpoint(os.path.join(stage_dir, "checkpoints", "last.weights.h5")),
        # Deleted only once the stage's model.keras and stage.json are written; the previous
        # backup is kept while a new one is written (a kill mid-save falls back to it).
        keras.callbacks.BackupAndRestore(os.path.join(stage_dir, "backup"), delete_checkpoint=False,
                                         double_checkpoint=True),
    ]
    return cbs


def _trim_log(path, first_epoch):
    """Drops log.csv lines of epochs >= first_epoch (written, but not backed up, before a kill)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    keep = lines[:1] + [line for line in lines[1:] if line.split(",", 1)[0].strip().isdigit()
                        and int(line.split(",", 1)[0]) < first_epoch]
    if len(keep) != len(lines):
        atomic_write_text(path, "".join(keep))


def build_distiller(method, dataset, config, strategy, teacher=None, epochs=None, seed=None):
    """Student + losses + optimizer inside `strategy.scope()`, compiled and built.

    `seed`: the stage's seed (mixup, text embeddings' random init); default `config.seed`.
    """
    epochs = epochs or config.epochs
    seed = config.seed if seed is None else seed
    steps = steps_per_epoch(dataset, config.batch_size)
    embeddings = None
    if dataset.is_text:
        embeddings, _ = embedding_matrix(dataset.vocabulary, config.embeddings, config.embedding_dim, seed)
    with strategy.scope():
        with policy_scope(config.precision):
            student = build_backbone(config.backbone, dataset.num_classes, dataset.image_shape, method.head,
                                     embedding_matrix=embeddings, pretrained=config.pretrained)
        classification, distillation = build_losses(
            method, dataset.class_counts, config.beta, config.temperature, config.bkd_start_epoch,
            la_tau=config.la_tau, ldam_max_margin=config.ldam_max_margin, ldam_scale=config.ldam_scale)
        if teacher is not None:
            check_compatible(teacher, student)
            teacher = with_precision(teacher, config.teacher_precision)  # a copy made in this scope
        distiller = Distiller(student, teacher, classification, distillation, config.distillation_weight,
                              config.mixup_alpha if method.mixup else 0.0, seed=seed,
                              name="distiller")
        schedule = SCHEDULES[config.lr_schedule](config.learning_rate, steps, epochs,
                                                 warmup_epochs=config.warmup_epochs, decay_at=config.lr_decay_at,
                                                 decay=config.lr_decay)
        optimizer = CoupledSGD(schedule, momentum=config.momentum, l2=config.weight_decay)
        if config.precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        distiller.compile(optimizer=optimizer, jit_compile=config.jit_compile)
        distiller(np.zeros((1,) + tuple(dataset.image_shape), "int64" if dataset.is_text else "float32"))
        distiller.optimizer.build(distiller.trainable_variables)
    return distiller


def _resume_epoch(backup_dir):
    """First epoch still to train according to BackupAndRestore's metadata (0 if none)."""
    path = os.path.join(backup_dir, "training_metadata.json")
    return int(read_json(path).get("epoch", 0)) if os.path.exists(path) else 0


def train_stage(name, method, dataset, config, strategy, teacher=None, epochs=None, log=print,
                extra_callbacks=()):
    """Trains (or resumes, or reuses a finished) stage in OUT/name; returns (model, info)."""
    stage_dir = os.path.join(config.output_dir, name)
    model_path = os.path.join(stage_dir, "model.keras")
    info_path = os.path.join(stage_dir, "stage.json")
    if os.path.exists(info_path) and os.path.exists(model_path):
        log(f"[{name}] finished earlier; reusing {model_path}")
        return keras.saving.load_model(model_path, compile=False), read_json(info_path)
    os.makedirs(stage_dir, exist_ok=True)
    epochs = epochs or config.epochs
    seed = stage_seed(config.seed, name)
    keras.utils.set_random_seed(seed)
    distiller = build_distiller(method, dataset, config, strategy, teacher, epochs, seed)
    log(f"[{name}] method={config.method if name != 'teacher' else 'ce'} ({method.description}), "
        f"{epochs} epochs, {_trainable_parameters(distiller.student):,} trainable parameters, "
        f"mixup {'alpha ' + format(distiller.mixup_alpha, 'g') if distiller.mixup_alpha else 'off'}")
    cbs = _callbacks(name, stage_dir, method, config, len(dataset.train)) + list(extra_callbacks)
    first_epoch = _resume_epoch(os.path.join(stage_dir, "backup"))
    _trim_log(os.path.join(stage_dir, "log.csv"), first_epoch)
    if first_epoch:
        log(f"[{name}] resuming after epoch {first_epoch} (from {stage_dir}/backup)")
    start = time.time()
    # The data of epoch e depends only on (seed, e): resuming at first_epoch replays exactly.
    data = train_dataset(dataset, config.batch_size, seed=seed, start_epoch=first_epoch, repeat=True)
    evaluated = evaluation.eval_epochs(epochs, config.eval_every, config.eval_last_fraction)
    try:
        distiller.fit(data, epochs=epochs, steps_per_epoch=steps_per_epoch(dataset, config.batch_size),
                      callbacks=cbs, validation_data=eval_dataset(dataset, 512) if evaluated else None,
                      validation_freq=evaluated or 1, verbose=config.verbose, shuffle=False)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"[{name}] interrupted; epochs up to {_resume_epoch(os.path.join(stage_dir, 'backup'))} "
                                f"are saved in {stage_dir}/backup. Rerun the same command to resume.") from None
    rates = cbs[0].history
    info = {"epochs": epochs, "seconds": time.time() - start,
            "images_per_sec": float(np.median(rates)) if rates else None,
            "images_per_sec_per_epoch": rates, "seed": seed,
            "test_curve": _test_curve(os.path.join(stage_dir, "log.csv"))}
    atomic_save_model(distiller.student, model_path)
    if dataset.is_text:
        write_vocabulary(dataset.vocabulary, stage_dir)
    atomic_write_json(info_path, info)
    shutil.rmtree(os.path.join(stage_dir, "backup"), ignore_errors=True)
    return distiller.student, info


def _test_curve(log_path):
    if not os.path.exists(log_path):
        return None
    with open(log_path) as f:
        return evaluation.test_curve(list(csv.DictReader(f)))


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
    return model.predict(eval_dataset(dataset, 512, split), verbose=verbose)


def evaluate(model, dataset, verbose="auto"):
    logits = predict_logits(model, dataset, verbose=verbose)
    return evaluation.classification_report(dataset.test.labels, logits, dataset.class_counts)


def load_config_dataset(config):
    """The long-tailed dataset a TrainConfig describes."""
    return load_dataset(config.dataset, data_dir=config.data_dir, imbalance_type=config.imbalance_type,
                        imbalance_ratio=config.imbalance_ratio, subset_seed=config.subset_seed,
                        max_per_class=config.max_per_class, image_size=config.image_size,
                        train_list=config.train_list, test_list=config.test_list,
                        tfds_download=config.tfds_download, mean=config.mean, std=config.std,
                        max_tokens=config.max_tokens, sequence_length=config.sequence_length,
                        resized_crop=config.augmentation == "resized_crop")


def read_run_config(run_dir):
    """The TrainConfig of a run folder, from its flags.json."""
    path = os.path.join(run_dir, "flags.json")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} is not a run folder (no flags.json); pass the --output_dir of a run.")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in read_json(path).items() if k in names}
    for key in ("image_size", "mean", "std", "lr_decay_at"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return TrainConfig(**values)


def load_run(run_dir, cache=None):
    """(config, dataset, exported model) of a finished run folder.

    `cache` (a dict) shares the dataset between runs of one data setting.
    """
    import models  # noqa: F401  (registers the backbones' custom layers)
    config = read_run_config(run_dir)
    path = os.path.join(run_dir, "export", "model.keras")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} has no export/model.keras; is the run finished?")
    key = json.dumps({k: str(getattr(config, k)) for k in ("dataset", "data_dir", "imbalance_type", "imbalance_ratio",
                      "subset_seed", "max_per_class", "max_tokens", "sequence_length", "augmentation", "image_size")})
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = load_config_dataset(config)
    return config, cache[key], keras.saving.load_model(path, compile=False)


def check_teacher_fit(teacher, dataset, config, log=print):
    """The balanced target's agreement with the labels on the training split; warns if poor."""
    logits = predict_logits(teacher, dataset, "train")
    weights = effective_number_weights(dataset.class_counts, config.beta)
    report = diagnostics.balanced_target_fit(logits, dataset.train.labels, weights, config.temperature)
    log("balanced teacher target keeps the label (% of train images per class): "
        + str([round(v, 1) for v in report["target_top1"]]))
    warning = diagnostics.fit_warning(report, dataset.class_counts)
    if warning:
        log("WARNING: " + warning)
    return report


def run(config, log=print, extra_callbacks=()):
    """Runs the configured stages; returns the results dict also written to results.json.

    `extra_callbacks`: Keras callbacks added to every stage's `fit`.
    """
    config.validate()
    try:
        strategy = make_strategy(config.strategy)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not is_chief(strategy):
        # Every worker runs the same steps; only the chief writes the run's files. A worker keeps
        # its own logs and resume state in a hidden sub-folder, and prints nothing.
        config = dataclasses.replace(config, output_dir=os.path.join(config.output_dir,
                                                                     f".worker{worker_id(strategy)}"))
        log = lambda *_: None  # noqa: E731
    prepare_output_dir(config)
    method = get_method(config.method)
    dataset = load_config_dataset(config)
    log(dataset.summary())
    log(f"train counts per class: {dataset.class_counts.tolist()}")
    if config.batch_size > len(dataset.train):
        raise ConfigError(f"--batch_size={config.batch_size} is larger than the {len(dataset.train)} "
                          "training examples; lower it.")

    teacher, stages, reports = None, {}, {}
    teacher_path = os.path.join(config.output_dir, "teacher", "model.keras")
    wants_teacher = config.stage == "teacher" or method.needs_teacher
    if config.teacher:
        teacher = load_teacher(config.teacher, dataset)
    elif wants_teacher:
        if config.stage == "student" and not os.path.exists(teacher_path):
            raise ConfigError(f"--stage=student with --method={config.method} needs a teacher: pass "
                              "--teacher=PATH.keras, or run --stage=teacher (or all) first.")
        teacher, stages["teacher"] = train_stage("teacher", METHODS["ce"], dataset, config, strategy,
                                                 epochs=config.teacher_epochs_resolved, log=log,
                                                 extra_callbacks=extra_callbacks)
    if teacher is not None:
        reports["teacher"] = evaluate(teacher, dataset, config.verbose)
    teacher_fit = None
    if teacher is not None and method.distillation == "bkd" and config.stage != "teacher":
        teacher_fit = check_teacher_fit(teacher, dataset, config, log)

    final = teacher
    if config.stage != "teacher":
        final, stages["student"] = train_stage(
            "student", method, dataset, config, strategy,
            teacher=teacher if method.needs_teacher else None, log=log, extra_callbacks=extra_callbacks)
        reports[f"student ({config.method})"] = evaluate(final, dataset, config.verbose)

    export_dir = os.path.join(config.output_dir, "export")
    export_classifier(final, export_dir, dataset.mean, dataset.std, dataset.vectorizer)
    table = evaluation.comparison_table(reports, dataset.class_names, dataset.class_counts)
    results = {
        "config": {k: _jsonable(v) for k, v in dataclasses.asdict(config).items()},
        "dataset": {"name": dataset.name, "class_names": list(dataset.class_names),
                    "train_counts": dataset.class_counts.tolist(), "train_size": len(dataset.train),
                    "test_size": len(dataset.test), "image_shape": list(dataset.image_shape)},
        "stages": stages,
        "reports": reports,
        "teacher_fit": teacher_fit,
        "exports": {"saved_model": os.path.join(export_dir, "saved_model"),
                    "keras": os.path.join(export_dir, "model.keras")},
    }
    atomic_write_json(os.path.join(config.output_dir, "results.json"), results)
    log("\n" + table)
    log(f"\nResults: {os.path.join(config.output_dir, 'results.json')}; exported model: {export_dir}")
    return results
