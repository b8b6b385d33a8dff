"""A whole run, as the paper's Algorithm 1: a CE teacher, then a student by `method`.

Data -> teacher (trained, resumed or given) -> student (CE + the method's distillation
term, mixup) -> evaluation, export, results.json. A stage's model is put together in
assembly.py, trained in stages.py and evaluated in prediction.py; the run folder is
run_folder.py; each part of the config is checked by the module that uses it.
"""

import dataclasses
import os

from bkd_keras.scoring import evaluation, prediction
from bkd_keras.run import run_folder, run_records, stages
from bkd_keras.run.assembly import load_teacher
from bkd_keras.run.backup import disk_guard, stop_on_sigterm
from bkd_keras.run.config import ConfigError
from bkd_keras.run.export import export_classifier
from bkd_keras.run.litert import check_kinds
from bkd_keras.run.io_utils import atomic_write_json
from bkd_keras.method.methods import METHODS, teacher_method
from bkd_keras.run.precision import PRECISIONS
from bkd_keras.run.strategies import STRATEGIES, is_chief, make_strategy, set_threads, worker_id

STAGES = ("all", "teacher", "student")


def check_run_config(config):
    """Raises ConfigError for a RunConfig that cannot run."""
    def choice(flag, value, valid):
        if value not in valid:
            raise ConfigError(f"Unknown --{flag}={value!r}. Valid values: {', '.join(sorted(valid))}.")
    choice("strategy", config.strategy, STRATEGIES)
    choice("precision", config.precision, PRECISIONS)
    choice("teacher_precision", config.teacher_precision, PRECISIONS)
    choice("stage", config.stage, STAGES)
    choice("class_groups", config.class_groups, evaluation.GROUP_RULES)
    if config.threads < 0:
        raise ConfigError(f"--threads must be >= 0 (0: TensorFlow's defaults), got {config.threads}.")
    if config.save_every_steps < 0:
        raise ConfigError(f"--save_every_steps must be >= 0 (0: back up at epoch ends only), got {config.save_every_steps}.")
    if not 0 <= config.eval_last_fraction <= 1:
        raise ConfigError(f"--eval_last_fraction must be in [0, 1], got {config.eval_last_fraction}.")
    if config.teacher and config.stage == "teacher":
        raise ConfigError("--teacher gives a trained teacher, so --stage=teacher has nothing to do.")


def _check_teacher_sources(config):
    """At most one way to get the teacher: --teacher=FILE, --teacher_hub_preset, or trained here."""
    model, run = config.model, config.run
    if run.teacher and (model.teacher_hub_preset or model.teacher_backbone or model.teacher_pretrained):
        raise ConfigError("--teacher gives a trained teacher, so --teacher_hub_preset / --teacher_backbone / "
                          "--teacher_pretrained have nothing to do; pass one way to get the teacher.")
    if model.teacher_hub_preset and run.stage == "teacher":
        raise ConfigError("--teacher_hub_preset gives the teacher, so --stage=teacher has nothing to do.")
    if model.teacher_hub_preset:
        from bkd_keras.run.hub_teacher import check_location
        check_location(model.teacher_hub_preset)      # before any data is read


def validate(config):
    """Checks every part of `config` with the module that consumes it; returns the config."""
    import models
    from bkd_keras.method import methods, optimizers
    from data import registry
    info = registry.check_config(config.data)
    text = info.modality == "text"
    try:
        models.check_config(config.model, text, config.data.dataset)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    methods.check_config(config.method, text, config.model.backbone in models.MULTI_EXPERT)
    optimizers.check_config(config.optim)
    check_run_config(config.run)
    check_kinds(config.run.export_litert, text, config.data.augmentation == "resized_crop")
    _check_teacher_sources(config)
    return config


def run(config, log=print, extra_callbacks=()):
    """Runs the configured stages; returns the results dict also written to results.json.

    `extra_callbacks`: Keras callbacks added to every stage's `fit`.
    """
    from bkd_keras.method import optimizers
    from data import load_dataset
    validate(config)
    optim, notes = optimizers.resolve(config.optim)
    config = dataclasses.replace(config, optim=optim)
    set_threads(config.run.threads, log)
    try:
        strategy = make_strategy(config.run.strategy)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not is_chief(strategy):
        # Every worker runs the same steps; only the chief writes the run's files. A worker keeps
        # its own logs and resume state in a hidden sub-folder, and prints nothing.
        config = config.replace(output_dir=os.path.join(config.run.output_dir, f".worker{worker_id(strategy)}"))
        log = lambda *_: None  # noqa: E731
    for note in notes:
        log(f"note: {note}")
    folder = run_folder.RunFolder(config)
    folder.check()                       # before any data is read: nothing is touched yet
    method = METHODS[config.method.method]
    stage = config.run.stage
    dataset = load_dataset(config.data)
    for note in dataset.notes:
        log(f"WARNING: {note}")
    log(dataset.summary())
    log(f"train counts per class: {dataset.class_counts.tolist()}")
    if config.optim.batch_size > len(dataset.train):
        raise ConfigError(f"--batch_size={config.optim.batch_size} is larger than the {len(dataset.train)} "
                          "training examples; lower it.")
    with folder.opened(dataset):
        train = dict(dataset=dataset, config=config, strategy=strategy, log=log, extra_callbacks=extra_callbacks,
                     started=folder.start)
        with stop_on_sigterm(lambda: _saved(config.run.output_dir)):
            return _stages(method, stage, train, folder)


