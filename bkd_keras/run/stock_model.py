"""Classifiers that load in stock Keras: uint8 images in, logits out, built-in layers only.

A trained image model of this project takes normalised float images and contains the
project's own layers (FusedBatchNormalization, OptionAShortcut), so `keras.saving.load_model`
on it fails unless the project is imported, and raw pixels give wrong answers. The stock copy

    images uint8 (B, H, W, C) -> Rescaling(1/255) "pixels_to_unit"
                              -> Normalization(mean, std**2) "normalize"
                              -> the body (nested functional model, built-in layers) -> logits (B, classes)

has the same weights; every project layer is replaced by built-in ones that compute the same
function in inference mode. `split_preprocessing` takes such a copy apart again, so a shipped
classifier also serves as a `--teacher` (which is fed normalised images).
"""

import keras
import numpy as np

from models.batch_norm import FusedBatchNormalization
from models.resnet_cifar import OptionAShortcut
from bkd_keras.run.folding import FoldedBatchNorm

UNIT = "pixels_to_unit"
NORMALIZE = "normalize"


class StockModelError(ValueError):
    """A model that has no stock-Keras equivalent; the message names the layer."""


def _option_a(layer):
    """OptionAShortcut as a small functional model of built-in layers: stride-s subsampling
    (a 1x1 max pool), then zero channels before and after (ZeroPadding3D on a (H, W, C, 1) view)."""
    _, height, width, channels = layer.input.shape
    if height is None or width is None:
        raise StockModelError(f"{layer.name}: the stock shortcut needs a fixed input size, got {layer.input.shape}.")
    s = layer.stride
    h, w = -(-height // s), -(-width // s)
    extra = layer.out_channels - channels
    x = inputs = keras.Input((height, width, channels))
    x = keras.layers.MaxPooling2D(pool_size=1, strides=s)(x)
    x = keras.layers.Reshape((h, w, channels, 1))(x)
    x = keras.layers.ZeroPadding3D(((0, 0), (0, 0), (extra // 2, extra - extra // 2)))(x)
    x = keras.layers.Reshape((h, w, layer.out_channels))(x)
    return keras.Model(inputs, x, name=layer.name)


def _builtin(layer, strict=True):
    """The built-in layer (or functional model) standing in for `layer`; with strict=False a project
    layer without a built-in twin is copied as it is."""
    if isinstance(layer, FusedBatchNormalization):
        return keras.layers.BatchNormalization.from_config(layer.get_config())
    if isinstance(layer, OptionAShortcut):
        return _option_a(layer)
    if isinstance(layer, FoldedBatchNorm):
        return keras.layers.Identity(name=layer.name)
    if strict and not type(layer).__module__.startswith("keras."):
        raise StockModelError(f"Layer {layer.name!r} ({type(layer).__name__}) is this project's own and has no "
                              "built-in equivalent here; load that model with `import models` first.")
    return layer.__class__.from_config(layer.get_config())


def stock_body(model, strict=True):
    """A copy of functional `model` made of built-in Keras layers only (strict=False: as far as
    they go), with its weights."""
    copy = keras.models.clone_model(model, clone_function=lambda layer: _builtin(layer, strict))
    for layer in model.layers:
        if layer.weights:
            copy.get_layer(layer.name).set_weights(layer.get_weights())
    return copy


def stock_classifier(model, mean, std, strict=True):
    """uint8 images (B, H, W, C) -> logits: `model` (fed normalised float images) with the
    normalisation `(x / 255 - mean) / std` (per channel, [0, 1] units) inside, built-in layers only
    (strict=False: project layers without a built-in twin stay, as for a LiteRT conversion)."""
    body = stock_body(model, strict)
    images = keras.Input(tuple(model.input_shape[1:]), dtype="uint8", name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, name=UNIT)(images)
    x = keras.layers.Normalization(mean=list(mean), variance=list(np.square(np.asarray(std, np.float64))),
                                   name=NORMALIZE)(x)
    return keras.Model(images, body(x), name=model.name)


def split_preprocessing(model):
    """(body, mean, std) of a `stock_classifier`; (model, None, None) for any other model."""
    names = [layer.name for layer in model.layers]
    if names[1:3] != [UNIT, NORMALIZE] or len(names) != 4:
        return model, None, None
    norm = model.get_layer(NORMALIZE)
    mean = np.asarray(norm.mean, np.float64).reshape(-1)
    std = np.sqrt(np.asarray(norm.variance, np.float64)).reshape(-1)
    return model.layers[3], mean, std
