"""The 224 pipeline from list files, the ImageNet-size backbones, and the large-benchmark presets."""

import os

import numpy as np
import pytest
import tensorflow as tf

from data import DataError, eval_dataset, load_dataset, train_dataset


def write_list_dataset(root, sizes=((60, 40), (90, 120), (224, 300), (50, 50)), classes=2):
    rng = np.random.default_rng(0)
    lines = {"train": [], "test": []}
    for split in ("train", "test"):
        for i, (h, w) in enumerate(sizes):
            for c in range(classes):
                rel = f"{split}/{c}/{i}.jpg"
                os.makedirs(os.path.join(root, split, str(c)), exist_ok=True)
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                tf.io.write_file(os.path.join(root, rel), tf.io.encode_jpeg(pixels))
                lines[split].append(f"{rel} {c}")
    for split, rows in lines.items():
        with open(os.path.join(root, f"{split}.txt"), "w") as f:
            f.write("\n".join(rows) + "\n")
    return str(root)


def test_list_files_through_the_224_pipeline(tmp_path):
    root = write_list_dataset(tmp_path)
    ds = load_dataset("list", data_dir=root, imbalance_type="none", augmentation="resized_crop")
    assert ds.image_shape == (224, 224, 3) and ds.train.images is None and len(ds.train.files) == 8
    assert ds.mean == pytest.approx([0.485, 0.456, 0.406])
    x, y = next(iter(train_dataset(ds, 8, seed=3)))
    assert x.shape == (8, 224, 224, 3) and x.dtype == tf.float32
    # Normalised with the ImageNet statistics: pixel 0..255 -> about -2.1..2.6.
    assert -2.2 < float(tf.reduce_min(x)) and float(tf.reduce_max(x)) < 2.7
    again, _ = next(iter(train_dataset(ds, 8, seed=3)))
    np.testing.assert_array_equal(x.numpy(), again.numpy())          # a pure function of (seed, epoch)
    other, _ = next(iter(train_dataset(ds, 8, seed=3, start_epoch=1)))
    assert not np.array_equal(x.numpy(), other.numpy())
    xe, ye = next(iter(eval_dataset(ds, 8)))
    assert xe.shape == (8, 224, 224, 3) and ye.numpy().tolist() == [0, 1] * 4


def test_center_crop_matches_numpy_reference():
    from data.pipeline import center_crop
    image = np.arange(20 * 10 * 3, dtype=np.uint8).reshape(20, 10, 3)
    out = center_crop(tf.constant(image), (7, 7), crop_fraction=0.875).numpy()
    # Shorter side 10 -> 7 / 0.875 = 8: resized to (16, 8), then the central 7x7.
    resized = tf.image.resize(image, (16, 8)).numpy()
    np.testing.assert_allclose(out, resized[4:11, 0:7], rtol=1e-6)


def test_missing_listed_file_is_a_clear_error(tmp_path):
    root = write_list_dataset(tmp_path)
    os.remove(os.path.join(root, "train", "1", "2.jpg"))
    with pytest.raises(DataError, match=r"1 image\(s\) listed in .*train.txt do not exist.*train/1/2.jpg"):
        load_dataset("list", data_dir=root, imbalance_type="none", augmentation="resized_crop")


def test_resized_crop_needs_files():
    with pytest.raises(DataError, match="streams image files"):
        load_dataset("digits", augmentation="resized_crop")


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_backbone_parameter_counts():
    from models import build_backbone
    # torchvision's resnext50_32x4d has 25,028,904 parameters (1000 classes).
    assert _trainable(build_backbone("resnext50", 1000, (224, 224, 3))) == 25_028_904
    # ResNet-10 (1-1-1-1 basic blocks), by hand: convs 4,900,032 + BN 5,760 + fc 513,000.
    assert _trainable(build_backbone("resnet10", 1000, (224, 224, 3))) == 5_418_792


def test_pretrained_errors():
    from models import build_backbone
    with pytest.raises(ValueError, match="not a file"):
        build_backbone("resnet50", 10, (64, 64, 3), pretrained="/nonexistent.h5")
    with pytest.raises(ValueError, match="--pretrained is available for"):
        build_backbone("resnet10", 10, (64, 64, 3), pretrained="imagenet")


def test_small_run_with_resnet10_on_streamed_files(tmp_path):
    from bkd_keras.run.config import TrainConfig
    from bkd_keras.run.runner import run
    root = write_list_dataset(tmp_path / "data")
    config = TrainConfig.flat(dataset="list", data_dir=root, imbalance_type="none", augmentation="resized_crop",
                         image_size=(64, 64), backbone="resnet10", method="bkd", epochs=1, batch_size=4,
                         eval_every=0, verbose=0, output_dir=str(tmp_path / "run"), lr_schedule="cosine")
    results = run(config, log=lambda *_: None)
    assert set(results["reports"]) == {"teacher", "student (bkd)"}
    served = tf.saved_model.load(str(tmp_path / "run" / "export" / "saved_model"))
    assert served.serve_uint8(tf.zeros((2, 64, 64, 3), tf.uint8)).shape == (2, 2)


def test_large_presets_resolve():
    from flags.presets import PRESETS
    assert PRESETS["imagenet_lt"]["backbone"] == "resnext50" and PRESETS["imagenet_lt"]["batch_size"] == 512
    assert PRESETS["places_lt"]["pretrained"] == "imagenet" and PRESETS["places_lt"]["lr_decay"] == 0.1
    from bkd_keras.method.schedules import scaled_step_schedule
    schedule = scaled_step_schedule(0.2, 1, 30, warmup_epochs=0, decay_at=PRESETS["places_lt"]["lr_decay_at"],
                                    decay=0.1)
    assert [round(schedule.lr_at_epoch(e), 6) for e in (10, 11, 20, 21, 30)] == [0.2, 0.02, 0.02, 0.002, 0.002]
