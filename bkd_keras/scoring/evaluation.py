"""Evaluation: top-1, per-class accuracy, Many / Medium / Few groups, confusion matrix."""

import numpy as np

GROUP_NAMES = ("many", "medium", "few")


def _paper_groups(counts):
    """The paper's (Liu et al. 2019) cut-offs: Many > 100 training images, Medium 20..100, Few < 20."""
    member = {"many": counts > 100, "medium": (counts >= 20) & (counts <= 100), "few": counts < 20}
    return member, {"many": "> 100", "medium": "20-100", "few": "< 20"}


def _tercile_groups(counts):
    """Thirds of the classes by training count (Many the largest; the first C % 3 extra classes go to
    the upper groups); classes with equal counts share the group of the first of them."""
    order = np.argsort(-counts, kind="stable")
    sizes = [len(counts) // 3 + (1 if i < len(counts) % 3 else 0) for i in range(3)]
    rank_group = np.repeat(np.arange(3), sizes)
    group = np.empty(len(counts), int)
    group[order] = rank_group
    for c in range(len(counts)):          # ties: the group of the first class with that count
        group[c] = group[order[np.flatnonzero(counts[order] == counts[c])[0]]]
    member = {name: group == g for g, name in enumerate(GROUP_NAMES)}
    bounds = {name: (f"{counts[m].min()}-{counts[m].max()}" if m.any() else "none") for name, m in member.items()}
    return member, bounds


# --class_groups: how classes are split into Many / Medium / Few. "paper" for the paper's datasets
# (their presets set it); "terciles" elsewhere, where fixed cut-offs can put every class in one group.
GROUP_RULES = {"paper": _paper_groups, "terciles": _tercile_groups}


def confusion_matrix(labels, predictions, num_classes):
    """(C, C) counts; rows are true classes, columns predictions."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_report(labels, logits, train_counts, groups="paper"):
    """All metrics of one model, in percent, JSON-ready.

    `groups`: the GROUP_RULES entry splitting classes into Many / Medium / Few by training count;
    the report names it and each group's training counts ("group_rule", "group_bounds").
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
    if groups not in GROUP_RULES:
        raise ValueError(f"Unknown class groups {groups!r}. Valid values: {', '.join(GROUP_RULES)}.")
    member, bounds = GROUP_RULES[groups](train_counts)
    for name in GROUP_NAMES:
        classes = [c for c in range(num_classes) if member[name][c] and support[c] > 0]
        report[name] = float(np.mean(per_class[classes])) if classes else None
        report[f"{name}_classes"] = classes
    report["group_rule"], report["group_bounds"] = groups, bounds
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
    bounds = reports[names[0]].get("group_bounds") or _paper_groups(np.asarray(train_counts))[1]
    for key, label in (("top1", "Overall top-1 %"), *((g, f"{g.title()} ({bounds[g]}) %") for g in GROUP_NAMES)):
        rows.append(f"{label:24}" + "".join(f"{_fmt(reports[n][key]):>{width}}" for n in names))
    rule = reports[names[0]].get("group_rule", "paper")
    rows.append(f"(groups by training images per class: {'the paper cut-offs' if rule == 'paper' else 'terciles of the classes'})")
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
