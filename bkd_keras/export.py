"""Serving exports of a trained classifier: SavedModel (two endpoints) and a .keras file."""

import os
import shutil

import keras
import tensorflow as tf

from bkd_keras.io_utils import atomic_save_model, replace_dir


def export_classifier(model, directory, mean, std):
    """Writes `directory/saved_model` and `directory/model.keras`.

    SavedModel endpoints (logits float32 (B, C)):
      serve:        normalised float32 images (B, H, W, C), as the Keras model takes;
      serve_uint8:  raw uint8 images (B, H, W, C); normalisation with the training
                    `mean` / `std` (per channel, [0, 1] units) is inside.
    """
    os.makedirs(directory, exist_ok=True)
    shape = (None,) + tuple(model.input_shape[1:])
    mean_t = tf.constant(mean, tf.float32)
    std_t = tf.constant(std, tf.float32)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(images):
        return tf.cast(model(images, training=False), tf.float32)

    def serve_uint8(images):
        return serve((tf.cast(images, tf.float32) / 255.0 - mean_t) / std_t)

    archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
    archive.add_endpoint("serve_uint8", serve_uint8,
                         input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")])
    final = os.path.join(directory, "saved_model")
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write_out(tmp, verbose=False)
    replace_dir(tmp, final)
    atomic_save_model(model, os.path.join(directory, "model.keras"))
    return final
