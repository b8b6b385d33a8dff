"""Backbones: ResNet-32 as the reference, option-A shortcut, registry, serialisation."""

import os

import keras
import numpy as np
import pytest

from models import BACKBONES, OptionAShortcut, build_backbone


def test_resnet32_matches_reference_size():
    model = build_backbone("resnet32", 10, (32, 32, 3))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 464_154   # the LDAM-DRW PyTorch resnet32(num_classes=10)
    assert model.output_shape == (None, 10)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 31 and not any(c.use_bias for c in convs)
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert all(b.momentum == 0.9 and b.epsilon == 1e-5 for b in bns)
    assert model.get_layer("stage2_block1_conv1").output.shape[1:3] == (16, 16)


def test_option_a_shortcut_numpy(rng):
    x = rng.normal(size=(2, 6, 6, 4)).astype(np.float32)
    y = OptionAShortcut(8, 2)(x)
    expected = np.pad(x[:, ::2, ::2, :], [(0, 0), (0, 0), (0, 0), (2, 2)])
    np.testing.assert_array_equal(np.asarray(y), expected)
    clone = OptionAShortcut.from_config(OptionAShortcut(8, 2).get_config())
    assert clone.out_channels == 8 and clone.stride == 2


def test_keras_file_round_trip(tmp_path, rng):
    model = build_backbone("resnet20", 3, (16, 16, 3))
    x = rng.normal(size=(2, 16, 16, 3)).astype(np.float32)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again(x), model(x), rtol=1e-6, atol=1e-6)


def test_registry_errors():
    assert {"resnet32", "small_cnn"} <= set(BACKBONES)
    with pytest.raises(ValueError, match="Valid backbones"):
        build_backbone("resnet1000", 10, (32, 32, 3))
    with pytest.raises(ValueError, match="6n"):
        from models.resnet_cifar import resnet_cifar
        resnet_cifar(10, depth=33)
