"""LiteRT (TensorFlow Lite) files of a trained image classifier, for phones and small devices.

Each file takes uint8 images (B, H, W, C), normalises them inside and returns float32 logits
(B, classes): it is the stock-Keras classifier (run/stock_model.py) converted by Keras'
`model.export(path, format="litert")`, whose converter folds BatchNorm into the convolutions.

    fp32   float32 weights and arithmetic (the reference);
    fp16   float16 weights, dequantised to float32 at load (half the size);
    int8   full-integer: int8 weights and activations on every op, activation ranges calibrated
           on `calibration` training images (the input stays uint8, the output float32).

Files are run with `ai_edge_litert` (Google's LiteRT runtime on PyPI), which replaces the
deprecated `tf.lite.Interpreter`; the conversion itself is TensorFlow's (through Keras).
"""

import os

import numpy as np

from bkd_keras.run.config import ConfigError

LITERT_KINDS = ("fp32", "fp16", "int8")
CALIBRATION_IMAGES = 256


def check_kinds(kinds, text=False, streamed=False):
    """Raises ConfigError unless every entry of `kinds` is one of LITERT_KINDS (and, if any, the
    model reads images held in memory: `streamed` files are resized in the pipeline, not in the model)."""
    bad = [k for k in kinds if k not in LITERT_KINDS]
    if bad:
        raise ConfigError(f"Unknown --export_litert value(s) {', '.join(map(repr, bad))}. Valid values: "
                          f"{', '.join(LITERT_KINDS)} (comma-separated, e.g. --export_litert=fp32,int8).")
    if kinds and text:
        raise ConfigError(_TEXT)
    if kinds and streamed:
        raise ConfigError(_STREAMED)


_STREAMED = ("--export_litert needs images decoded in memory; with --augmentation=resized_crop the image files "
             "are resized in the input pipeline, which a LiteRT file would not contain. Export the run's "
             "export/saved_model instead, or drop --export_litert.")
_TEXT = ("--export_litert exports image classifiers; a text model's export/saved_model (endpoint "
         "serve_text) is its deployable form. Drop --export_litert.")


def calibration_images(dataset, count=CALIBRATION_IMAGES, seed=0):
    """`count` training images (uint8 (N, H, W, C)) drawn without replacement, seeded."""
    if dataset.is_text:
        raise ConfigError(_TEXT)
    if dataset.train.images is None:
        raise ConfigError(_STREAMED)
    images = dataset.train.images
    pick = np.random.default_rng(seed).choice(len(images), min(count, len(images)), replace=False)
    return images[np.sort(pick)]


def _converter_options(kind, calibration):
    import tensorflow as tf
    if kind == "fp32":
        return {}
    if kind == "fp16":
        return dict(optimizations=[tf.lite.Optimize.DEFAULT], target_spec={"supported_types": [tf.float16]})

    def representative():
        for image in calibration:
            yield [image[None]]
    return dict(optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative,
                target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]})


def export_litert(classifier, directory, kinds, calibration):
    """Writes DIRECTORY/model_<kind>.tflite for each kind; returns {kind: path}.

    `classifier`: a stock classifier (uint8 images in, run/stock_model.stock_classifier);
    `calibration`: uint8 images (N, H, W, C) for int8's activation ranges.
    """
    check_kinds(kinds)
    if classifier.input.dtype != "uint8":
        raise ValueError("export_litert takes a stock classifier (uint8 images in); build it with "
                         "bkd_keras.run.stock_model.stock_classifier(model, mean, std).")
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for kind in kinds:
        path = os.path.join(directory, f"model_{kind}.tflite")
        tmp = path[:-len(".tflite")] + ".tmp.tflite"
        classifier.export(tmp, format="litert", verbose=False, **_converter_options(kind, calibration))
        os.replace(tmp, path)
        paths[kind] = path
    return paths


def export_model(model, dataset, directory, kinds, calibration=CALIBRATION_IMAGES, seed=0):
    """LiteRT files of `model` (fed `dataset`'s normalised images): its uint8 classifier, int8
    calibrated on `calibration` of the dataset's training images drawn with `seed`; {kind: path}."""
    from bkd_keras.run.stock_model import stock_classifier
    check_kinds(kinds)
    images = calibration_images(dataset, calibration, seed)
    return export_litert(stock_classifier(model, dataset.mean, dataset.std, strict=False), directory, kinds, images)


def export_run(run_dir, kinds=LITERT_KINDS, calibration=CALIBRATION_IMAGES, directory=None):
    """LiteRT files of a finished run (or shipped model) folder, in RUN/export/litert/ unless
    `directory`; returns {kind: path}."""
    from bkd_keras.run.run_records import load_run
    check_kinds(kinds)
    _, dataset, model = load_run(run_dir)
    return export_model(model, dataset, directory or os.path.join(run_dir, "export", "litert"), kinds, calibration)


class LiteRTClassifier:
    """A .tflite classifier on ai_edge_litert: `predict(uint8 images (N, H, W, C))` -> logits (N, C)."""

    def __init__(self, path, threads=1, runtime="ai_edge_litert"):
        if runtime == "ai_edge_litert":
            from ai_edge_litert.interpreter import Interpreter
        elif runtime == "tf.lite":           # TensorFlow's deprecated copy, kept to compare against
            import tensorflow as tf
            Interpreter = tf.lite.Interpreter
        else:
            raise ValueError(f"Unknown LiteRT runtime {runtime!r}; use 'ai_edge_litert' or 'tf.lite'.")
        self.path = path
        self._interpreter = Interpreter(model_path=path, num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = None

    def _resize(self, batch):
        if batch != self._batch:
            shape = self._interpreter.get_input_details()[0]["shape"].copy()
            shape[0] = batch
            self._interpreter.resize_tensor_input(self._input, shape)
            self._interpreter.allocate_tensors()
            self._batch = batch

    def predict(self, images, batch_size=100):
        """Logits float32 (N, C) of uint8 images (N, H, W, C), in batches of `batch_size`."""
        out = []
        for start in range(0, len(images), batch_size):
            batch = np.ascontiguousarray(images[start:start + batch_size], np.uint8)
            self._resize(len(batch))
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            out.append(np.array(self._interpreter.get_tensor(self._output), np.float32))
        return np.concatenate(out)
