"""Trained models the project ships (benchmarks/models/) reproduce their reported top-1.

Each `NAME.keras` comes with `NAME.json` ({"top1", "data_dir_hint", "flags", ...}, written
when it was published). Skipped when no model is shipped yet or the CIFAR-10 JPEG tree of
../shared is absent (a fresh clone).
"""

import glob
import json
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "models", "*.keras")))
CIFAR = "/tmp/data/cifar10-jpeg"
SHARED = os.path.join(ROOT, "..", "shared", "datasets", "cifar10-jpeg.tar.gz")


def _cifar_tree():
    if not os.path.isdir(CIFAR):
        if not os.path.exists(SHARED):
            pytest.skip("no cifar10-jpeg tree (../shared/datasets is absent)")
        import tarfile
        os.makedirs(os.path.dirname(CIFAR), exist_ok=True)
        with tarfile.open(SHARED) as tar:
            tar.extractall(os.path.dirname(CIFAR))
    return CIFAR


@pytest.mark.skipif(not MODELS, reason="no shipped model in benchmarks/models/")
@pytest.mark.parametrize("path", MODELS, ids=[os.path.basename(p) for p in MODELS])
def test_shipped_model_reproduces_its_reported_top1(path):
    import keras

    import models  # noqa: F401
    from data import eval_dataset, load_dataset
    info = json.load(open(path[: -len(".keras")] + ".json"))
    data = load_dataset("folder", data_dir=_cifar_tree(), imbalance_type=info["imbalance_type"],
                        imbalance_ratio=info["imbalance_ratio"], mean=tuple(info["mean"]), std=tuple(info["std"]))
    model = keras.saving.load_model(path, compile=False)
    logits = model.predict(eval_dataset(data, 500), verbose=0)
    top1 = 100.0 * float(np.mean(logits.argmax(1) == data.test.labels))
    assert top1 == pytest.approx(info["top1"], abs=0.05)
