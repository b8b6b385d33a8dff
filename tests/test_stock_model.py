"""Stock-Keras copies of the project's image models (bkd_keras/run/stock_model.py): built-in layers
only, the same function in inference mode, and taken apart again for --teacher."""

import json
import zipfile

import keras
import numpy as np
import pytest

from bkd_keras.run.stock_model import split_preprocessing, stock_classifier
from conftest import trained_like
from models import build_backbone


def _classes(path):
    """Every class_name and registered_name in a .keras file's config."""
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if "class_name" in node:
                found.add((node.get("module"), node["class_name"], node.get("registered_name")))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(config)
    return found


def test_stock_classifier_is_builtin_only_and_matches_a_numpy_normalisation(tmp_path):
    rng = np.random.default_rng(0)
    model = trained_like(build_backbone("resnet20", 10, (32, 32, 3)))
    mean, std = np.array([0.49, 0.48, 0.45]), np.array([0.20, 0.25, 0.30])
    stock = stock_classifier(model, mean, std)
    stock.save(tmp_path / "m.keras")
    classes = _classes(tmp_path / "m.keras")
    assert all(module.startswith("keras") for module, name, _ in classes if name != "__keras_tensor__"), classes
    assert not any(r and "bkd_keras" in r for _, _, r in classes)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    normalised = ((images / 255.0 - mean) / std).astype(np.float32)          # the pipeline's formula, in numpy
    expected = model.predict(normalised, verbose=0)
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-4)
    body, m, s = split_preprocessing(loaded)
    np.testing.assert_allclose(m, mean, atol=1e-7)
    np.testing.assert_allclose(s, std, atol=1e-7)
    np.testing.assert_allclose(body.predict(normalised, verbose=0), expected, rtol=1e-4, atol=1e-4)
    assert split_preprocessing(model)[0] is model                              # any other model: unchanged


def test_a_stock_teacher_is_accepted_with_its_own_normalisation_and_refused_with_another(tmp_path):
    from bkd_keras.run.assembly import load_teacher
    from bkd_keras.run.config import ConfigError
    from data import load_dataset
    data = load_dataset("digits", imbalance_ratio=10)
    model = build_backbone("small_cnn", data.num_classes, data.image_shape)
    stock_classifier(model, data.mean, data.std).save(tmp_path / "same.keras")
    teacher = load_teacher(str(tmp_path / "same.keras"), data)
    assert teacher.input.dtype == "float32"        # fed the pipeline's normalised images
    x = data.test.images[:4]
    np.testing.assert_allclose(teacher.predict(((x / 255.0 - data.mean) / data.std).astype(np.float32), verbose=0),
                               model.predict(((x / 255.0 - data.mean) / data.std).astype(np.float32), verbose=0),
                               rtol=1e-4, atol=1e-4)
    stock_classifier(model, np.asarray(data.mean) + 0.1, data.std).save(tmp_path / "other.keras")
    with pytest.raises(ConfigError, match="normalises images with mean .* but this run uses"):
        load_teacher(str(tmp_path / "other.keras"), data)
