"""Data that cannot quietly change shape: channels, list files, text tables, labels, class groups."""

import os

import numpy as np
import pytest
import tensorflow as tf

from bkd_keras.scoring import evaluation
from conftest import write_image_tree
from data import DataError, load_dataset
from data.images import common_channels


def _write(path, pixels):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(path, tf.io.encode_png(pixels))


def test_a_grayscale_first_image_does_not_make_a_colour_set_grayscale(tmp_path):
    root = write_image_tree(str(tmp_path / "d"), ["a", "b"], [3, 3])
    gray = np.full((8, 8, 1), 200, np.uint8)
    _write(os.path.join(root, "train", "a", "0.png"), gray)      # the first file of the scan
    data = load_dataset("folder", data_dir=root, imbalance_type="none")
    assert data.image_shape == (8, 8, 3)
    np.testing.assert_array_equal(data.train.images[0], np.full((8, 8, 3), 200, np.uint8))
    assert data.notes == ["the images mix grayscale (1) and colour (11); the grayscale ones are converted to RGB, "
                          "as the majority."]


def test_channels_follow_the_majority_and_colour_becomes_luma():
    assert common_channels([3, 3, 4]) == (3, None)
    assert common_channels([1, 2, 1]) == (1, None)
    channels, note = common_channels([1, 1, 3])
    assert channels == 1 and "colour ones are converted to grayscale" in note
    from data.images import stack
    rgb = np.array([[[10, 200, 30]]], np.uint8)
    # BT.601 luma by hand: 0.2989 * 10 + 0.5870 * 200 + 0.1140 * 30 = 123.809 -> 124
    assert stack([rgb], 1)[0, 0, 0, 0] == 124
    assert stack([np.zeros((1, 1, 4), np.uint8)], 3).shape == (1, 1, 1, 3)       # alpha dropped


def test_a_folder_named_like_an_image_is_not_an_image(tmp_path):
    root = write_image_tree(str(tmp_path / "d"), ["a", "b"], [3, 3])
    os.makedirs(os.path.join(root, "train", "a", "x.jpg"))
    assert len(load_dataset("folder", data_dir=root, imbalance_type="none").train) == 6


def _list_tree(tmp_path, train_lines, test_lines, bom=False):
    root = write_image_tree(str(tmp_path / "d"), ["a", "b"], [3, 3])
    for name, lines in (("train.txt", train_lines), ("test.txt", test_lines)):
        with open(os.path.join(root, name), "w", encoding="utf-8-sig" if bom else "utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return root


TRAIN = ["train/a/0.png 0", "train/a/1.png 0", "train/b/0.png 1", "train/b/1.png 1"]
TEST = ["test/a/0.png 0", "test/b/0.png 1"]


def test_list_files_resolve_against_data_dir_only_and_may_start_with_a_bom(tmp_path, monkeypatch):
    root = _list_tree(tmp_path, TRAIN, TEST, bom=True)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    (elsewhere / "train.txt").write_text("train/a/0.png 0\n")        # must not win over DATA_DIR/train.txt
    monkeypatch.chdir(elsewhere)
    data = load_dataset("list", data_dir=root, imbalance_type="none", image_size=(8, 8))
    assert len(data.train) == 4 and len(data.test) == 2


@pytest.mark.parametrize("train, test, match", [
    (TRAIN + ["train/a/0.png 0", "./train/b/1.png 1"], TEST,
     r"train.txt lists 2 file\(s\) more than once, e.g. .*train/a/0.png on lines 1, 5"),
    (TRAIN + ["test/a/0.png 0"], TEST, r"1 file\(s\) are in both train.txt and test.txt, e.g. .*test/a/0.png"),
    ([line[:-1] + str(int(line[-1]) + 1) for line in TRAIN], TEST,
     r"no example of class\(es\) 'class_0' .*labels are 1..2\). .*1-based, subtract 1"),
    (TRAIN, ["test/a/0.png 0", "test/b/0.png 5"], r"class\(es\) 'class_2', 'class_3', 'class_4', 'class_5' \(of 6; its labels are 0..1\)"),
])
def test_bad_lists_are_refused_with_a_count_and_an_example(tmp_path, train, test, match):
    root = _list_tree(tmp_path, train, test)
    with pytest.raises(DataError, match=match):
        load_dataset("list", data_dir=root, imbalance_type="none", image_size=(8, 8))


def test_one_class_is_not_a_classification_problem(tmp_path):
    root = write_image_tree(str(tmp_path / "d"), ["only"], [3])
    with pytest.raises(DataError, match=r"has 1 class \(only\); classification needs at least 2"):
        load_dataset("folder", data_dir=root, imbalance_type="none")


def _tables(tmp_path, train_rows, test_rows):
    root = tmp_path / "t"
    root.mkdir()
    (root / "train.csv").write_text("\n".join(train_rows) + "\n", encoding="utf-8-sig")
    (root / "test.csv").write_text("\n".join(test_rows) + "\n")
    return str(root)


ROWS = ["sports,goal", "Sports ,match", "SPORTS,win", "business,bank", "business,shares", "tech,chip", "tech,code"]


def test_text_table_reads_its_header_by_name_and_merges_spellings(tmp_path):
    root = _tables(tmp_path, ["text,label"] + [f"{t},{l}" for l, t in (r.split(",") for r in ROWS)],
                   ["label,text", "sports,ball", "TECH,cpu", "business,loan"])
    data = load_dataset("text_table", data_dir=root, imbalance_type="none", sequence_length=4)
    assert list(data.class_names) == ["business", "sports", "tech"]
    assert data.class_counts.tolist() == [2, 3, 2] and data.test.labels.tolist() == [1, 2, 0]
    assert len(data.notes) == 1 and "'SPORTS' / 'Sports' / 'sports'" in data.notes[0]


def test_text_table_header_with_another_name_is_an_error_or_a_flag(tmp_path):
    root = _tables(tmp_path, ["category,text"] + ROWS, ["category,text", "tech,cpu"])
    with pytest.raises(DataError, match=r"the header 'category,text' has no 'label' column .*--label_column=NAME"):
        load_dataset("text_table", data_dir=root, imbalance_type="none")
    data = load_dataset("text_table", data_dir=root, imbalance_type="none", label_column="Category",
                        sequence_length=4)
    assert list(data.class_names) == ["business", "sports", "tech"]


def test_text_table_warns_about_classes_with_one_row(tmp_path):
    root = _tables(tmp_path, ["class,content"] + ROWS, ["tech,cpu"])
    data = load_dataset("text_table", data_dir=root, imbalance_type="none", sequence_length=4)
    assert "fewer than 2 training rows: 'class' (1)" in data.notes[1]


def test_terciles_by_hand():
    # 6000..60 per class (12 classes): 4 per third; ties share the first one's group.
    counts = np.array([6000, 4000, 3000, 2000, 1500, 900, 700, 500, 300, 200, 100, 60])
    r = evaluation.classification_report(np.arange(12), np.eye(12), counts, groups="terciles")
    assert (r["many_classes"], r["medium_classes"], r["few_classes"]) == ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11])
    assert r["group_bounds"] == {"many": "2000-6000", "medium": "500-1500", "few": "60-300"}
    paper = evaluation.classification_report(np.arange(12), np.eye(12), counts, groups="paper")
    assert paper["few"] is None and len(paper["many_classes"]) == 10          # the fixed cut-offs: no Few
    step = np.array([5000] * 5 + [50] * 5)
    r = evaluation.classification_report(np.arange(10), np.eye(10), step, groups="terciles")
    assert (r["many_classes"], r["medium_classes"], r["few"]) == ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9], None)
