"""LiteRT export (bkd_keras/run/litert.py): files a LiteRT runtime runs on raw uint8 images, agreeing
with the Keras model they came from; bad requests refused before training."""

import json
import os

import numpy as np
import pytest

from conftest import small_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 6-epoch digits CE run (small_cnn) exported with all three LiteRT kinds by the runner."""
    from bkd_keras.run.runner import run
    config = small_config(tmp_path_factory.mktemp("litert"), method="ce", stage="teacher", epochs=6,
                          export_litert=("fp32", "fp16", "int8"))
    return config, run(config, log=lambda *_: None)


def _keras_logits(config, images):
    """The run's exported Keras model on uint8 images, normalised here in numpy."""
    import keras

    import models  # noqa: F401
    from data import load_dataset
    data = load_dataset(config.data)
    model = keras.saving.load_model(os.path.join(config.run.output_dir, "export", "model.keras"), compile=False)
    x = ((images / 255.0 - np.asarray(data.mean)) / np.asarray(data.std)).astype(np.float32)
    return model.predict(x, verbose=0)


def test_runner_writes_litert_files_that_agree_with_the_keras_model(finished_run):
    from bkd_keras.run.litert import LiteRTClassifier
    from data import load_dataset
    config, results = finished_run
    paths = results["exports"]["litert"]
    assert sorted(paths) == ["fp16", "fp32", "int8"]
    sizes = {k: os.path.getsize(p) for k, p in paths.items()}
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"]
    data = load_dataset(config.data)
    images = data.test.images                                  # uint8, as they come off disk
    reference = _keras_logits(config, images)
    agree = {}
    for kind, path in paths.items():
        logits = LiteRTClassifier(path).predict(images, batch_size=64)
        assert logits.shape == reference.shape and logits.dtype == np.float32
        agree[kind] = float(np.mean(logits.argmax(1) == reference.argmax(1)))
        if kind == "fp32":
            np.testing.assert_allclose(logits, reference, rtol=1e-4, atol=1e-4)
    assert agree["fp32"] == 1.0 and agree["fp16"] >= 0.99
    assert agree["int8"] >= 0.97, agree          # full-integer, calibrated on 256 training images
    assert json.load(open(os.path.join(config.run.output_dir, "results.json")))["exports"]["litert"] == paths


def test_export_run_writes_the_requested_kinds_for_a_finished_run(finished_run, tmp_path):
    from bkd_keras.run.litert import LiteRTClassifier, export_run
    config, results = finished_run
    paths = export_run(config.run.output_dir, kinds=("int8",), calibration=32, directory=str(tmp_path))
    assert list(paths) == ["int8"] and os.path.dirname(paths["int8"]) == str(tmp_path)
    single = LiteRTClassifier(paths["int8"]).predict(np.zeros((1, 8, 8, 1), np.uint8))
    assert single.shape == (1, 10)


def test_bad_litert_requests_are_refused_before_training(tmp_path):
    from bkd_keras.run.config import ConfigError
    from bkd_keras.run.runner import validate
    with pytest.raises(ConfigError, match=r"Unknown --export_litert value\(s\) 'int4'. Valid values: fp32, fp16, int8"):
        validate(small_config(tmp_path, export_litert=("fp32", "int4")))
    with pytest.raises(ConfigError, match="exports image classifiers"):
        validate(small_config(tmp_path, dataset="bbc_news", backbone="textcnn", method="ce",
                              export_litert=("int8",)))
    with pytest.raises(ConfigError, match="needs images decoded in memory"):
        validate(small_config(tmp_path, dataset="folder", data_dir=str(tmp_path), augmentation="resized_crop",
                              image_size=(8, 8), export_litert=("fp16",)))
