"""Trained models the project ships (benchmarks/models/NAME/, written by bkd_keras/publish.py)
reproduce their reported top-1 and serve the same logits through their SavedModel; and
publishing itself refuses runs it cannot vouch for.

The shipped-model checks skip when no model is shipped or when the data a model needs is absent
(a fresh clone without ../shared): CIFAR-10 comes from the JPEG tree of ../shared/datasets.
"""

import glob
import json
import os

import numpy as np
import pytest

from conftest import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "models", "*", "model.keras")))
CIFAR = "/tmp/data/cifar10-jpeg"
SHARED_CIFAR = os.path.join(ROOT, "..", "shared", "datasets", "cifar10-jpeg.tar.gz")


def _data_dir(settings):
    """The local data tree for a shipped model's data settings (skips the test when absent)."""
    if settings["dataset"] != "folder":
        return settings.get("data_dir")
    if os.path.isdir(settings["data_dir"]):
        return settings["data_dir"]
    if os.path.basename(os.path.normpath(settings["data_dir"])) != "cifar10-jpeg":
        pytest.skip(f"the data tree {settings['data_dir']} is absent")
    if not os.path.isdir(CIFAR):
        if not os.path.exists(SHARED_CIFAR):
            pytest.skip("no cifar10-jpeg tree (../shared/datasets is absent)")
        import tarfile
        os.makedirs(os.path.dirname(CIFAR), exist_ok=True)
        with tarfile.open(SHARED_CIFAR) as tar:
            tar.extractall(os.path.dirname(CIFAR))
    return CIFAR


@pytest.mark.skipif(not MODELS, reason="no shipped model in benchmarks/models/")
@pytest.mark.parametrize("path", MODELS, ids=[os.path.basename(os.path.dirname(p)) for p in MODELS])
def test_shipped_model_reproduces_its_top1_and_serves(path, tmp_path):
    import keras
    import tensorflow as tf

    import models  # noqa: F401
    from bkd_keras.run.shipping import INFO_FILE, load_test_data
    from bkd_keras.run.export import export_classifier
    from bkd_keras.run.stock_model import split_preprocessing
    from data import eval_dataset
    with open(os.path.join(os.path.dirname(path), INFO_FILE)) as f:
        info = json.load(f)
    settings = dict(info["data"], data_dir=_data_dir(info["data"]))
    data = load_test_data(settings)
    assert list(data.mean) == pytest.approx(info["mean"]) and list(data.std) == pytest.approx(info["std"])
    model = keras.saving.load_model(path, compile=False)
    if info.get("loads_without_bkd_keras"):       # the shipped classifier takes the raw uint8 images
        assert model.input.dtype == "uint8"
        shipped = model.predict(data.test.images, batch_size=500, verbose=0)
        model, mean, std = split_preprocessing(model)
        np.testing.assert_allclose(mean, data.mean, atol=1e-6)
        np.testing.assert_allclose(std, data.std, atol=1e-6)
    logits = model.predict(eval_dataset(data, 500), verbose=0)
    if info.get("loads_without_bkd_keras"):
        np.testing.assert_allclose(shipped, logits, rtol=1e-4, atol=1e-4)
    top1 = 100.0 * float(np.mean(logits.argmax(1) == data.test.labels))
    assert top1 == pytest.approx(info["top1"], abs=0.05)
    if not data.is_text:     # raw uint8 images in, the same logits out
        served = tf.saved_model.load(export_classifier(model, str(tmp_path), data.mean, data.std))
        images = data.test.images[:64]
        np.testing.assert_allclose(served.serve_uint8(tf.constant(images)).numpy(), logits[:64],
                                   rtol=1e-4, atol=1e-4)


STOCK_SCRIPT = r"""
import importlib.util, json, os, sys
import numpy as np, keras, tensorflow as tf
assert importlib.util.find_spec("bkd_keras") is None and importlib.util.find_spec("models") is None
model = keras.saving.load_model(sys.argv[1])
test = os.path.join(sys.argv[2], "test")
classes = sorted(os.listdir(test))
images, labels = [], []
for label, name in enumerate(classes):
    for f in sorted(os.listdir(os.path.join(test, name))):
        images.append(tf.io.decode_jpeg(tf.io.read_file(os.path.join(test, name, f)), channels=3).numpy())
        labels.append(label)
logits = model.predict(np.stack(images), batch_size=500, verbose=0)
print(json.dumps({"top1": 100.0 * float(np.mean(logits.argmax(1) == np.array(labels))), "classes": classes,
                  "input_dtype": str(model.input.dtype), "n": len(labels)}))
"""

