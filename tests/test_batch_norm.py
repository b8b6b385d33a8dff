"""FusedBatchNormalization against a numpy batch norm (forward, moving statistics, backward)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import build_backbone
from models.batch_norm import FusedBatchNormalization, batch_norm

EPS, MOMENTUM = 1e-5, 0.9
GAMMA, BETA = np.array([1.5, 0.5, 2.0], "float32"), np.array([0.1, -0.2, 0.3], "float32")


def _layer():
    layer = FusedBatchNormalization(momentum=MOMENTUM, epsilon=EPS)
    layer.build((None, 5, 4, 3))
    layer.gamma.assign(GAMMA)
    layer.beta.assign(BETA)
    return layer


def _inputs():
    return (np.random.RandomState(0).randn(6, 5, 4, 3) * [3.0, 0.5, 1.0] + [1.0, -2.0, 0.0]).astype("float32")


def test_training_forward_and_moving_statistics_match_numpy():
    x, layer = _inputs(), _layer()
    y = layer(x, training=True).numpy()
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))   # biased, as Keras averages it
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + EPS) * GAMMA + BETA, atol=2e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(layer.moving_variance.numpy(), MOMENTUM + (1 - MOMENTUM) * var, rtol=1e-5)


def test_inference_uses_moving_statistics():
    x, layer = _inputs(), _layer()
    layer.moving_mean.assign([0.5, -1.0, 0.2])
    layer.moving_variance.assign([4.0, 0.25, 1.5])
    y = layer(x, training=False).numpy()
    expected = (x - [0.5, -1.0, 0.2]) / np.sqrt(np.array([4.0, 0.25, 1.5]) + EPS) * GAMMA + BETA
    np.testing.assert_allclose(y, expected, atol=2e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), [0.5, -1.0, 0.2])   # untouched


def test_input_gradient_matches_closed_form():
    x, layer = _inputs(), _layer()
    upstream = np.random.RandomState(1).randn(*x.shape).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt, training=True) * upstream)
    grads = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    xhat = (x - mean) / np.sqrt(var + EPS)
    axes = (0, 1, 2)
    dx = GAMMA / np.sqrt(var + EPS) * (upstream - upstream.mean(axes) - xhat * (upstream * xhat).mean(axes))
    np.testing.assert_allclose(grads[0].numpy(), dx, atol=1e-4)
    np.testing.assert_allclose(grads[1].numpy(), (upstream * xhat).sum(axes), rtol=1e-4)
    np.testing.assert_allclose(grads[2].numpy(), upstream.sum(axes), rtol=1e-5)


def test_falls_back_to_keras_for_non_image_inputs():
    layer = FusedBatchNormalization(epsilon=EPS)
    x = np.random.RandomState(2).randn(8, 3).astype("float32") * 2 + 1
    y = layer(x, training=True).numpy()
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + EPS), atol=1e-5)


def test_backbones_agree_across_batch_norm_kinds_and_reload(tmp_path):
    fused = build_backbone("resnet20", 4, (16, 16, 3), batch_norm="fused")
    plain = build_backbone("resnet20", 4, (16, 16, 3), batch_norm="keras")
    assert sum(isinstance(layer, FusedBatchNormalization) for layer in fused.layers) == 19
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in plain.layers)
    plain.set_weights(fused.get_weights())
    x = np.random.RandomState(3).rand(4, 16, 16, 3).astype("float32")
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), atol=1e-4)
    fused.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("stem_bn"), FusedBatchNormalization)
    np.testing.assert_allclose(loaded(x), fused(x), atol=1e-6)


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown --batch_norm='cudnn'.*fused, keras"):
        batch_norm("cudnn")
