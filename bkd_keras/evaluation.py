"""Evaluation: top-1, per-class accuracy, Many / Medium / Few groups, confusion matrix."""

import numpy as np

# Paper / Liu et al. 2019: Many > 100 training images, Medium 20..100, Few < 20.
GROUPS = (("many", lambda n: n > 100), ("medium", lambda n: 20 <= n <= 100), ("few", lambda n: n < 20))


def confusion_matrix(labels, predictions, num_classes):
    """(C, C) counts; rows are true classes, columns predictions."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_report(labels, logits, train_counts):
    """All metrics of one model, in percent, JSON-ready.

    A group with no class is None (absent), not 0. Group accuracy is the mean of its
    classes' accuracies (equal to the pooled accuracy on a balanced test set).
    """
    train_counts = np.asarray(train_counts)
    num_classes = len(train_counts)
    predictions = np.asarray(logits).argmax(-1)
    matrix = confusion_matrix(labels, predictions, num_classes)
    support = matrix.sum(1)
    per_class = np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan) * 100.0
    report = {"top1": float((predictions == labels).mean() * 100.0),
              "per_class": [None if np.isnan(a) else float(a) for a in per_class]}
    for name, member in GROUPS:
        classes = [c for c in range(num_classes) if member(train_counts[c]) and support[c] > 0]
        report[name] = float(np.mean(per_class[classes])) if classes else None
        report[f"{name}_classes"] = classes
    report["confusion_matrix"] = matrix.tolist()
    return report


def _fmt(value):
    return "absent" if value is None else f"{value:6.2f}"


def comparison_table(reports, class_names, train_counts):
    """Text table of several reports side by side: overall, groups, then per class."""
    names = list(reports)
    width = max(12, *(len(n) + 2 for n in names))
    header = f"{'':24}" + "".join(f"{n:>{width}}" for n in names)
    rows = [header, "-" * len(header)]
    for key, label in (("top1", "Overall top-1 %"), ("many", "Many (>100) %"),
                       ("medium", "Medium (20-100) %"), ("few", "Few (<20) %")):
        rows.append(f"{label:24}" + "".join(f"{_fmt(reports[n][key]):>{width}}" for n in names))
    rows.append("-" * len(header))
    for c, cls in enumerate(class_names):
        label = f"{str(cls)[:12]} (n={int(train_counts[c])})"
        rows.append(f"{label:24}" + "".join(f"{_fmt(reports[n]['per_class'][c]):>{width}}" for n in names))
    return "\n".join(rows)


def eval_epochs(epochs, eval_every, last_fraction):
    """1-based epochs after which a stage is evaluated on the test split ([] if eval_every <= 0).

    Every `eval_every`-th epoch, plus every epoch of the last `last_fraction` of the stage,
    so the last and the best test epoch of its end can both be reported.
    """
    if eval_every <= 0:
        return []
    first_final = epochs - int(round(last_fraction * epochs)) + 1
    return sorted(set(range(eval_every, epochs + 1, eval_every)) | set(range(first_final, epochs + 1)) | {epochs})


def test_curve(log_rows):
    """Test top-1 (%) per evaluated epoch from a stage's log.csv rows (dicts), and its summary.

    Returns {"curve": [[epoch (1-based), top1], ...], "last_epoch", "last_top1", "best_epoch", "best_top1"},
    or None when no epoch was evaluated. The best epoch is selection on the test set (the
    authors' `best_acc1`): report it beside the last epoch, never instead of it.
    """
    curve = {int(row["epoch"]) + 1: 100.0 * float(row["val_accuracy"]) for row in log_rows
             if row.get("val_accuracy") not in (None, "", "NA")}
    if not curve:
        return None
    best = max(curve, key=lambda e: (curve[e], -e))   # the first epoch reaching the best
    last = max(curve)
    return {"curve": [[e, curve[e]] for e in sorted(curve)], "last_epoch": last, "last_top1": curve[last], "best_epoch": best,
            "best_top1": curve[best]}
