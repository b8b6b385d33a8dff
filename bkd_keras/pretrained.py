"""The trained models this project ships, in one line.

    from bkd_keras import pretrained
    pretrained.names()        # ['cifar10_lt100_resnet32_bkd_e200', 'cifar10_lt100_resnet32_ce_e200']
    model = pretrained.load("cifar10_lt100_resnet32_bkd_e200")
    logits = model.predict(uint8_images)                      # (B, 32, 32, 3) uint8 -> (B, 10)
    model.class_names[int(logits[0].argmax())]               # 'airplane', ...

Each lives in benchmarks/models/NAME/ (written by `python -m bkd_keras.publish`): an image
model's model.keras loads in stock Keras with no import of this project,
`keras.saving.load_model(path)`, takes uint8 images and normalises them inside; published.json
says how it was trained and what it scored (`info(NAME)`).
"""

import json
import os

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "models")
INFO_FILE = "published.json"


def names():
    """The shipped models' names, sorted."""
    if not os.path.isdir(MODELS_DIR):
        return []
    return sorted(n for n in os.listdir(MODELS_DIR) if os.path.isfile(os.path.join(MODELS_DIR, n, "model.keras")))


def path(name):
    """benchmarks/models/NAME/model.keras; a unique prefix of a name also works ("..._bkd" for "..._bkd_e200")."""
    known = names()
    matches = [name] if name in known else [n for n in known if n.startswith(name)]
    if len(matches) != 1:
        kind = "matches several" if matches else "is not"
        raise ValueError(f"{name!r} {kind} a shipped model; choose one of: {', '.join(matches or known) or 'none'} "
                         f"(in {MODELS_DIR}).")
    return os.path.join(MODELS_DIR, matches[0], "model.keras")


def _info_at(model_path):
    with open(os.path.join(os.path.dirname(model_path), INFO_FILE)) as f:
        return json.load(f)


def info(name):
    """NAME's published.json: top1, class_names, mean / std, method, epochs, the run's data settings, ..."""
    return _info_at(path(name))


def load(name):
    """NAME's Keras model, uncompiled, with `class_names` (the label of each output) set on it."""
    import keras
    model_path = path(name)
    details = _info_at(model_path)
    if not details.get("loads_without_bkd_keras"):
        import models  # noqa: F401  (registers the project's layers a text model uses)
    model = keras.saving.load_model(model_path, compile=False)
    model.class_names = list(details["class_names"])
    return model
