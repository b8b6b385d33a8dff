"""Each method's loss reduced over the batch as its authors' code does (methods.REDUCTIONS).

The references are numpy transcriptions of the original reductions:
- LDAM-DRW, losses.py LDAMLoss.forward: F.cross_entropy(s * output, target, weight=w), PyTorch's
  weighted mean sum_i w_{y_i} CE_i / sum_i w_{y_i} (a plain mean before the DRW switch, w = None).
- RIDE, model/loss.py line 229: the same per expert (weight=per_cls_weights_base), plus line 245:
  additional_diversity_factor * mean(T)^2 * F.kl_div(log_softmax(z_e / T), softmax(z_bar / T),
  reduction='batchmean'), the KL summed over the batch / B.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bkd_keras.method import expert_losses, losses
from bkd_keras.method.distiller import Distiller
from bkd_keras.method.methods import METHODS, REDUCTIONS
from bkd_keras.run.config import MethodConfig

COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]   # CIFAR-10-LT, rho 100


def identity(x):
    return x


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _np_weighted_ce_mean(logits, labels, w=None):
    """torch.nn.functional.cross_entropy(logits, labels, weight=w) (mean reduction)."""
    ce = -_log_softmax(logits)[np.arange(len(labels)), labels]
    w = np.ones(logits.shape[1]) if w is None else np.asarray(w, np.float64)
    return (w[labels] * ce).sum() / w[labels].sum()


def test_ldam_drw_hand_case():
    # Two classes, s = 1, no margins, w = (1, 3); logits [[1, 0], [0, 0]], labels (0, 1):
    # CE = log(1 + e^-1) = 0.313262 and log 2 = 0.693147; weighted mean (0.313262 + 3 * 0.693147) / 4.
    loss = losses.ClassificationLoss(np.array([1.0, 3.0]), weighted_mean=True)
    share, per_example = loss.batch_loss(np.array([0, 1]), np.array([[[1.0, 0.0]], [[0.0, 0.0]]], np.float32), identity)
    assert float(share) == pytest.approx((0.313262 + 3 * 0.693147) / 4, abs=1e-6)
    np.testing.assert_allclose(np.asarray(per_example), [0.313262, 3 * 0.693147], atol=1e-6)
    # The same loss with B as the divisor (this project's earlier reduction) is (0.313262 + 2.079442) / 2.
    assert float(np.sum(per_example)) / 2 == pytest.approx(1.196352, abs=1e-6)


@pytest.mark.parametrize("reweight", [0.0, 1.0])
def test_ldam_drw_before_and_after_the_switch_matches_its_original(reweight, rng):
    built = METHODS["ldam_drw"].build(COUNTS, MethodConfig(method="ldam_drw"), epochs=10)
    built.classification.reweight.assign(reweight)
    outputs = rng.uniform(-1, 1, (128, 10)).astype(np.float32)         # a cosine head's outputs
    labels = rng.choice(10, 128, p=np.asarray(COUNTS) / sum(COUNTS))  # the long-tailed prior
    share, _ = built.classification.batch_loss(labels, outputs[:, None], identity)
    margins = losses.ldam_margins(COUNTS, 0.5)
    onehot = np.eye(10)[labels]
    w = losses.effective_number_weights(COUNTS, 0.9999) if reweight else None
    want = _np_weighted_ce_mean(30.0 * (outputs - margins * onehot), labels, w)
    assert float(share) == pytest.approx(want, rel=1e-5)


def _np_ride(outputs, labels, counts, reweight, diversity=0.2, scale=30.0):
    """RIDE's loss for one batch as model/loss.py reduces it (lines 229 and 245)."""
    counts = np.asarray(counts, np.float64)
    m = losses.ldam_margins(counts, 0.5).astype(np.float64)
    w = losses.effective_number_weights(counts, 0.9999).astype(np.float64) if reweight else None
    v = expert_losses.ride_diversity_weights(counts, 0.05) if reweight else np.ones(len(counts))
    z = scale * outputs.astype(np.float64)
    onehot = np.eye(len(counts))[labels]
    target = np.exp(_log_softmax(z.mean(1) / v))
    total = 0.0
    for e in range(z.shape[1]):
        total += _np_weighted_ce_mean(z[:, e] - scale * m * onehot, labels, w)
        kl = (target * (np.log(target) - _log_softmax(z[:, e] / v))).sum() / len(labels)      # batchmean
        total += -diversity * v.mean() ** 2 * kl
    return total


@pytest.mark.parametrize("experts", [2, 3])
@pytest.mark.parametrize("reweight", [0.0, 1.0])
def test_ride_before_and_after_the_switch_matches_its_original(experts, reweight, rng):
    built = METHODS["ride"].build(COUNTS, MethodConfig(method="ride"), epochs=10)
    built.classification.reweight.assign(reweight)
    outputs = rng.uniform(-1, 1, (128, experts, 10)).astype(np.float32)
    labels = rng.choice(10, 128, p=np.asarray(COUNTS) / sum(COUNTS))
    share, _ = built.classification.batch_loss(labels, outputs, identity)
    assert float(share) == pytest.approx(_np_ride(outputs, labels, COUNTS, reweight), rel=1e-5, abs=1e-5)


def test_every_method_names_a_reduction():
    assert {m.reduction for m in METHODS.values()} <= set(REDUCTIONS)
    assert [n for n, m in METHODS.items() if m.reduction == "weighted_mean"] == ["ldam_drw", "ride"]
    cb = METHODS["cb"].build(COUNTS, MethodConfig(method="cb"), epochs=10).classification
    assert not cb.weighted_mean            # Cui et al.: the weighted sum over the batch / B


def _cosine_net():
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="tanh")(h))


def _one_step(strategy, weights, x, y):
    with strategy.scope():
        student = _cosine_net()
        student.set_weights(weights)
        loss = losses.ClassificationLoss(np.array([0.2, 1.0, 4.0], np.float32), margins=[0.5, 0.3, 0.2], scale=30.0,
                                         weighted_mean=True)
        d = Distiller(student=student, classification_loss=loss)
        d.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    d.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)), epochs=1, verbose=0)
    return [w.numpy() for w in student.weights]


def test_the_weighted_mean_of_two_replicas_equals_one_device():
    """Each replica's half-batch has its own sum of label weights; the divisor must be the global one."""
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(cpus) >= 2, "conftest splits the CPU into 2 logical devices"
    keras.utils.set_random_seed(0)
    w0 = _cosine_net().get_weights()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 6, 6, 2)).astype(np.float32)
    y = np.array([0, 0, 0, 0, 0, 1, 2, 2])      # replica halves with very different label weights
    single = _one_step(tf.distribute.OneDeviceStrategy("/cpu:0"), w0, x, y)
    mirrored = _one_step(tf.distribute.MirroredStrategy(cpus[:2]), w0, x, y)
    assert any(not np.allclose(a, b) for a, b in zip(w0, single))
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
