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


def _model_path(run):
    """RUN/export/model.keras of a finished run, or RUN/model.keras of a shipped model (re-publishing)."""
    shipped = os.path.join(run, "model.keras")
    return shipped if os.path.isfile(os.path.join(run, INFO_FILE)) and os.path.isfile(shipped) \
        else os.path.join(run, "export", "model.keras")


def _stock(model, dataset, top1, tolerance, log):
    """The file to ship: for images the stock-Keras classifier (run/stock_model.py: uint8 in, built-in
    layers), checked on the raw test images; else (text, or a layer without a built-in twin) `model`."""
    from bkd_keras.run.stock_model import StockModelError, stock_classifier
    if dataset.is_text or dataset.test.images is None:       # token ids, or files resized in the pipeline
        return model, False
    try:
        stock = stock_classifier(model, dataset.mean, dataset.std)
    except StockModelError as err:
        log(f"shipping the project's model file (it needs `import models` to load): {err}")
        return model, False
    logits = stock.predict(dataset.test.images, batch_size=500, verbose=0)
    stock_top1 = 100.0 * float((logits.argmax(1) == dataset.test.labels).mean())
    if abs(stock_top1 - top1) > tolerance:
        raise PublishError(f"The stock-Keras copy scores {stock_top1:.2f} on the raw test images, the model "
                           f"{top1:.2f}: a layer's built-in twin computes something else (run/stock_model.py).")
    log(f"stock-Keras copy (uint8 in, built-in layers): top-1 {stock_top1:.2f}")
    return stock, True


def publish(run, name, models_dir, data_dir=None, tolerance=0.05, overwrite=False, log=print):
    """Re-evaluates RUN's exported model (or a shipped model's folder) and writes it, as a stock-Keras
    classifier where it can, with its files to MODELS_DIR/NAME; returns the published.json dict."""
    from bkd_keras.run.assembly import load_teacher
    from bkd_keras.scoring.prediction import evaluate
    model_path = _model_path(run)
    for path in (model_path, *(os.path.join(run, f) for f in RUN_FILES)):
        if not os.path.isfile(path):
            raise PublishError(f"{run} is not a finished run: {path} is missing. Publish a run whose "
                               "training has finished (the runner writes results.json last).")
    target = os.path.join(models_dir, name)
    if os.path.exists(target) and not overwrite:
        raise PublishError(f"{target} exists; pass --overwrite to replace it, or choose another --name.")
    flat, results, code, previous = (_read_json(run, f) for f in ("flags.json", "results.json", "code.json", INFO_FILE))
    stage, reported = list(results["reports"].items())[-1]
    settings = data_settings(flat, data_dir)
    dataset = load_test_data(settings)
    model = load_teacher(model_path, dataset)          # checks classes, input shape, vocabulary, normalisation
    top1 = evaluate(model, dataset, verbose=0)["top1"]
    log(f"{stage}: reported top-1 {reported['top1']:.2f}, re-evaluated {top1:.2f}")
    if abs(top1 - reported["top1"]) > tolerance:
        raise PublishError(f"{model_path} scores {top1:.2f} on the test split but its run reported "
                           f"{reported['top1']:.2f}: the data (--data_dir, its normalisation) or the model "
                           "file differ from the run's. Nothing was published.")
    shipped, stock = _stock(model, dataset, top1, tolerance, log)
    info = {"top1": reported["top1"], "reproduced_top1": top1, "stage": stage,
            "data": data_settings(flat), "mean": [float(v) for v in dataset.mean],
            "std": [float(v) for v in dataset.std], "class_names": list(map(str, dataset.class_names)),
            "input": "uint8 images (B, H, W, C), normalised inside" if stock else
                     ("token ids (B, L)" if dataset.is_text else "normalised float images (B, H, W, C)"),
            "loads_without_bkd_keras": stock,
            "commit": code.get("commit", previous.get("commit")), "epochs": flat.get("epochs"),
            # a run's --method names its student; its teacher stage trains with --teacher_method's
            "method": _teacher_method(flat) if stage == "teacher" else flat.get("method"),
            "backbone": flat.get("backbone"), "precision": flat.get("precision"),
            "run": previous.get("run", os.path.basename(os.path.normpath(run)))}
    _write(target, shipped, run, model_path, info)
    log(f"published {target} ({os.path.getsize(os.path.join(target, 'model.keras')) / 1e6:.1f} MB)")
    return info


def _teacher_method(flat):
    from bkd_keras.method.methods import teacher_method
    from bkd_keras.run.config import TrainConfig
    return teacher_method(TrainConfig.flat(**flat).method)


def _read_json(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _write(target, model, run, model_path, info):
    """MODELS_DIR/NAME/ written whole or not at all: model.keras, vocabulary.txt (text), the run files."""
    tmp = target + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model.save(os.path.join(tmp, "model.keras"))
    vocabulary = os.path.join(os.path.dirname(model_path), "vocabulary.txt")
    if os.path.exists(vocabulary):
        shutil.copyfile(vocabulary, os.path.join(tmp, "vocabulary.txt"))
    for f in RUN_FILES:
        shutil.copyfile(os.path.join(run, f), os.path.join(tmp, f))
    with open(os.path.join(tmp, INFO_FILE), "w") as f:
        json.dump(info, f, indent=1)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
