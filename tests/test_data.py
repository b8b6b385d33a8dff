"""Data sources (folder, list, TFDS mock, digits), errors, and the tf.data pipeline."""

import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import SHARED, write_image_tree
from data import DataError, eval_dataset, load_dataset, train_dataset
from data.spec import Augmentation, LongTailDataset, Split


def test_folder_source_long_tail_and_order(tmp_path):
    root = write_image_tree(str(tmp_path), ["b_cls", "a_cls", "c_cls"], [12, 12, 12])
    ds = load_dataset("folder", data_dir=root, imbalance_type="exp", imbalance_ratio=4)
    assert ds.class_names == ["a_cls", "b_cls", "c_cls"]       # sorted names = labels
    assert ds.class_counts.tolist() == [12, 6, 3]
    assert ds.train.images.shape == (21, 8, 8, 3) and ds.train.images.dtype == np.uint8
    assert len(ds.test) == 9
    # The selected images are the files the reference selection picks (natural order ranks).
    expected = tf.io.decode_png(tf.io.read_file(os.path.join(root, "train", "a_cls", "0.png"))).numpy()
    assert any(np.array_equal(expected, im) for im in ds.train.images[:12])


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", data_dir=str(tmp_path / "nope"))
    root = write_image_tree(str(tmp_path / "t"), ["a", "b"], [4, 4])
    os.makedirs(os.path.join(root, "train", "empty"))
    with pytest.raises(DataError, match="No images in .*empty"):
        load_dataset("folder", data_dir=root, imbalance_type="none")


def test_corrupt_image_is_named(tmp_path):
    root = write_image_tree(str(tmp_path), ["a", "b"], [4, 4])
    bad = os.path.join(root, "train", "b", "2.png")
    with open(bad, "wb") as f:
        f.write(b"not an image at all")
    with pytest.raises(DataError, match="2.png"):
        load_dataset("folder", data_dir=root, imbalance_type="none")


def test_mixed_sizes_need_image_size(tmp_path):
    root = write_image_tree(str(tmp_path), ["a", "b"], [3, 3])
    tf.io.write_file(os.path.join(root, "train", "a", "9.png"), tf.io.encode_png(np.zeros((10, 12, 3), np.uint8)))
    with pytest.raises(DataError, match="image_size"):
        load_dataset("folder", data_dir=root, imbalance_type="none")
    ds = load_dataset("folder", data_dir=root, imbalance_type="none", image_size=(6, 6))
    assert ds.image_shape == (6, 6, 3)


def test_list_source_and_bad_line(tmp_path):
    root = write_image_tree(str(tmp_path), ["a", "b"], [5, 5])
    with open(os.path.join(root, "train.txt"), "w") as f:
        for c, name in enumerate(["a", "b"]):
            for i in range(5):
                f.write(f"train/{name}/{i}.png {c}\n")
    with open(os.path.join(root, "test.txt"), "w") as f:
        f.write("test/a/0.png 0\ntest/b/1.png 1\n")
    ds = load_dataset("list", data_dir=root, imbalance_type="exp", imbalance_ratio=5)
    assert ds.class_counts.tolist() == [5, 1] and len(ds.test) == 2
    with open(os.path.join(root, "bad.txt"), "w") as f:
        f.write("train/a/0.png 0\ntrain/a/1.png zero\n")
    with pytest.raises(DataError, match="bad.txt:2"):
        load_dataset("list", data_dir=root, train_list="bad.txt", imbalance_type="none")
    with open(os.path.join(root, "missing.txt"), "w") as f:
        f.write("train/a/0.png 0\ntrain/a/77.png 1\n")
    with pytest.raises(DataError, match="77.png"):
        load_dataset("list", data_dir=root, train_list="missing.txt", imbalance_type="none")


def test_tfds_cifar10_with_mock_data():
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=40):
        ds = load_dataset("cifar10", imbalance_type="exp", imbalance_ratio=2, max_per_class=2,
                          tfds_download=False)
    assert ds.image_shape == (32, 32, 3) and ds.num_classes == 10
    assert ds.mean == pytest.approx([0.4914, 0.4822, 0.4465])


def test_tfds_missing_data_fails_fast(tmp_path):
    with pytest.raises(DataError, match="not prepared"):
        load_dataset("cifar10", data_dir=str(tmp_path), tfds_download=False)


def test_bad_names_and_ratios():
    with pytest.raises(DataError, match="Valid values: ag_news"):
        load_dataset("imagenet")
    with pytest.raises(DataError, match=">= 1"):
        load_dataset("digits", imbalance_ratio=0.5)
    with pytest.raises(DataError, match="0 images|0 examples"):
        load_dataset("digits", imbalance_ratio=1000, max_per_class=100)


def test_digits_default():
    ds = load_dataset("digits", imbalance_ratio=20, max_per_class=130)
    assert ds.class_counts.tolist() == [130, 93, 66, 47, 34, 24, 17, 12, 9, 6]
    assert np.bincount(ds.test.labels).tolist() == [40] * 10
    assert not ds.augmentation.flip


def _toy_dataset(n=10):
    images = np.arange(n * 4 * 4 * 3, dtype=np.uint8).reshape(n, 4, 4, 3)
    split = Split(np.arange(n) % 2, images=images)
    return LongTailDataset("toy", split, split, ["a", "b"], (4, 4, 3), [0.5, 0.4, 0.3], [0.2, 0.25, 0.5],
                           Augmentation(pad=1, flip=True))


def test_pipeline_normalises_keeps_last_batch_and_augments():
    ds = _toy_dataset()
    batches = list(eval_dataset(ds, 4))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]          # last partial batch kept
    x = np.concatenate([b[0].numpy() for b in batches])
    expected = (ds.test.images / 255.0 - np.array([0.5, 0.4, 0.3])) / np.array([0.2, 0.25, 0.5])
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-6)
    tb = list(train_dataset(ds, 4, seed=0))
    assert [b[0].shape for b in tb][0] == (4, 4, 4, 3) and sum(b[0].shape[0] for b in tb) == 10
    labels = np.concatenate([b[1].numpy() for b in tb])
    assert sorted(labels.tolist()) == sorted(ds.train.labels.tolist())     # a permutation
    # Pad-1 crops and flips: every augmented image is a shifted / mirrored copy of an original.
    img = tb[0][0].numpy()[0] * np.array([0.2, 0.25, 0.5]) + np.array([0.5, 0.4, 0.3])
    assert img.shape == (4, 4, 3)


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "datasets")), reason="../shared is absent")
def test_shared_cifar_archive_is_documented():
    assert os.path.exists(os.path.join(SHARED, "datasets", "cifar10-jpeg.tar.gz"))


def test_training_batches_are_a_function_of_seed_and_epoch():
    ds = _toy_dataset(n=10)
    run = list(train_dataset(ds, 4, seed=3, start_epoch=0, repeat=True).take(9))     # 3 epochs x 3 batches
    resumed = list(train_dataset(ds, 4, seed=3, start_epoch=2))                         # epoch 2 alone
    for a, b in zip(run[6:], resumed):
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert not np.array_equal(run[0][0].numpy(), run[3][0].numpy())       # epochs differ
    other = list(train_dataset(ds, 4, seed=4))
    assert not np.array_equal(other[0][0].numpy(), run[0][0].numpy())     # seeds differ
