"""Many / Medium / Few and per-class accuracy while training (bkd_keras/scoring/group_accuracy.py):
the metric against a numpy count, and the columns a run's log.csv gets from it."""

import csv
import json
import os

import numpy as np
import pytest

from bkd_keras.scoring.group_accuracy import GroupAccuracy
from conftest import small_config


def test_group_accuracy_matches_a_numpy_count_over_batches():
    rng = np.random.default_rng(0)
    groups = ["many", "many", "medium", "few", "few"]
    metric = GroupAccuracy(groups, class_names=["a", "b", "c c", "d", "e"])
    labels = rng.integers(0, 4, 60)                      # class 4 ("e") never seen: left out of "few"
    logits = rng.normal(size=(60, 5)).astype(np.float32)
    logits[np.arange(60), labels] += rng.uniform(-1, 2, 60).astype(np.float32)
    for part in np.array_split(np.arange(60), 3):
        metric.update_state(labels[part], logits[part])
    result = {k: float(v) for k, v in metric.result().items()}
    hit = logits.argmax(1) == labels
    per_class = [hit[labels == c].mean() for c in range(4)]
    assert result["many_accuracy"] == pytest.approx((per_class[0] + per_class[1]) / 2, abs=1e-6)
    assert result["medium_accuracy"] == pytest.approx(per_class[2], abs=1e-6)
    assert result["few_accuracy"] == pytest.approx(per_class[3], abs=1e-6)
    assert result["accuracy_c_c"] == pytest.approx(per_class[2], abs=1e-6) and result["accuracy_e"] == 0.0
    assert list(result) == metric.result_names()
    metric.reset_state()
    assert float(metric.result()["many_accuracy"]) == 0.0
    with pytest.raises(ValueError, match="Unknown class group"):
        GroupAccuracy(["many", "tail"])


def test_from_counts_uses_the_report_groups_and_drops_per_class_columns_for_many_classes():
    from bkd_keras.scoring.evaluation import GROUP_RULES
    counts = np.array([500, 300, 150, 90, 40, 25, 19, 5])
    metric = GroupAccuracy.from_counts(counts, "paper")
    member, _ = GROUP_RULES["paper"](counts)
    assert [g for g in metric.groups] == [next(n for n in member if member[n][c]) for c in range(8)]
    many = GroupAccuracy.from_counts(np.arange(100, 0, -1), "terciles")
    assert many.result_names() == ["many_accuracy", "medium_accuracy", "few_accuracy"]


def test_a_run_logs_the_groups_on_evaluated_epochs_and_they_match_its_report(tmp_path):
    from bkd_keras.run.runner import run
    config = small_config(tmp_path, method="ce", stage="teacher", epochs=3, eval_every=2, eval_last_fraction=0.0)
    results = run(config, log=lambda *_: None)
    with open(os.path.join(config.run.output_dir, "teacher", "log.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["val_many_accuracy"] == "NA" for r in rows] == [True, False, False]    # evaluated at 2 and 3
    report = results["reports"]["teacher"]
    last = rows[-1]
    for group in ("many", "medium", "few"):
        assert 100 * float(last[f"val_{group}_accuracy"]) == pytest.approx(report[group], abs=1e-3)
    per_class = [100 * float(last[f"val_accuracy_{c}"]) for c in range(10)]
    assert per_class == pytest.approx(report["per_class"], abs=1e-3)
    # TensorBoard gets the same scalars
    events = os.listdir(os.path.join(config.run.output_dir, "teacher", "tensorboard", "validation"))
    assert events


def test_csv_logger_keeps_an_existing_header_on_resume(tmp_path):
    from bkd_keras.method.callbacks import RunCSVLogger
    path = tmp_path / "log.csv"
    path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.0,NA,NA\n")
    logger = RunCSVLogger(str(path), val_keys=["val_many_accuracy"])
    logger.on_train_begin()
    logger.on_epoch_end(1, {"accuracy": 0.6, "loss": 0.9, "val_accuracy": 0.4, "val_loss": 1.2,
                            "val_many_accuracy": 0.7})
    logger.on_train_end()
    rows = list(csv.DictReader(open(path)))
    assert list(rows[1]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"] and rows[1]["val_accuracy"] == "0.4"
