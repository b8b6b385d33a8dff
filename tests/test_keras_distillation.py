"""BKD as a keras.distillation loss (bkd_keras/method/keras_distillation.py): Keras' own Distiller computes
the paper's BKD term, serialises the loss, and the deferral callback switches it at the right epoch."""

import keras
import numpy as np
import pytest

from bkd_keras.method.callbacks import DeferredReweighting
from bkd_keras.method.keras_distillation import BalancedLogitsDistillation, keras_mixup


def _bkd_numpy(teacher, student, weights, t):
    """T^2 KL(q || p_s) averaged over the batch, q = w * softmax(z_t / T) renormalised (the paper's Eq.)."""
    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    q = weights * softmax(teacher / t)
    q /= q.sum(-1, keepdims=True)
    p = softmax(student / t)
    return float(np.mean(t * t * np.sum(q * (np.log(q) - np.log(p)), -1)))


def _models(num_classes=4, features=6, seed=0):
    def model(s):
        x = keras.Input((features,))
        return keras.Model(x, keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.RandomNormal(
            stddev=1.0, seed=s))(x))
    return model(seed), model(seed + 1)


def test_keras_distiller_value_is_the_bkd_term():
    counts = np.array([500, 100, 20, 5])
    weights = (1 - 0.999) / (1 - 0.999 ** counts)
    weights = weights / weights.sum() * 4                    # Cui et al.'s normalisation, by hand
    teacher, student = _models()
    loss = BalancedLogitsDistillation(class_counts=counts, beta=0.999, temperature=2.0)
    distiller = keras.distillation.Distiller(teacher=teacher, student=student, distillation_losses=loss,
                                             student_loss_weight=0.0)
    distiller.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 0, 1, 2]]
    value = float(distiller.compute_loss(x, y, student(x), training=False))
    t_logits, s_logits = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    assert value == pytest.approx(_bkd_numpy(t_logits, s_logits, weights, 2.0), rel=1e-5)
    from bkd_keras import balanced_kd_loss                  # the project's own BKD term, same batch
    assert value == pytest.approx(float(np.mean(balanced_kd_loss(t_logits, s_logits, weights.astype(np.float32), 2.0))),
                                  rel=1e-5)
    loss.reweight.assign(0.0)                                # switched off: plain KD
    value = float(distiller.compute_loss(x, y, student(x), training=False))
    assert value == pytest.approx(_bkd_numpy(t_logits, s_logits, np.ones(4), 2.0), rel=1e-5)


def test_loss_serialises_with_its_switch_and_refuses_bad_input():
    loss = BalancedLogitsDistillation(class_weights=[0.5, 1.5], temperature=3.0, reweight=0.0)
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(copy, BalancedLogitsDistillation)
    assert (copy.class_weights, copy.temperature, float(copy.reweight.numpy())) == ([0.5, 1.5], 3.0, 0.0)
    with pytest.raises(ValueError, match="exactly one of class_counts"):
        BalancedLogitsDistillation()
    with pytest.raises(ValueError, match="temperature must be > 0"):
        BalancedLogitsDistillation(class_counts=[3, 1], temperature=0)
    teacher, student = _models(num_classes=3)
    with pytest.raises(ValueError, match="predicts 3 classes but BalancedLogitsDistillation has 2"):
        loss.validate_outputs(teacher.outputs[0], student.outputs[0])


def test_two_epoch_fit_with_mixup_switches_at_the_deferral_epoch():
    from data import load_dataset, steps_per_epoch, train_dataset
    from models import build_backbone
    data = load_dataset("digits", imbalance_ratio=10)
    teacher = build_backbone("small_cnn", data.num_classes, data.image_shape)
    student = build_backbone("small_cnn", data.num_classes, data.image_shape)
    loss = BalancedLogitsDistillation(class_counts=data.class_counts, temperature=2.0)
    distiller = keras.distillation.Distiller(teacher=teacher, student=student, distillation_losses=loss,
                                             student_loss_weight=0.5)
    distiller.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    batches = keras_mixup(train_dataset(data, 32, repeat=True, mixup_alpha=1.0), data.num_classes)
    x, y = next(iter(batches))
    assert y.shape == (32, data.num_classes) and np.allclose(np.sum(y, 1), 1.0)
    assert len(np.unique(np.round(np.max(y, 1), 5))) <= 2     # one lambda per batch: max(lam, 1 - lam) or a self-pair's 1

    seen = []
    probe = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: seen.append(float(loss.reweight.numpy())))
    history = distiller.fit(batches, epochs=2, steps_per_epoch=steps_per_epoch(data, 32), verbose=0,
                            callbacks=[DeferredReweighting(1, [loss.reweight]), probe])
    steps = steps_per_epoch(data, 32)
    assert seen == [0.0] * steps + [1.0] * steps          # KD in epoch 1, BKD from epoch 2 (0-based 1)
    assert history.history["reweight_active"] == [0.0, 1.0]
    assert all(np.isfinite(history.history["loss"]))
