"""Shipping a finished run's trained model in the repo, checked against its reported accuracy
(the library of `bkd_keras/publish.py`; see its docstring for the folder it writes)."""

import dataclasses
import json
import os
import shutil

INFO_FILE = "published.json"
RUN_FILES = ("flags.json", "results.json")


class PublishError(ValueError):
    """A run that cannot be shipped; the message names the problem and the fix."""


def data_settings(flat, data_dir=None):
    """The DataConfig fields of a run's flags.json (flat names), with `data_dir` replaced if given."""
    from bkd_keras.run.config import DataConfig
    names = {f.name for f in dataclasses.fields(DataConfig)}
    values = {k: v for k, v in flat.items() if k in names}
    if data_dir:
        values["data_dir"] = data_dir
    return values


def load_test_data(settings):
    """The run's dataset rebuilt from `data_settings` (its long-tailed train counts, test split)."""
    from bkd_keras.run.config import TrainConfig
    from data import load_dataset
    return load_dataset(TrainConfig.flat(**settings).data)


def publish(run, name, models_dir, data_dir=None, tolerance=0.05, overwrite=False, log=print):
    """Re-evaluates RUN's exported model and copies it with its files to MODELS_DIR/NAME; returns
    the published.json dict."""
    from bkd_keras.run.assembly import load_teacher
    from bkd_keras.scoring.prediction import evaluate
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
            "data": data_settings(flat), "mean": [float(v) for v in dataset.mean],
            "std": [float(v) for v in dataset.std],
            "commit": code.get("commit"), "epochs": flat.get("epochs"),
            # a run's --method names its student; its teacher stage is always plain CE
            "method": "ce" if stage == "teacher" else flat.get("method"),
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
