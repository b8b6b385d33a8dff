"""Losses against NumPy references and hand-computed cases."""

import math

import keras
import numpy as np
import pytest

from bkd_keras.method import losses


def np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_bkd(t, s, w, temperature):
    p = np.exp(np_log_softmax(t.astype(np.float64) / temperature))
    q = p * (1.0 if w is None else w)
    q = q / q.sum(-1, keepdims=True)
    log_s = np_log_softmax(s.astype(np.float64) / temperature)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(q > 0, q * (np.log(q) - log_s), 0.0)
    return temperature ** 2 * term.sum(-1)


def test_effective_number_weights_formula():
    counts = [5000, 500, 50, 5]
    beta = 0.9999
    raw = np.array([(1 - beta) / (1 - beta ** n) for n in counts])
    expected = raw / raw.sum() * len(counts)
    np.testing.assert_allclose(losses.effective_number_weights(counts, beta), expected, rtol=1e-6)
    np.testing.assert_allclose(losses.effective_number_weights(counts, beta, normalize=False), raw, rtol=1e-6)
    np.testing.assert_allclose(losses.effective_number_weights(counts, 0.0), np.ones(4))


def test_effective_number_weights_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        losses.effective_number_weights([10, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        losses.effective_number_weights([10, 1], beta=1.5)


def test_beta_one_is_inverse_frequency_and_the_limit():
    counts = [500, 50, 5]
    inverse = np.array([1 / 500, 1 / 50, 1 / 5])
    np.testing.assert_allclose(losses.effective_number_weights(counts, 1.0), inverse / inverse.sum() * 3, rtol=1e-6)
    np.testing.assert_allclose(losses.effective_number_weights(counts, 1 - 1e-9),
                               losses.effective_number_weights(counts, 1.0), rtol=1e-5)


def test_hand_computed_two_class_case():
    # T = 2: teacher probs softmax([0, 2 ln 3] / 2) = [1/4, 3/4]; w = [3, 1] -> q = [1/2, 1/2].
    # Student probs [1/4, 3/4]: KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3); times T^2 = 4.
    t = np.array([[0.0, 2 * math.log(3)]], np.float32)
    value = losses.balanced_kd_loss(t, t, np.array([3.0, 1.0], np.float32), temperature=2.0)
    assert float(value[0]) == pytest.approx(2 * math.log(4 / 3), rel=1e-5)
    # Same student as q: zero loss.
    s = np.zeros((1, 2), np.float32)
    assert float(losses.balanced_kd_loss(t, s, np.array([3.0, 1.0], np.float32), 2.0)[0]) == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_bkd_and_kd_match_numpy(rng, temperature):
    t = rng.normal(size=(16, 7)).astype(np.float32) * 3
    s = rng.normal(size=(16, 7)).astype(np.float32) * 3
    w = losses.effective_number_weights([500, 300, 120, 60, 20, 8, 2])
    np.testing.assert_allclose(losses.balanced_kd_loss(t, s, w, temperature), np_bkd(t, s, w, temperature),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses.balanced_kd_loss(t, s, None, temperature), np_bkd(t, s, None, temperature),
                               rtol=1e-4, atol=1e-6)
    # The scale of w does not matter (q is renormalised).
    np.testing.assert_allclose(losses.balanced_kd_loss(t, s, w * 123.0, temperature),
                               np_bkd(t, s, w, temperature), rtol=1e-4, atol=1e-6)


def test_extreme_logits_stay_finite(rng):
    t = (rng.normal(size=(8, 5)) * 1e4).astype(np.float32)
    s = (rng.normal(size=(8, 5)) * 1e4).astype(np.float32)
    w = losses.effective_number_weights([1000, 100, 10, 2, 1])
    value = np.asarray(losses.balanced_kd_loss(t, s, w, 2.0))
    assert np.all(np.isfinite(value)) and np.all(value >= 0)
    np.testing.assert_allclose(value, np_bkd(t, s, w, 2.0), rtol=1e-4)
    ce = np.asarray(losses.soft_cross_entropy(np.arange(8) % 5, s, w))
    assert np.all(np.isfinite(ce))


def test_cross_entropy_hard_soft_and_weighted(rng):
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 0, 1])
    log_p = np_log_softmax(logits.astype(np.float64))
    np.testing.assert_allclose(losses.soft_cross_entropy(labels, logits), -log_p[np.arange(6), labels], rtol=1e-5)
    soft = np.eye(4)[labels] * 0.3 + np.eye(4)[labels[::-1]] * 0.7
    np.testing.assert_allclose(losses.soft_cross_entropy(soft, logits), -(soft * log_p).sum(-1), rtol=1e-5)
    w = np.array([0.5, 1.0, 2.0, 4.0], np.float32)
    np.testing.assert_allclose(losses.soft_cross_entropy(labels, logits, w),
                               -w[labels] * log_p[np.arange(6), labels], rtol=1e-5)


def test_loss_objects_reweight_switch_and_serialisation(rng):
    t = rng.normal(size=(4, 3)).astype(np.float32)
    s = rng.normal(size=(4, 3)).astype(np.float32)
    w = np.array([0.2, 1.0, 5.0], np.float32)
    loss = losses.BalancedKDLoss(w, temperature=2.0, reweight=0.0)
    np.testing.assert_allclose(loss(t, s), np_bkd(t, s, None, 2.0), rtol=1e-4)   # KD while off
    loss.reweight.assign(1.0)
    np.testing.assert_allclose(loss(t, s), np_bkd(t, s, w, 2.0), rtol=1e-4)      # BKD once on
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    np.testing.assert_allclose(clone(t, s), np_bkd(t, s, w, 2.0), rtol=1e-4)
    ce = losses.ClassificationLoss(w)
    clone = keras.losses.deserialize(keras.losses.serialize(ce))
    np.testing.assert_allclose(clone(np.array([0, 1, 2, 0]), s), ce(np.array([0, 1, 2, 0]), s), rtol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        losses.BalancedKDLoss(w, temperature=0.0)
