"""BatchNorm folded into the frozen teacher's convolutions: same logits, fewer layers' work."""

import keras
import numpy as np
import pytest

from bkd_keras.run.folding import FoldedBatchNorm, fold_batchnorm, foldable_pairs
from conftest import trained_like
from models import build_backbone


@pytest.mark.parametrize("name, shape, pairs", [("resnet32", (32, 32, 3), 31), ("small_cnn", (8, 8, 1), 3),
                                                ("ride_resnet32", (32, 32, 3), 51)])
def test_folded_teacher_gives_the_same_logits(name, shape, pairs):
    model = trained_like(build_backbone(name, 10, shape, **({"experts": 2} if name.startswith("ride") else {})))
    assert len(foldable_pairs(model)) == pairs
    folded = fold_batchnorm(model)
    assert sum(isinstance(layer, FoldedBatchNorm) for layer in folded.layers) == pairs
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    x = np.random.RandomState(1).normal(size=(16,) + shape).astype("float32")
    reference = np.asarray(model(x, training=False), np.float64)
    got = np.asarray(folded(x, training=False), np.float64)
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max())
    # The original is untouched and still has its BatchNorm layers.
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == pairs


def test_models_without_batchnorm_are_returned_as_they_are():
    model = build_backbone("textcnn", 3, (16,), embedding_matrix=np.zeros((20, 4), "float32"))
    assert fold_batchnorm(model) is model
