"""Property tests (hypothesis): long-tailed selection and losses against the NumPy references."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bkd_keras.method import losses
from data.long_tail import long_tail_counts, long_tail_indices
from test_long_tail import reference_counts, reference_indices
from test_losses import np_bkd, np_log_softmax

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def profiles(draw):
    kind = draw(st.sampled_from(["exp", "step"]))
    classes = draw(st.integers(2, 30))
    if kind == "step":
        classes += classes % 2          # the reference's step profile assumes an even class count
    return kind, classes, draw(st.integers(1, 300)), draw(st.floats(1.0, 80.0))


@FUZZ
@given(profiles(), st.integers(0, 2**31 - 1), st.integers(0, 40))
def test_long_tail_selection_matches_reference(profile, seed, extra):
    kind, classes, n_max, rho = profile
    counts = long_tail_counts(n_max, classes, rho, kind)
    assert counts == reference_counts(n_max, classes, 1.0 / rho, kind)
    assert counts[0] == n_max and all(a >= b for a, b in zip(counts, counts[1:]))
    if min(counts) < 1:
        return
    # A pool with at least n_i images per class, in a random interleaved order.
    rng = np.random.default_rng(seed % 1000)
    labels = np.concatenate([np.full(c + extra, k) for k, c in enumerate(counts)])
    labels = labels[rng.permutation(len(labels))]
    ours = long_tail_indices(labels, counts, seed=seed)
    np.testing.assert_array_equal(ours, reference_indices(labels, counts, seed=seed))
    assert np.bincount(labels[ours], minlength=classes).tolist() == counts


@st.composite
def logit_cases(draw):
    batch, classes = draw(st.integers(1, 8)), draw(st.integers(1, 12))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 1e3, 1e4]))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    t = (rng.normal(size=(batch, classes)) * scale).astype(np.float32)
    s = (rng.normal(size=(batch, classes)) * scale).astype(np.float32)
    counts = rng.integers(1, 5000, classes)
    return t, s, counts, scale, draw(st.floats(0.5, 5.0)), draw(st.sampled_from([0.0, 0.9, 0.999, 0.9999]))


@FUZZ
@given(logit_cases())
def test_losses_match_numpy(case):
    t, s, counts, scale, temperature, beta = case
    w = losses.effective_number_weights(counts, beta)
    raw = (1 - beta) / (1 - beta ** counts.astype(np.float64)) if beta > 0 else np.ones(len(counts))
    np.testing.assert_allclose(w, raw / raw.sum() * len(counts), rtol=1e-5)
    tol = dict(rtol=2e-3, atol=2e-6 * (1 + scale / temperature) * temperature ** 2 * t.shape[1])
    for weights in (w, None):
        value = np.asarray(losses.balanced_kd_loss(t, s, weights, temperature))
        assert value.shape == (t.shape[0],) and np.all(np.isfinite(value)) and np.all(value >= -tol["atol"])
        np.testing.assert_allclose(value, np_bkd(t, s, weights, temperature), **tol)
    labels = np.arange(t.shape[0]) % t.shape[1]
    ce = np.asarray(losses.soft_cross_entropy(labels, s, w))
    expected = -w[labels] * np_log_softmax(s.astype(np.float64))[np.arange(len(labels)), labels]
    np.testing.assert_allclose(ce, expected, rtol=2e-3, atol=2e-6 * (1 + scale) * t.shape[1])
