"""DiVE (He et al., ICCV 2021) and --teacher_method: the student loss against a numpy reference of the
paper's formula, and a teacher trained with the method asked for."""

import os

import numpy as np
import pytest

from conftest import small_config


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _dive_numpy(student, teacher, labels, counts, alpha, t, p):
    """(1 - alpha) CE(z_s + log prior) + alpha T^2 KL(q || softmax(z_s / T)), q = softmax(z_t / T) ** p
    renormalised; batch means (BalancedMetaSoftmax's BalancedSoftmaxLoss and DiVE's DiveLoss with
    reduction='batchmean')."""
    prior = np.log(counts / counts.sum())
    bsce = -_log_softmax(student + prior)[np.arange(len(labels)), labels].mean()
    q = np.exp(_log_softmax(teacher / t)) ** p
    q /= q.sum(-1, keepdims=True)
    kl = (q * (np.log(q) - _log_softmax(student / t))).sum(-1).mean()
    return (1 - alpha) * bsce + alpha * t * t * kl


@pytest.mark.parametrize("alpha, t, p", [(0.5, 3.0, 0.5), (0.3, 2.0, 1.0), (0.8, 4.0, 0.25)])
def test_dive_losses_match_the_papers_formula(alpha, t, p):
    from bkd_keras.method.methods import METHODS
    from bkd_keras.run.config import MethodConfig
    rng = np.random.default_rng(1)
    counts = np.array([400.0, 120.0, 30.0, 6.0])
    student = rng.normal(0, 3, (16, 4)).astype(np.float32)
    teacher = rng.normal(0, 3, (16, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 16)
    config = MethodConfig(method="dive", options=(("dive_alpha", alpha), ("dive_power", p), ("dive_temperature", t)))
    losses = METHODS["dive"].build(counts, config, epochs=10)
    value = float(np.mean(losses.classification(labels, student)) + np.mean(losses.distillation(teacher, student)))
    assert value == pytest.approx(_dive_numpy(student, teacher, labels, counts, alpha, t, p), rel=1e-5)
    assert losses.switch_epoch == 0 and not losses.deferred and METHODS["dive"].mixup_alpha(config) == 0.0


def test_power_one_is_plain_kd_and_a_hand_case():
    from bkd_keras.method.losses import balanced_kd_loss
    # teacher softmax at T=1 of [log 3, log 1] is (0.75, 0.25); p = 0.5 gives (sqrt 3, 1) / (sqrt 3 + 1)
    q = np.array([np.sqrt(3), 1.0]) / (np.sqrt(3) + 1)
    student = np.array([[0.0, 0.0]], np.float32)                # softmax (0.5, 0.5)
    expected = float(np.sum(q * (np.log(q) - np.log(0.5))))
    teacher = np.log(np.array([[3.0, 1.0]], np.float32))
    assert float(balanced_kd_loss(teacher, student, None, 1.0, teacher_power=0.5)[0]) == pytest.approx(expected, rel=1e-5)
    assert float(balanced_kd_loss(teacher, student, None, 1.0, teacher_power=1.0)[0]) == pytest.approx(
        0.75 * np.log(1.5) + 0.25 * np.log(0.5), rel=1e-5)


def test_teacher_method_defaults_to_the_methods_own_and_is_checked():
    from bkd_keras.method.methods import check_config, teacher_method
    from bkd_keras.run.config import ConfigError, MethodConfig
    assert teacher_method(MethodConfig(method="bkd")) == "ce"
    assert teacher_method(MethodConfig(method="dive")) == "balanced_softmax"
    assert teacher_method(MethodConfig(method="bkd", teacher_method="la")) == "la"
    with pytest.raises(ConfigError, match="--teacher_method=kd itself needs a teacher"):
        check_config(MethodConfig(method="bkd", teacher_method="kd"))
    with pytest.raises(ConfigError, match="Unknown --method='nope'"):
        check_config(MethodConfig(method="bkd", teacher_method="nope"))
    with pytest.raises(ConfigError, match="--dive_alpha must be < 1"):
        check_config(MethodConfig(method="dive", options=(("dive_alpha", 1.0),)))


def test_a_run_trains_its_teacher_with_the_teacher_method(tmp_path):
    """Same seed and data: the LA teacher's weights differ from the CE teacher's, and the run records it."""
    import json

    import keras

    import models  # noqa: F401
    from bkd_keras.run.runner import run
    teachers = {}
    for name in ("ce", "la"):
        config = small_config(tmp_path / name, method="kd", teacher_method=name, stage="teacher", epochs=1)
        run(config, log=lambda *_: None)
        out = config.run.output_dir
        assert json.load(open(os.path.join(out, "flags.json")))["teacher_method"] == name
        teachers[name] = keras.saving.load_model(os.path.join(out, "teacher", "model.keras"), compile=False)
    from data import load_dataset
    x = load_dataset(config.data).test.images[:8].astype(np.float32) / 255.0
    assert not np.allclose(teachers["ce"].predict(x, verbose=0), teachers["la"].predict(x, verbose=0))
