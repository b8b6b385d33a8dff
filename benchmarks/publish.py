"""Ship a finished run's trained model in the repo, checked against its reported accuracy.

    python -m benchmarks.publish --run=benchmarks/runs/cifar10-exp100-e200-s0-ce \
        --name=cifar10_lt100_resnet32_ce_e200

writes benchmarks/models/NAME/:
  model.keras       the run's export/model.keras (reuse it with --teacher=.../model.keras);
  vocabulary.txt    text models only, the token of each id (--teacher checks it);
  flags.json, results.json   the run's own files (its full settings and reports);
  published.json    {"top1": the run's reported last-epoch top-1 (%), "reproduced_top1", "data":
                    the data settings to rebuild its test split, "mean"/"std" used, "commit",
                    "epochs", "method", "backbone", "precision", "run"}.

The model is evaluated again on the test split before anything is written; publishing stops
with an error if its top-1 differs from the reported one by more than --tolerance points.
tests/test_shipped_models.py repeats that check and serves each model through its SavedModel.
"""

import dataclasses
import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("run", None, "A finished run folder (with export/model.keras and results.json).")
flags.DEFINE_string("name", None, "Folder name under --models_dir, e.g. cifar10_lt100_resnet32_ce_e200.")
flags.DEFINE_string("models_dir", "benchmarks/models", "Where shipped models live (committed).")
flags.DEFINE_string("data_dir", None, "The data tree, when it is not where the run found it.")
flags.DEFINE_float("tolerance", 0.05, "Largest accepted |re-evaluated - reported| top-1, in points.")
flags.DEFINE_bool("overwrite", False, "Replace an already published NAME.")
flags.mark_flags_as_required(["run", "name"])
FLAGS = flags.FLAGS

INFO_FILE = "published.json"
RUN_FILES = ("flags.json", "results.json")


class PublishError(ValueError):
    """A run that cannot be shipped; the message names the problem and the fix."""


def data_settings(flat, data_dir=None):
    """The DataConfig fields of a run's flags.json (flat names), with `data_dir` replaced if given."""
    from bkd_keras.config import DataConfig
    names = {f.name for f in dataclasses.fields(DataConfig)}
    values = {k: v for k, v in flat.items() if k in names}
    if data_dir:
        values["data_dir"] = data_dir
    return values


def load_test_data(settings):
    """The run's dataset rebuilt from `data_settings` (its long-tailed train counts, test split)."""
    from bkd_keras.config import DataConfig
    from data import load_dataset
    return load_dataset(DataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}))


def publish(run, name, models_dir, data_dir=None, tolerance=0.05, overwrite=False, log=print):
    """Re-evaluates RUN's exported model and copies it with its files to MODELS_DIR/NAME; returns
    the published.json dict."""
    from bkd_keras.stages import evaluate, load_teacher
    model_path = os.path.join(run, "export", "model.keras")
    for path in (model_path, *(os.path.join(run, f) for f in RUN_FILES)):
        if not os.path.isfile(path):
            raise PublishError(f"{run} is not a finished run: {path} is missing. Publish a run whose "
                               "training has finished (the runner writes results.json last).")
    target = os.path.join(models_dir, name)
    if os.path.exists(target) and not overwrite:
        raise PublishError(f"{target} exists; pass --overwrite to replace it, or choose another --name.")
    with open(os.path.join(run, "flags.json")) as f:
        flat = json.load(f)
    with open(os.path.join(run, "results.json")) as f:
        results = json.load(f)
    stage, reported = list(results["reports"].items())[-1]
    settings = data_settings(flat, data_dir)
    dataset = load_test_data(settings)
    model = load_teacher(model_path, dataset)          # checks classes, input shape, vocabulary
    top1 = evaluate(model, dataset, verbose=0)["top1"]
    log(f"{stage}: reported top-1 {reported['top1']:.2f}, re-evaluated {top1:.2f}")
    if abs(top1 - reported["top1"]) > tolerance:
        raise PublishError(f"{model_path} scores {top1:.2f} on the test split but its run reported "
                           f"{reported['top1']:.2f}: the data (--data_dir, its normalisation) or the model "
                           "file differ from the run's. Nothing was published.")
    code = {}
    if os.path.exists(os.path.join(run, "code.json")):
        with open(os.path.join(run, "code.json")) as f:
            code = json.load(f)
    info = {"top1": reported["top1"], "reproduced_top1": top1, "stage": stage,
            "data": data_settings(flat), "mean": [float(v) for v in dataset.mean] if dataset.mean is not None else None,
            "std": [float(v) for v in dataset.std] if dataset.std is not None else None,
            "commit": code.get("commit"), "epochs": flat.get("epochs"), "method": flat.get("method"),
            "backbone": flat.get("backbone"), "precision": flat.get("precision"),
            "run": os.path.basename(os.path.normpath(run))}
    tmp = target + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    shutil.copyfile(model_path, os.path.join(tmp, "model.keras"))
    vocabulary = os.path.join(run, "export", "vocabulary.txt")
    if os.path.exists(vocabulary):
        shutil.copyfile(vocabulary, os.path.join(tmp, "vocabulary.txt"))
    for f in RUN_FILES:
        shutil.copyfile(os.path.join(run, f), os.path.join(tmp, f))
    with open(os.path.join(tmp, INFO_FILE), "w") as f:
        json.dump(info, f, indent=1)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    log(f"published {target} ({os.path.getsize(os.path.join(target, 'model.keras')) / 1e6:.1f} MB)")
    return info


def main(argv):
    del argv
    from bkd_keras.config import ConfigError
    try:
        publish(FLAGS.run, FLAGS.name, FLAGS.models_dir, FLAGS.data_dir, FLAGS.tolerance, FLAGS.overwrite)
    except (PublishError, ConfigError) as err:
        raise app.UsageError(str(err)) from None


if __name__ == "__main__":
    app.run(main)