STOCK = [p for p in MODELS if json.load(open(os.path.join(os.path.dirname(p), "published.json"))).get(
    "loads_without_bkd_keras") and "_bkd_" in p]


@pytest.mark.skipif(not STOCK, reason="no shipped BKD student in benchmarks/models/")
@pytest.mark.parametrize("path", STOCK, ids=[os.path.basename(os.path.dirname(p)) for p in STOCK])
def test_shipped_student_loads_in_stock_keras_and_scores_its_top1(path, tmp_path):
    """In a fresh process that cannot import this project: load_model, raw JPEG pixels in, top-1 out."""
    import subprocess
    import sys
    with open(os.path.join(os.path.dirname(path), "published.json")) as f:
        info = json.load(f)
    data_dir = _data_dir(info["data"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", STOCK_SCRIPT, path, data_dir], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["input_dtype"] == "uint8" and result["classes"] == info["class_names"]
    assert result["top1"] == pytest.approx(info["top1"], abs=0.005)      # 77.58 for the 200-epoch student


def test_pretrained_names_paths_and_class_names():
    from bkd_keras import pretrained
    if not pretrained.names():
        pytest.skip("no shipped model")
    name = pretrained.names()[0]
    assert pretrained.path(name[:-1]) == pretrained.path(name) == os.path.join(pretrained.MODELS_DIR, name, "model.keras")
    with pytest.raises(ValueError, match="is not a shipped model; choose one of"):
        pretrained.path("imagenet_resnet50")
    if len(pretrained.names()) > 1:
        with pytest.raises(ValueError, match="matches several"):
            pretrained.path("")
    model = pretrained.load(name)
    assert model.class_names == pretrained.info(name)["class_names"] and model.output_shape[-1] == len(model.class_names)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from bkd_keras.run.runner import run
    # The teacher stage of a BKD run, as the runner trains every teacher.
    config = small_config(tmp_path_factory.mktemp("publish"), method="bkd", stage="teacher")
    results = run(config, log=lambda *_: None)
    return config.run.output_dir, results


def test_publish_copies_a_run_that_reproduces_and_refuses_one_that_does_not(finished_run, tmp_path):
    import keras

    from bkd_keras.run.shipping import INFO_FILE, PublishError, load_test_data, publish
    run_dir, results = finished_run
    info = publish(run_dir, "digits_ce", str(tmp_path), log=lambda *_: None)
    folder = tmp_path / "digits_ce"
    assert sorted(os.listdir(folder)) == ["flags.json", "model.keras", "published.json", "results.json"]
    assert json.load(open(folder / INFO_FILE)) == info
    assert (info["stage"], info["method"]) == ("teacher", "ce")         # what the shipped model learnt with
    assert info["loads_without_bkd_keras"] and info["class_names"] == [str(c) for c in range(10)]
    # Independent check: the shipped classifier's argmax on the raw uint8 images against the labels.
    data = load_test_data(info["data"])
    model = keras.saving.load_model(str(folder / "model.keras"), compile=False)
    assert model.input.dtype == "uint8"
    hits = int(np.sum(model.predict(data.test.images, verbose=0).argmax(1) == data.test.labels))
    assert info["top1"] == pytest.approx(100.0 * hits / len(data.test.labels), abs=1e-6)
    assert info["top1"] == pytest.approx(list(results["reports"].values())[-1]["top1"])

    with pytest.raises(PublishError, match="exists; pass --overwrite"):
        publish(run_dir, "digits_ce", str(tmp_path), log=lambda *_: None)
    tampered = json.load(open(os.path.join(run_dir, "results.json")))
    list(tampered["reports"].values())[-1]["top1"] += 1.0
    bad = tmp_path / "bad_run"
    os.makedirs(bad / "export")
    for name in ("flags.json", "export/model.keras"):
        with open(os.path.join(run_dir, name), "rb") as src, open(bad / name, "wb") as dst:
            dst.write(src.read())
    json.dump(tampered, open(bad / "results.json", "w"))
    with pytest.raises(PublishError, match="Nothing was published"):
        publish(str(bad), "bad", str(tmp_path), log=lambda *_: None)
    assert not os.path.exists(tmp_path / "bad")
    with pytest.raises(PublishError, match="not a finished run"):
        publish(str(tmp_path / "nowhere"), "x", str(tmp_path), log=lambda *_: None)
