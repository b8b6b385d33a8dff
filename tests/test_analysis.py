"""Analysis functions against hand computations (paper Eq. 4; ECE)."""

import math

import numpy as np
import pytest

from bkd_keras.scoring import analysis


def test_negative_gradient_eq4_by_hand():
    # Two examples of class 1 and one of class 0; 2 classes; weights w = (0.5, 2).
    logits = [[0.0, 0.0], [math.log(3), 0.0], [0.0, math.log(4)]]
    labels = [1, 1, 0]
    # Class 0's logit is pushed down by the class-1 examples: w_1 * p_0 = 2 * (1/2) + 2 * (3/4).
    g = analysis.negative_gradients(logits, labels, [0.5, 2.0])
    assert g[0] == pytest.approx(2 * 0.5 + 2 * 0.75)
    # Class 1's logit by the class-0 example: w_0 * p_1 = 0.5 * 4/5.
    assert g[1] == pytest.approx(0.5 * 0.8)
    # Plain CE (w = 1) and a finite-difference check of the gradient of sum_i CE_i w.r.t. z_i0.
    plain = analysis.negative_gradients(logits, labels)
    assert plain[0] == pytest.approx(0.5 + 0.75)

    def loss(z):
        z = np.asarray(z, float)
        return sum(-(z[i, y] - np.log(np.exp(z[i]).sum())) for i, y in enumerate(labels) if y == 1)
    z = np.asarray(logits)
    eps = 1e-6
    numeric = sum((loss(z + eps * np.eye(3)[i][:, None] * [1, 0]) - loss(z)) / eps for i in (0, 1))
    assert plain[0] == pytest.approx(numeric, rel=1e-4)


def test_calibration_hand_computed():
    # Confidences 0.9 (correct), 0.9 (wrong), 0.6 (correct), 2 bins: (0, .5], (.5, 1].
    logits = np.log([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    labels = [0, 1, 1]
    result = analysis.calibration(logits, labels, num_bins=2)
    assert result["count"] == [0, 3]
    conf, acc = (0.9 + 0.9 + 0.6) / 3, 2 / 3
    assert result["ece"] == pytest.approx(abs(acc - conf) * 100)
    assert result["accuracy"][0] is None and result["accuracy"][1] == pytest.approx(acc * 100)
    finer = analysis.calibration(logits, labels, num_bins=10)
    # Bins (0.5, 0.6] holds 0.6 (acc 1) and (0.8, 0.9] holds both 0.9s (acc 1/2).
    expected = (1 / 3) * abs(1 - 0.6) + (2 / 3) * abs(0.5 - 0.9)
    assert finer["ece"] == pytest.approx(expected * 100)


def test_perfectly_calibrated_is_near_zero():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, size=20000)
    labels = (rng.uniform(size=p.size) >= p).astype(int)  # class 0 with probability p
    logits = np.log(np.stack([p, 1 - p], 1))
    assert analysis.calibration(logits, labels)["ece"] < 1.5
