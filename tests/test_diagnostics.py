"""Teacher-fit diagnostic against hand-computed cases."""

import math

import numpy as np
import pytest

from bkd_keras.scoring import diagnostics


def test_balanced_target_fit_hand_computed():
    # T = 2, w = (1, 9). Image 1 (class 0, logits 4, 0): q ~ (e^2, 9) -> names class 1.
    # Image 2 (class 0, logits 8, 0): q ~ (e^4, 9) -> keeps class 0. Image 3 (class 1): q ~ (1, 9 e^0.5).
    logits = [[4.0, 0.0], [8.0, 0.0], [0.0, 1.0]]
    report = diagnostics.balanced_target_fit(logits, [0, 0, 1], [1.0, 9.0], temperature=2.0)
    assert report["teacher_top1"] == [100.0, 100.0]
    assert report["target_top1"] == [50.0, 100.0]
    mass0 = (math.e ** 2 / (math.e ** 2 + 9) + math.e ** 4 / (math.e ** 4 + 9)) / 2 * 100
    mass1 = 9 * math.e ** 0.5 / (1 + 9 * math.e ** 0.5) * 100
    assert report["target_mass"] == pytest.approx([mass0, mass1], rel=1e-9)


def test_uniform_weights_give_teacher_accuracy_and_absent_class():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 3)) * 3
    labels = rng.integers(0, 2, size=50)          # class 2 has no training image
    report = diagnostics.balanced_target_fit(logits, labels, np.ones(3), temperature=3.0)
    assert report["target_top1"][:2] == report["teacher_top1"][:2]
    assert report["teacher_top1"][2] is None


def test_fit_warning_names_poor_head_classes_only():
    report = {"target_top1": [40.0, 95.0, 10.0, 5.0]}
    message = diagnostics.fit_warning(report, [500, 200, 20, 5])
    assert "class 0: 40%" in message and "class 2" not in message and "--teacher_epochs" in message
    assert diagnostics.fit_warning({"target_top1": [90.0, 95.0, 1.0, 1.0]}, [500, 200, 20, 5]) is None
