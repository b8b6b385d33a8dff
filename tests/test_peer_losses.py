"""Peer methods: logit-adjusted loss, balanced softmax, LDAM-DRW; cosine head. NumPy references."""

import keras
import numpy as np
import pytest

from bkd_keras.method import losses
from bkd_keras.method.callbacks import DeferredReweighting
from bkd_keras.method.distiller import Distiller
from bkd_keras.run.config import MethodConfig
from bkd_keras.method.methods import METHODS
from models import CosineDense, build_backbone
from test_losses import np_log_softmax

COUNTS = np.array([500, 120, 40, 9, 2])


def build(name, epochs=10, **method_config):
    """The method's Losses for a stage of `epochs`; settings as MethodConfig fields or options."""
    fields = {k: v for k, v in method_config.items() if k in MethodConfig.__dataclass_fields__}
    options = tuple(sorted((k, v) for k, v in method_config.items() if k not in fields))
    return METHODS[name].build(COUNTS, MethodConfig(method=name, options=options, **fields), epochs)


def np_ce(logits, labels):
    return -np_log_softmax(logits.astype(np.float64))[np.arange(len(labels)), labels]


def test_logit_adjusted_loss_matches_numpy(rng):
    z = rng.normal(size=(6, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4, 4])
    prior = COUNTS / COUNTS.sum()
    for tau in (0.5, 1.0, 2.0):
        loss = losses.ClassificationLoss(logit_adjustment=tau * losses.log_prior(COUNTS))
        np.testing.assert_allclose(loss(y, z), np_ce(z + tau * np.log(prior), y), rtol=1e-5)


def test_balanced_softmax_equals_la_with_tau_one(rng):
    z = rng.normal(size=(6, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4, 4])
    bs = build("balanced_softmax", la_tau=3.0).classification   # tau is fixed to 1 for it
    # Ren et al.: softmax with n_c * exp(z_c), i.e. CE on z + log n.
    np.testing.assert_allclose(bs(y, z), np_ce(z + np.log(COUNTS), y), rtol=1e-5)


def test_ldam_matches_reference_formula(rng):
    # Cao et al.: m_c = 1 / n_c^(1/4) scaled to max 0.5; CE(s * (z - m_y at the target)); DRW weights.
    z = np.tanh(rng.normal(size=(5, 5))).astype(np.float32)     # cosine-head range
    y = np.array([0, 1, 2, 3, 4])
    m = 1.0 / np.sqrt(np.sqrt(COUNTS))
    m = m * (0.5 / m.max())
    np.testing.assert_allclose(losses.ldam_margins(COUNTS, 0.5), m, rtol=1e-6)
    adjusted = z - np.eye(5)[y] * m
    w = losses.effective_number_weights(COUNTS, 0.9999)
    built = build("ldam_drw", bkd_start_epoch=3)                  # deferred: weights off
    ldam = built.classification
    assert built.deferred == (ldam.reweight,) and built.switch_epoch == 3 and built.distillation is None
    np.testing.assert_allclose(ldam(y, z), np_ce(30 * adjusted, y), rtol=1e-4)
    ldam.reweight.assign(1.0)
    np.testing.assert_allclose(ldam(y, z), w[y] * np_ce(30 * adjusted, y), rtol=1e-4)
    clone = keras.losses.deserialize(keras.losses.serialize(ldam))
    np.testing.assert_allclose(clone(y, z), ldam(y, z), rtol=1e-6)


def test_cosine_head(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    layer = CosineDense(2)
    out = np.asarray(layer(x))
    k = layer.kernel.numpy()
    expected = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (k / np.linalg.norm(k, axis=0, keepdims=True))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(out) <= 1 + 1e-6)
    model = build_backbone("small_cnn", 5, (8, 8, 1), head="cosine")
    assert isinstance(model.get_layer("logits"), CosineDense)


def test_drw_switch_turns_on_ce_weights_at_the_chosen_epoch():
    built = build("ldam_drw", drw_start_fraction=0.5, epochs=4)   # switch at epoch 2 of 4
    d = Distiller(student=build_backbone("small_cnn", 5, (8, 8, 1), head="cosine"), classification_loss=built.classification)
    d.compile(optimizer=keras.optimizers.SGD(0.01))
    x = np.random.default_rng(0).normal(size=(20, 8, 8, 1)).astype(np.float32)
    y = np.arange(20) % 5
    history = d.fit(x, y, batch_size=10, epochs=4, verbose=0, callbacks=built.callbacks())
    assert history.history["reweight_active"] == [0.0, 0.0, 1.0, 1.0]


def test_focal_loss_matches_numpy(rng):
    z = rng.normal(size=(6, 5)).astype(np.float32) * 3
    y = np.array([0, 1, 2, 3, 4, 4])
    log_p = np_log_softmax(z.astype(np.float64))
    p_y = np.exp(log_p[np.arange(6), y])
    for gamma in (0.0, 1.0, 2.0):
        # Lin et al. / the LDAM-DRW code: (1 - p_y)^gamma * CE.
        np.testing.assert_allclose(losses.FocalLoss(gamma)(y, z), (1 - p_y) ** gamma * -np.log(p_y), rtol=1e-5)
    soft = np.full((1, 5), 0.2, np.float32)      # soft targets: each class weighted by its own (1 - p_c)
    expected = -np.sum(0.2 * (1 - np.exp(log_p[:1])) * log_p[:1])
    np.testing.assert_allclose(losses.FocalLoss(1.0)(soft, z[:1]), [expected], rtol=1e-5)
    focal = build("focal", focal_gamma=2.0).classification
    assert focal.gamma == 2.0 and build("focal").classification.gamma == 1.0   # gamma 1 by default
    clone = keras.losses.deserialize(keras.losses.serialize(focal))
    np.testing.assert_allclose(clone(y, z), focal(y, z), rtol=1e-6)


def test_a_method_holds_its_rules():
    bkd = build("bkd", bkd_start_fraction=0.8, epochs=200)
    assert bkd.switch_epoch == 160 and bkd.deferred == (bkd.distillation.reweight,)
    assert float(bkd.distillation.reweight.numpy()) == 0.0          # KD until the switch
    assert build("bkd", bkd_start_epoch=0).distillation.reweight.numpy() == 1.0
    assert build("kd").deferred == () and build("kd").callbacks() == []
    assert METHODS["bkd"].mixup_alpha(MethodConfig(mixup_alpha=0.3)) == 0.3
    assert METHODS["weighted_kd"].mixup_alpha(MethodConfig(mixup_alpha=0.3)) == 0.0
    assert METHODS["la"].options(MethodConfig()) == {"la_tau": 1.0}


@pytest.mark.parametrize("name", ["la", "balanced_softmax", "ldam_drw", "cb", "mixup", "focal"])
def test_every_teacherless_method_trains(tmp_path, name):
    from bkd_keras.run.runner import run
    from conftest import small_config
    result = run(small_config(tmp_path, method=name, bkd_start_epoch=0))
    assert set(result["reports"]) == {f"student ({name})"}
    assert np.isfinite(result["reports"][f"student ({name})"]["top1"])
