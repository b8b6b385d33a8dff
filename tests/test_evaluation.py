"""Evaluation metrics against hand-computed values."""

import numpy as np

from bkd_keras.scoring import evaluation


def test_report_groups_and_confusion():
    train_counts = [500, 50, 5]            # many, medium, few
    labels = np.array([0, 0, 1, 1, 2, 2])
    preds = np.array([0, 0, 1, 0, 0, 0])   # accuracy per class: 100, 50, 0
    logits = np.eye(3)[preds]
    r = evaluation.classification_report(labels, logits, train_counts)
    assert r["top1"] == 50.0
    assert r["per_class"] == [100.0, 50.0, 0.0]
    assert (r["many"], r["medium"], r["few"]) == (100.0, 50.0, 0.0)
    assert r["confusion_matrix"] == [[2, 0, 0], [1, 1, 0], [2, 0, 0]]


def test_absent_group_is_none_not_zero():
    r = evaluation.classification_report(np.array([0, 1]), np.eye(2), [500, 200])
    assert r["few"] is None and r["medium"] is None and r["many"] == 100.0
    table = evaluation.comparison_table({"a": r}, ["x", "y"], [500, 200])
    assert "absent" in table


def test_group_boundaries():
    # Many > 100, Medium 20..100 inclusive, Few < 20.
    r = evaluation.classification_report(np.arange(4), np.eye(4), [101, 100, 20, 19])
    assert r["many_classes"] == [0] and r["medium_classes"] == [1, 2] and r["few_classes"] == [3]
