"""The tail while training: Many / Medium / Few and per-class test accuracy as a Keras metric.

A stage's periodic test evaluation (`--eval_every`) updates it, so log.csv and TensorBoard carry
`val_many_accuracy`, `val_medium_accuracy`, `val_few_accuracy` and `val_accuracy_<class>` beside
`val_accuracy`, in the same [0, 1] units (per class up to PER_CLASS_LIMIT classes). Group accuracy
is the mean of its classes' accuracies over the classes seen in the evaluation, as in the final
report (evaluation.classification_report).
"""

import re

import keras
import numpy as np
from keras import ops

from bkd_keras.scoring.evaluation import GROUP_NAMES, GROUP_RULES

# Per-class columns only up to this many classes: each evaluated epoch's console line shows them too.
# With more (CIFAR-100, ImageNet-LT) the groups are logged while training; results.json has every class.
PER_CLASS_LIMIT = 20


def _column(name):
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_") or "class"


@keras.saving.register_keras_serializable(package="bkd_keras")
class GroupAccuracy(keras.metrics.Metric):
    """Per-class correct / seen counts of sparse labels (B,) against logits (B, C); `result()` is a
    dict {"many_accuracy", "medium_accuracy", "few_accuracy" (groups with classes only),
    "accuracy_<class name>" (up to PER_CLASS_LIMIT classes)}.

    `groups`: (C,) group name of each class ("many" / "medium" / "few"); `from_counts` derives it
    from the training counts with a GROUP_RULES rule.
    """

    def __init__(self, groups, class_names=None, name="group_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.groups = [str(g) for g in groups]
        unknown = sorted(set(self.groups) - set(GROUP_NAMES))
        if unknown:
            raise ValueError(f"Unknown class group(s) {unknown}; use {', '.join(GROUP_NAMES)}.")
        count = len(self.groups)
        self.class_names = [str(c) for c in (class_names if class_names is not None else range(count))]
        if len(self.class_names) != count:
            raise ValueError(f"{len(self.class_names)} class names for {count} classes.")
        self.correct = self.add_variable((count,), "zeros", name="correct", aggregation="sum")
        self.seen = self.add_variable((count,), "zeros", name="seen", aggregation="sum")
        self._masks = {g: np.asarray([x == g for x in self.groups], np.float32) for g in GROUP_NAMES
                       if g in self.groups}

    @classmethod
    def from_counts(cls, train_counts, rule="terciles", class_names=None, **kwargs):
        """The metric for classes with `train_counts` (C,) split by GROUP_RULES[rule]."""
        member, _ = GROUP_RULES[rule](np.asarray(train_counts))
        groups = [next(g for g in GROUP_NAMES if member[g][c]) for c in range(len(train_counts))]
        return cls(groups, class_names, **kwargs)

    def result_names(self):
        """The keys of `result()`, in order."""
        names = [f"{g}_accuracy" for g in self._masks]
        if len(self.groups) <= PER_CLASS_LIMIT:
            columns = [_column(n) for n in self.class_names]
            # two names that clean to the same column get their class index appended
            names += [f"accuracy_{c}" if columns.count(c) == 1 else f"accuracy_{c}_{i}" for i, c in enumerate(columns)]
        return names

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        hot = ops.one_hot(labels, len(self.groups), dtype="float32")
        hit = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), labels), "float32")
        self.seen.assign_add(ops.sum(hot, axis=0))
        self.correct.assign_add(ops.sum(hot * hit[:, None], axis=0))

    def result(self):
        seen = ops.cast(self.seen > 0, "float32")
        per_class = self.correct / ops.maximum(self.seen, 1.0)
        values = [ops.sum(per_class * seen * m) / ops.maximum(ops.sum(seen * m), 1.0) for m in self._masks.values()]
        if len(self.groups) <= PER_CLASS_LIMIT:
            values += [per_class[c] for c in range(len(self.groups))]
        return dict(zip(self.result_names(), values))

    def reset_state(self):
        self.correct.assign(ops.zeros_like(self.correct))
        self.seen.assign(ops.zeros_like(self.seen))

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "class_names": self.class_names}
