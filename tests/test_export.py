"""SavedModel and .keras exports serve the same outputs as the Keras model."""

import os

import keras
import numpy as np
import tensorflow as tf

from bkd_keras.run.export import export_classifier
from models import build_backbone


def test_saved_model_and_keras_round_trip(tmp_path, rng):
    model = build_backbone("resnet20", 4, (16, 16, 3))
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.3, 0.25]
    raw = rng.integers(0, 256, (5, 16, 16, 3)).astype(np.uint8)
    x = ((raw / 255.0 - np.array(mean)) / np.array(std)).astype(np.float32)
    expected = model(x, training=False).numpy()
    export_classifier(model, str(tmp_path), mean, std)

    loaded = tf.saved_model.load(os.path.join(tmp_path, "saved_model"))
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loaded.serve_uint8(tf.constant(raw)).numpy(), expected, rtol=1e-4, atol=1e-4)
    sig = loaded.signatures["serve"]
    out = list(sig(images=tf.constant(x)).values())[0].numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

    again = keras.saving.load_model(os.path.join(tmp_path, "model.keras"))
    np.testing.assert_allclose(again(x, training=False).numpy(), expected, rtol=1e-6, atol=1e-6)
    assert not os.path.exists(os.path.join(tmp_path, "saved_model.tmp"))