def _saved(out):
    """What of a run is on disk, for a message (finished stages and a stage's backup)."""
    parts = []
    for name in ("teacher", "student"):
        if os.path.exists(os.path.join(out, name, "stage.json")):
            parts.append(f"the {name} is trained ({out}/{name}/model.keras)")
        elif os.path.isdir(os.path.join(out, name, "backup")):
            parts.append(f"the {name}'s backup is in {out}/{name}/backup")
    return "; ".join(parts) or "no stage had started training"


def _stages(method, stage, train, folder):
    """The teacher, then the student, in an opened run folder; returns the results."""
    config, dataset, strategy, log = train["config"], train["dataset"], train["strategy"], train["log"]
    # 1. The teacher: plain CE on the long-tailed set (or a given one).
    teacher, infos = _teacher(method, stage, train, strategy)
    reports, teacher_fit = {}, None
    if teacher is not None:
        reports["teacher"] = prediction.evaluate(teacher, dataset, config.run.verbose, config.run.class_groups)
    if teacher is not None and method.distillation == "bkd" and stage != "teacher":
        teacher_fit = prediction.check_teacher_fit(teacher, dataset, config, log)

    # 2. The student: CE + the method's (balanced) distillation term from the frozen teacher.
    final = teacher
    if stage != "teacher":
        final, infos["student"] = stages.train_stage(
            "student", method, teacher=teacher if method.needs_teacher else None, **train)
        reports[f"student ({config.method.method})"] = prediction.evaluate(final, dataset, config.run.verbose,
                                                                      config.run.class_groups)
    folder.start()                       # every stage was reused: the folder is in use all the same
    return _finish(config, dataset, final, infos, reports, teacher_fit, log)


def _teacher(method, stage, train, strategy):
    """(teacher model or None, {"teacher": stage info} if trained here) for the run's stage choice."""
    config, infos = train["config"], {}
    teacher_path = os.path.join(config.run.output_dir, "teacher", "model.keras")
    if config.run.teacher:
        return load_teacher(config.run.teacher, train["dataset"]), infos
    if config.model.teacher_hub_preset:
        from bkd_keras.run.hub_teacher import load_preset_teacher
        with strategy.scope():
            return load_preset_teacher(config.model.teacher_hub_preset, train["dataset"].num_classes), infos
    if not (stage == "teacher" or method.needs_teacher):
        return None, infos
    if stage == "student" and not os.path.exists(teacher_path):
        raise ConfigError(f"--stage=student with --method={config.method.method} needs a teacher: pass "
                          "--teacher=PATH.keras, or run --stage=teacher (or all) first.")
    teacher, infos["teacher"] = stages.train_stage("teacher", METHODS[teacher_method(config.method)],
                                                   epochs=config.optim.teacher_epochs_resolved,
                                                   model=config.model.for_teacher(), **train)
    return teacher, infos


def _finish(config, dataset, final, infos, reports, teacher_fit, log):
    """Exports the final model and writes results.json; returns the results."""
    export_dir = os.path.join(config.run.output_dir, "export")
    with disk_guard(config.run.output_dir):
        export_classifier(final, export_dir, dataset.mean, dataset.std, dataset.vectorizer)
    exports = {"saved_model": os.path.join(export_dir, "saved_model"), "keras": os.path.join(export_dir, "model.keras")}
    if config.run.export_litert:
        exports["litert"] = _export_litert(config, dataset, final, export_dir, log)
    results = {
        "config": run_records.flat_settings(config),
        "dataset": {"name": dataset.name, "class_names": list(dataset.class_names),
                    "train_counts": dataset.class_counts.tolist(), "train_size": len(dataset.train),
                    "test_size": len(dataset.test), "image_shape": list(dataset.image_shape)},
        "stages": infos,
        "reports": reports,
        "teacher_fit": teacher_fit,
        "exports": exports,
    }
    with disk_guard(config.run.output_dir):
        atomic_write_json(os.path.join(config.run.output_dir, "results.json"), results)
    log("\n" + evaluation.comparison_table(reports, dataset.class_names, dataset.class_counts))
    log(f"\nResults: {os.path.join(config.run.output_dir, 'results.json')}; exported model: {export_dir}")
    return results


def _export_litert(config, dataset, final, export_dir, log):
    """EXPORT/litert/model_<kind>.tflite for --export_litert; {kind: path}."""
    from bkd_keras.run.litert import export_model
    with disk_guard(config.run.output_dir):
        paths = export_model(final, dataset, os.path.join(export_dir, "litert"), config.run.export_litert,
                             seed=config.run.seed)
    log("LiteRT: " + ", ".join(f"{k} {os.path.getsize(p) / 1e6:.2f} MB" for k, p in paths.items()))
    return paths
