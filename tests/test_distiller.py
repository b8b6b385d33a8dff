"""The Distiller: frozen teacher, mixup, deferred switch, loss reduction."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bkd_keras.method import losses
from bkd_keras.method.callbacks import DeferredReweighting
from bkd_keras.method.distiller import Distiller
from bkd_keras.method.mixup import mix_batch
from models import build_backbone


def tiny_data(n=48, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int64)
    return x, y


def make(teacher=True, mixup=0.0, weights=None, reweight=1.0, classes=4):
    student = build_backbone("small_cnn", classes, (8, 8, 1))
    t = build_backbone("small_cnn", classes, (8, 8, 1)) if teacher else None
    kd = losses.BalancedKDLoss(weights, 2.0, reweight=reweight) if teacher else None
    d = Distiller(student=student, teacher=t, distillation_loss=kd, mixup_alpha=mixup, seed=1)
    d.compile(optimizer=keras.optimizers.SGD(0.05))
    return d


def test_teacher_weights_bit_identical_after_fit():
    x, y = tiny_data()
    d = make(mixup=1.0, weights=np.array([1, 2, 3, 4], np.float32))
    before = [w.numpy().copy() for w in d.teacher.weights]   # includes BN moving statistics
    student_before = [w.numpy().copy() for w in d.student.trainable_weights]
    d.fit(x, y, batch_size=16, epochs=2, verbose=0)
    for a, b in zip(before, d.teacher.weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(student_before, d.student.trainable_weights))
    assert not d.teacher.trainable


def test_mixup_lambda_one_is_identity_and_labels_mix():
    x = np.arange(24, dtype=np.float32).reshape(3, 2, 2, 2)
    t = np.eye(3, dtype=np.float32)
    perm = np.array([2, 0, 1])
    mx, mt = mix_batch(x, t, 1.0, perm)
    np.testing.assert_array_equal(mx, x)
    np.testing.assert_array_equal(mt, t)
    mx, mt = mix_batch(x, t, 0.25, perm)
    np.testing.assert_allclose(mx, 0.25 * x + 0.75 * x[perm], rtol=1e-6)
    np.testing.assert_allclose(mt, [[0.25, 0, 0.75], [0.75, 0.25, 0], [0, 0.75, 0.25]], rtol=1e-6)


def test_train_step_loss_equals_numpy_mean_of_ce_plus_kd():
    x, y = tiny_data(n=16)
    w = np.array([0.5, 1.0, 2.0, 4.0], np.float32)
    d = make(weights=w)
    d.compile(optimizer=keras.optimizers.SGD(0.0))    # no update: compare the step's loss
    s = d.student(x, training=True).numpy()           # BN in training mode, as in the step
    t = d.teacher(x, training=False).numpy()
    logs = d.train_on_batch(x, y, return_dict=True)
    log_s = s - s.max(1, keepdims=True)
    log_s = log_s - np.log(np.exp(log_s).sum(1, keepdims=True))
    ce = -log_s[np.arange(16), y]
    kd = np.asarray(losses.balanced_kd_loss(t, s, w, 2.0))
    assert logs["loss"] == pytest.approx(float(np.mean(ce + kd)), rel=1e-4)
    assert logs["ce_loss"] == pytest.approx(float(np.mean(ce)), rel=1e-4)
    assert logs["kd_loss"] == pytest.approx(float(np.mean(kd)), rel=1e-4)


def test_deferred_switch_changes_loss_at_chosen_epoch_only():
    x, y = tiny_data()
    w = np.array([0.1, 1.0, 3.0, 9.0], np.float32)
    d = make(weights=w, reweight=0.0)
    probe_t = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    probe_s = np.random.default_rng(4).normal(size=(5, 4)).astype(np.float32)
    kd_value = float(np.mean(losses.balanced_kd_loss(probe_t, probe_s, None, 2.0)))
    bkd_value = float(np.mean(losses.balanced_kd_loss(probe_t, probe_s, w, 2.0)))
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                seen.append(float(np.mean(self.model.distillation_loss(probe_t, probe_s))))

    d.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[DeferredReweighting(3, [d.distillation_loss.reweight]), Probe()])
    assert seen[:3] == pytest.approx([kd_value] * 3, rel=1e-5)
    assert seen[3:] == pytest.approx([bkd_value] * 2, rel=1e-5)
    assert kd_value != pytest.approx(bkd_value, rel=1e-3)


def test_without_teacher_is_plain_training_and_rejects_mismatches():
    x, y = tiny_data()
    d = make(teacher=False)
    logs = d.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert "kd_loss" not in logs and np.isfinite(logs["loss"][0])
    student = build_backbone("small_cnn", 4, (8, 8, 1))
    with pytest.raises(ValueError, match="predicts 5 classes"):
        Distiller(student=student, teacher=build_backbone("small_cnn", 5, (8, 8, 1)), distillation_loss=losses.BalancedKDLoss())
    with pytest.raises(ValueError, match="inputs of shape"):
        Distiller(student=student, teacher=build_backbone("small_cnn", 4, (16, 16, 1)), distillation_loss=losses.BalancedKDLoss())
    with pytest.raises(ValueError, match="both or neither"):
        Distiller(student=student, teacher=None, distillation_loss=losses.BalancedKDLoss())


def _plain_net(classes=3):
    # No BatchNorm: per-replica batch statistics would differ from one device's by design.
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(classes)(h))


def _one_step(strategy, weights, teacher_weights, x, y):
    with strategy.scope():
        student, teacher = _plain_net(), _plain_net()
        student.set_weights(weights)
        teacher.set_weights(teacher_weights)
        d = Distiller(student=student, teacher=teacher, distillation_loss=losses.BalancedKDLoss(
            np.array([1.0, 2.0, 5.0], np.float32), 2.0))
        d.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x))
    d.fit(ds, epochs=1, verbose=0)
    return [w.numpy() for w in student.weights]


def test_mirrored_two_replicas_equal_one_device():
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(cpus) >= 2, "conftest splits the CPU into 2 logical devices"
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    w0, t0 = _plain_net().get_weights(), _plain_net().get_weights()
    x = rng.normal(size=(8, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    single = _one_step(tf.distribute.OneDeviceStrategy("/cpu:0"), w0, t0, x, y)
    mirrored = _one_step(tf.distribute.MirroredStrategy(cpus[:2]), w0, t0, x, y)
    assert any(not np.allclose(a, b) for a, b in zip(w0, single))   # the step did change the weights
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_distiller_config_round_trip():
    d = make(mixup=0.4, weights=np.array([1, 2, 3, 4], np.float32))
    clone = Distiller.from_config(d.get_config())
    assert clone.mixup_alpha == 0.4 and clone.distillation_loss.class_weights == [1.0, 2.0, 3.0, 4.0]
    assert clone.teacher.output_shape == d.teacher.output_shape and not clone.teacher.trainable


def test_learning_rate_logged_is_the_epochs_own():
    from bkd_keras.method.callbacks import LearningRateLogger
    from bkd_keras.method.schedules import WarmupStepDecay
    x, y = tiny_data(n=32)
    d = make(teacher=False)
    d.compile(optimizer=keras.optimizers.SGD(WarmupStepDecay(0.1, 2, warmup_epochs=5, boundaries=(), factors=())))
    history = d.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[LearningRateLogger()])
    assert history.history["lr"] == pytest.approx([0.02, 0.04, 0.06])


def test_xla_compiled_bkd_step_with_mixup_equals_the_eager_step():
    from data.mixup_draws import attach_mixup
    x, y = tiny_data(n=32)
    data = attach_mixup(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), alpha=1.0, seed=3)
    w = np.array([1, 2, 3, 4], np.float32)
    results = []
    for mode in (dict(run_eagerly=True), dict(jit_compile=True)):
        keras.utils.set_random_seed(0)
        d = make(mixup=1.0, weights=w)
        d.compile(optimizer=keras.optimizers.SGD(0.05), **mode)
        history = d.fit(data, epochs=1, verbose=0)
        results.append((d.student.get_weights(), history.history["loss"][0]))
    (eager, eager_loss), (xla, xla_loss) = results
    assert xla_loss == pytest.approx(eager_loss, rel=1e-5)
    for a, b in zip(eager, xla):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert not all(np.array_equal(a, b) for a, b in zip(eager, make(mixup=1.0, weights=w).student.get_weights()))


def test_pipeline_draws_equal_the_in_step_draws_and_resume_exactly():
    from bkd_keras.method.mixup import sample_mixup, unpack_draws
    from data.mixup_draws import attach_mixup
    x, y = tiny_data(n=40)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat(2)      # 3 steps per epoch
    full = [unpack_draws(d) for _, _, d in attach_mixup(batches, 0.4, seed=9)]
    resumed = [unpack_draws(d) for _, _, d in attach_mixup(batches.skip(3), 0.4, seed=9, start_step=3)]
    for k, (lam, perm) in enumerate(full):
        in_step = sample_mixup(len(perm), 0.4, tf.constant([9, k], tf.int64))
        assert float(lam) == float(in_step[0]) and np.array_equal(perm, in_step[1])
        assert sorted(perm.numpy().tolist()) == list(range(len(perm)))   # a permutation of the batch
    for (a, pa), (b, pb) in zip(full[3:], resumed):
        assert float(a) == float(b) and np.array_equal(pa, pb)


def test_models_are_keywords_so_keras_order_cannot_train_the_teacher():
    student, teacher = build_backbone("small_cnn", 4, (8, 8, 1)), build_backbone("small_cnn", 4, (8, 8, 1))
    # keras.distillation.Distiller(teacher, student, ...) order, positionally: refused, naming the fix.
    with pytest.raises(TypeError, match=r"Distiller\(student=\.\.\., teacher=\.\.\."):
        Distiller(teacher, student, distillation_loss=losses.BalancedKDLoss())
    with pytest.raises(TypeError, match="by keyword"):
        Distiller(teacher=teacher, distillation_loss=losses.BalancedKDLoss())
    d = Distiller(student=student, teacher=teacher, distillation_loss=losses.BalancedKDLoss())
    assert d.student is student and d.teacher is teacher and not d.teacher.trainable
