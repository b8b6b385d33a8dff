"""CoupledSGD against PyTorch's SGD update written by hand; the LR schedules."""

import json

import keras
import numpy as np
import pytest

from bkd_keras.method.optimizers import CoupledSGD
from bkd_keras.method.schedules import WarmupCosine, WarmupStepDecay, scaled_step_schedule


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
    # 3 epochs: warm-up capped at 0.75 (no epoch inside it); 0.8 * 3 = 2.4 -> 2 and 0.9 * 3 = 2.7 -> 3
    # would leave the last stage no epoch, so the drops come after epochs 1 and 2.
    (3, {1: 0.1, 2: 0.001, 3: 1e-5}),
    # 5 epochs: warm-up 1.25 (epoch 1 at 0.1 * 1 / 1.25); 4.0 -> 4 and 4.5 -> 4 collide: after 3 and 4.
    (5, {1: 0.08, 2: 0.1, 3: 0.1, 4: 0.001, 5: 1e-5}),
    # 7 epochs: warm-up 1.75 (epoch 1 at 0.1 / 1.75); 5.6 -> 6 and 6.3 -> 6 collide: after 5 and 6.
    (7, {1: 0.1 / 1.75, 2: 0.1, 5: 0.1, 6: 0.001, 7: 1e-5}),
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


def test_too_few_epochs_keep_the_peak_and_say_so():
    from bkd_keras.method.schedules import step_boundaries
    assert step_boundaries(2, 0.5, (0.8, 0.9)) == ([], "2 epochs are too few for the step schedule's 2 LR drops "
                                                   "after a 0.5-epoch warm-up (it needs >= 3); the LR stays at its peak.")
    assert step_boundaries(3, 0.75, (0.8, 0.9)) == ([1, 2], None)
    s = scaled_step_schedule(0.05, 1, 2, warmup_epochs=2)
    assert [s.lr_at_epoch(e) for e in (1, 2)] == [0.05, 0.05] and "too few" in s.note
    assert s.describe(2) == "LR by epoch 1-2: 0.05"
    assert scaled_step_schedule(0.1, 1, 5).describe(5) == "LR by epoch 1: 0.08, 2-3: 0.1, 4: 0.001, 5: 1e-05"


def test_the_warmup_used_is_what_the_run_folder_records(tmp_path):
    from bkd_keras.run.runner import run
    from conftest import small_config
    config = small_config(tmp_path, epochs=2, teacher_epochs=5, warmup_epochs=5, method="ce", stage="teacher")
    lines = []
    run(config, log=lines.append)
    with open(tmp_path / "run" / "flags.json") as f:
        assert json.load(f)["warmup_epochs"] == 0.5               # a quarter of the shorter stage's 2
    assert "note: --warmup_epochs=5 is more than a quarter of 2 epochs; the warm-up is 0.5 epochs." in lines
    assert "[teacher] LR by epoch 1-3: 0.1, 4: 0.001, 5: 1e-05" in lines


def test_cosine_warmup_is_capped_too():
    from bkd_keras.method.schedules import SCHEDULES
    s = SCHEDULES["cosine"](0.2, 10, 8, warmup_epochs=5)           # at most 2 of 8 epochs
    assert s.warmup_epochs == 2.0 and float(s(19)) == pytest.approx(0.2) and float(s(21)) < 0.2
