"""Bad inputs fail fast with one clear message; numerics stay finite; NaN stops training."""

import os

import keras
import numpy as np
import pytest

from bkd_keras.method import losses
from bkd_keras.method.callbacks import NonFiniteLossError, StopOnNonFiniteLoss
from bkd_keras.run.config import ConfigError
from bkd_keras.method.distiller import Distiller
from bkd_keras.run.runner import run
from conftest import small_config, write_image_tree
from data import DataError, sources
from models import build_backbone


def test_nan_loss_names_epoch_and_step_and_saves_nothing_of_it(tmp_path):
    # With the fused BatchNorm, Grappler's BatchNorm + ReLU kernel turns the NaN image's
    # activations into 0: the loss of that step is finite, only the gradients carry the NaN.
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 1)).astype(np.float32)
    x[40] = np.nan                                     # second batch of 32
    y = np.arange(64) % 4
    d = Distiller(student=build_backbone("small_cnn", 4, (8, 8, 1)))
    d.compile(optimizer="sgd")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 2"):
        d.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False, callbacks=[StopOnNonFiniteLoss("test")])


def test_nan_in_a_run_is_a_clear_error(tmp_path):
    config = small_config(tmp_path, method="ce", learning_rate=1e30, epochs=3, weight_decay=0.0)
    with pytest.raises(FloatingPointError, match=r"\[student\] the loss became .* at epoch \d+, step \d+"):
        run(config)
    assert not os.path.exists(os.path.join(config.run.output_dir, "results.json"))


def test_losses_finite_for_single_example_classes_and_huge_logits():
    w = losses.effective_number_weights([5000, 10, 1, 1], 0.9999)
    assert np.all(np.isfinite(w)) and w[2] > w[0]
    w_if = losses.effective_number_weights([5000, 10, 1, 1], 0.999999999)
    assert np.all(np.isfinite(w_if))
    logits = np.array([[1e4, -1e4, 0, 5e3], [-1e4, 1e4, 1e4, -1e4]], np.float32)
    for value in (losses.balanced_kd_loss(logits, logits[::-1], w, 2.0),
                  losses.balanced_kd_loss(-logits, logits, None, 0.5),
                  losses.soft_cross_entropy(np.array([2, 3]), logits, w)):
        assert np.all(np.isfinite(np.asarray(value)))


@pytest.mark.parametrize("kw,match", [
    (dict(dataset="nope"), "Valid values: ag_news, bbc_news, cifar10, cifar100, digits, folder, list, text_folder, text_table"),
    (dict(backbone="nope"), "resnet20, resnet32"),
    (dict(method="nope"), "bkd, bkd_la, bkd_per_expert, cb, ce, dive, focal"),
    (dict(strategy="tpu"), "default, mirrored"),
    (dict(imbalance_ratio=0.9), "imbalance_ratio must be >= 1"),
    (dict(temperature=-1.0), "temperature must be > 0"),
    (dict(beta=-0.1), r"beta must be in \[0, 1\]"),
    (dict(beta=1.5), r"beta must be in \[0, 1\]"),
    (dict(mixup_alpha=-1.0), "mixup_alpha"),
    (dict(epochs=0), "epochs must be >= 1"),
    (dict(batch_size=5000), "larger than the"),
    (dict(imbalance_ratio=500.0), "0 images|0 examples"),
])
def test_bad_settings(tmp_path, kw, match):
    with pytest.raises((ConfigError, DataError), match=match):
        run(small_config(tmp_path, **kw))
    assert not os.path.exists(os.path.join(tmp_path, "run", "teacher", "log.csv"))   # nothing trained


def test_bad_data_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        run(small_config(tmp_path, dataset="folder", data_dir=str(tmp_path / "missing")))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(DataError, match="no train/ folder"):
        run(small_config(tmp_path, dataset="folder", data_dir=str(tmp_path / "empty"), output_dir=str(tmp_path / "b")))


def test_teacher_with_other_input_shape(tmp_path):
    path = str(tmp_path / "t.keras")
    build_backbone("small_cnn", 10, (16, 16, 1)).save(path)
    with pytest.raises(ConfigError, match=r"images of shape \(16, 16, 1\)"):
        run(small_config(tmp_path, teacher=path, stage="student"))
    with pytest.raises(ConfigError, match="not a .keras file"):
        run(small_config(tmp_path, teacher=str(tmp_path / "nope.h5"), stage="student", output_dir=str(tmp_path / "c")))


def test_tfds_offline_fails_fast_without_retrying(tmp_path, monkeypatch):
    # Downloading is allowed but the machine is "offline": the probe says unreachable, and any
    # socket use would fail the test, so nothing here touches the network.
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the test tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(sources, "_tfds_host_reachable", lambda *a, **k: False)
    with pytest.raises(DataError, match="cannot reach the download server"):
        sources.load_tfds_cifar("cifar10", data_dir=str(tmp_path), download=True)


def test_corrupt_image_in_a_run_names_the_file(tmp_path):
    root = write_image_tree(str(tmp_path / "d"), ["a", "b"], [6, 6])
    with open(os.path.join(root, "test", "a", "1.png"), "wb") as f:
        f.write(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"test/a/1.png"):
        run(small_config(tmp_path, dataset="folder", data_dir=root, imbalance_type="none", batch_size=4))
