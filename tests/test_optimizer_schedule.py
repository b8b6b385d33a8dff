"""CoupledSGD against PyTorch's SGD update written by hand; the LR schedules."""

import keras
import numpy as np
import pytest

from bkd_keras.optimizers import CoupledSGD
from bkd_keras.schedules import WarmupCosine, WarmupStepDecay, scaled_step_schedule


def test_two_steps_match_hand_computed_torch_sgd():
    w0 = np.array([1.0, -2.0, 0.5], np.float32)
    g1 = np.array([0.1, 0.2, -0.3], np.float32)
    g2 = np.array([-0.4, 0.05, 0.3], np.float32)
    lr = [0.1, 0.01]                # an LR drop between the steps takes effect at once
    mom, l2 = 0.9, 2e-4

    var = keras.Variable(w0)
    lr_var = iter(lr)
    opt = CoupledSGD(learning_rate=lambda: next(lr_var), momentum=mom, l2=l2)
    opt.apply_gradients([(g1, var)])
    opt.apply_gradients([(g2, var)])

    # torch.optim.SGD: d = g + wd * w; buf = mom * buf + d (buf = d at the first step); w -= lr * buf
    d1 = g1 + l2 * w0
    buf = d1
    w1 = w0 - lr[0] * buf
    d2 = g2 + l2 * w1
    buf = mom * buf + d2
    w2 = w1 - lr[1] * buf
    np.testing.assert_allclose(var.numpy(), w2, rtol=1e-6, atol=1e-7)


def test_recipe_step_schedule_per_epoch():
    schedule = WarmupStepDecay(0.1, steps_per_epoch=10, warmup_epochs=5, boundaries=(160, 180),
                               factors=(0.01, 0.0001))
    expected = {1: 0.02, 2: 0.04, 5: 0.1, 6: 0.1, 160: 0.1, 161: 0.001, 180: 0.001, 181: 1e-5, 200: 1e-5}
    for epoch, lr in expected.items():
        assert schedule.lr_at_epoch(epoch) == pytest.approx(lr)
        for step in ((epoch - 1) * 10, epoch * 10 - 1):   # first and last step of the epoch
            assert float(schedule(step)) == pytest.approx(lr, rel=1e-6)


def test_scaled_schedule_keeps_shape():
    s = scaled_step_schedule(0.1, 1, 40)
    assert s.boundaries == [32, 36] and s.warmup_epochs == 5
    assert float(s(32)) == pytest.approx(0.001) and float(s(31)) == pytest.approx(0.1)


def test_cosine():
    s = WarmupCosine(0.2, steps_per_epoch=10, total_epochs=10, warmup_epochs=0)
    assert float(s(0)) == pytest.approx(0.2)
    assert float(s(50)) == pytest.approx(0.1, rel=1e-5)
    assert float(s(100)) == pytest.approx(0.0, abs=1e-7)
    clone = WarmupCosine.from_config(s.get_config())
    assert float(clone(25)) == pytest.approx(float(s(25)))


@pytest.mark.parametrize("epochs, table", [
    # Hand-computed per-epoch LR (base 0.1, recipe: 5 warm-up epochs, x0.01 / x0.0001 at 80% / 90%).
    (5, {1: 0.08, 2: 0.1, 3: 0.1, 4: 0.1, 5: 1e-5}),           # warm-up capped at 5 / 4 = 1.25 epochs
    (20, {1: 0.02, 2: 0.04, 3: 0.06, 4: 0.08, 5: 0.1, 6: 0.1, 16: 0.1, 17: 0.001, 18: 0.001, 19: 1e-5, 20: 1e-5}),
    (200, {1: 0.02, 5: 0.1, 6: 0.1, 160: 0.1, 161: 0.001, 180: 0.001, 181: 1e-5, 200: 1e-5}),
])
def test_the_schedule_keeps_warmup_peak_and_decay_at_any_length(epochs, table):
    s = scaled_step_schedule(0.1, 3, epochs)
    for epoch, lr in table.items():
        assert s.lr_at_epoch(epoch) == pytest.approx(lr), epoch
        assert float(s((epoch - 1) * 3)) == pytest.approx(lr, rel=1e-6)
    assert min(s.boundaries) >= s.warmup_epochs                   # drops never inside the warm-up
    clone = WarmupStepDecay.from_config(s.get_config())
    assert clone.lr_at_epoch(1) == pytest.approx(table[1])


def test_cosine_warmup_is_capped_too():
    from bkd_keras.schedules import SCHEDULES
    s = SCHEDULES["cosine"](0.2, 10, 8, warmup_epochs=5)           # at most 2 of 8 epochs
    assert s.warmup_epochs == 2.0 and float(s(19)) == pytest.approx(0.2) and float(s(21)) < 0.2
