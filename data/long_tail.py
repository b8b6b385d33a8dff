"""The LDAM-DRW long-tailed subset (Cao et al. 2019), used by BKD and most peers.

Counts: exponential n_i = int(n_max * (1/rho) ** (i / (C - 1))), or step (the first
C // 2 classes keep n_max, the rest int(n_max / rho)); class 0 is the head.
Selection: one NumPy global-style RandomState seeded once, then for each class in
label order shuffle that class's indices and keep the first n_i. Because each shuffle
only depends on the class size, any copy of a dataset that keeps the within-class
order of the original yields exactly the same subset.
"""

import numpy as np

IMBALANCE_TYPES = ("exp", "step")
# The choices of --imbalance_type: a profile, or "none" (keep the train split as it is).
IMBALANCE_CHOICES = IMBALANCE_TYPES + ("none",)


def check_profile(imbalance_type, imbalance_ratio):
    """Raises ValueError unless (type, ratio) is a valid long-tailed profile ("none" takes any ratio)."""
    if imbalance_type not in IMBALANCE_CHOICES:
        raise ValueError(f"Unknown --imbalance_type={imbalance_type!r}. Valid values: {', '.join(IMBALANCE_CHOICES)}.")
    if imbalance_type != "none" and not (imbalance_ratio is not None and imbalance_ratio >= 1):
        raise ValueError(f"--imbalance_ratio must be >= 1 (n_max / n_min; 1 = balanced), got {imbalance_ratio}.")


def long_tail_counts(max_per_class, num_classes, imbalance_ratio, imbalance_type="exp"):
    """Per-class training counts, list of `num_classes` ints (class 0 the largest).

    Args:
      max_per_class: n_max, images kept for the head class (CIFAR: 5000 / 500).
      num_classes: C.
      imbalance_ratio: rho = n_max / n_min, >= 1 (1 keeps the set balanced).
      imbalance_type: "exp" (exponential profile) or "step".
    """
    if imbalance_type == "none":
        raise ValueError("imbalance_type 'none' has no counts; keep the split as it is instead.")
    check_profile(imbalance_type, imbalance_ratio)
    if int(num_classes) < 1 or int(max_per_class) < 1:
        raise ValueError(f"Need num_classes >= 1 and max_per_class >= 1, got {num_classes}, {max_per_class}.")
    num_classes, max_per_class = int(num_classes), int(max_per_class)
    if imbalance_type == "step":
        tail = int(max_per_class / imbalance_ratio)
        return [max_per_class] * (num_classes // 2) + [tail] * (num_classes - num_classes // 2)
    if num_classes == 1:
        return [max_per_class]
    factor = 1.0 / imbalance_ratio
    return [int(max_per_class * factor ** (i / (num_classes - 1.0))) for i in range(num_classes)]


def long_tail_indices(labels, counts, seed=0):
    """Indices (sorted by class, then shuffle rank) of the selected examples, int64 (N,).

    Args:
      labels: (M,) integer labels of the full training set, in its original order.
      counts: per-class counts from `long_tail_counts`.
      seed: the reference uses `np.random.seed(0)` once before the class loop.
    """
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    selected = []
    for c, n in enumerate(counts):
        idx = np.where(labels == c)[0]
        if n > len(idx):
            raise ValueError(f"Class {c} has {len(idx)} training examples but the long-tailed "
                             f"profile asks for {n}; lower max_per_class or the imbalance ratio.")
        if n < 1:
            raise ValueError(f"Class {c} would keep 0 examples (counts {list(counts)}); "
                             "lower the imbalance ratio or raise max_per_class.")
        rng.shuffle(idx)
        selected.append(idx[:n])
    return np.concatenate(selected).astype(np.int64) if selected else np.zeros(0, np.int64)
