"""Serving exports of a trained classifier: SavedModel (two endpoints) and a .keras file."""

import os
import shutil

import keras
import tensorflow as tf

from bkd_keras.run.io_utils import atomic_save_model, atomic_write_text, replace_dir


def export_classifier(model, directory, mean=None, std=None, vectorizer=None):
    """Writes `directory/saved_model` and `directory/model.keras` (+ vocabulary.txt for text).

    SavedModel endpoints (logits float32 (B, C)), images:
      serve:        normalised float32 images (B, H, W, C), as the Keras model takes;
      serve_uint8:  raw uint8 images (B, H, W, C); normalisation with the training
                    `mean` / `std` (per channel, [0, 1] units) is inside.
    Text (with the training `vectorizer`):
      serve:        int64 token ids (B, L), as the Keras model takes;
      serve_text:   raw strings (B,); the tokenisation is inside.
    """
    os.makedirs(directory, exist_ok=True)
    shape = (None,) + tuple(model.input_shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(inputs):
        return tf.cast(model(inputs, training=False), tf.float32)

    if vectorizer is not None:
        archive.track(vectorizer)
        archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec(shape, tf.int64, name="tokens")])
        archive.add_endpoint("serve_text", lambda texts: serve(vectorizer(texts)),
                             input_signature=[tf.TensorSpec((None,), tf.string, name="texts")])
        write_vocabulary(vectorizer.get_vocabulary(), directory)
    else:
        mean_t = tf.constant(mean, tf.float32)
        std_t = tf.constant(std, tf.float32)
        archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
        archive.add_endpoint("serve_uint8", lambda images: serve((tf.cast(images, tf.float32) / 255.0 - mean_t) / std_t),
                             input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")])
    final = os.path.join(directory, "saved_model")
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write_out(tmp, verbose=False)
    replace_dir(tmp, final)
    atomic_save_model(model, os.path.join(directory, "model.keras"))
    return final


VOCABULARY_FILE = "vocabulary.txt"


def write_vocabulary(vocabulary, directory):
    """The token of each id, one per line (id 0 padding, 1 out-of-vocabulary), next to a text model."""
    atomic_write_text(os.path.join(directory, VOCABULARY_FILE), "\n".join(vocabulary) + "\n")


def read_vocabulary(directory):
    """The vocabulary written by `write_vocabulary`, or None when there is none."""
    path = os.path.join(directory, VOCABULARY_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]
