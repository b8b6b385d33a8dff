"""The long-tailed selection against an independent re-implementation of the reference."""

import numpy as np
import pytest

from data.long_tail import long_tail_counts, long_tail_indices


def reference_counts(img_max, cls_num, imb_factor, imb_type):
    # Written from the LDAM-DRW IMBALANCECIFAR10.get_img_num_per_cls description (imb_factor = 1/rho).
    out = []
    if imb_type == "exp":
        for cls_idx in range(cls_num):
            out.append(int(img_max * (imb_factor ** (cls_idx / (cls_num - 1.0)))))
    else:
        for _ in range(cls_num // 2):
            out.append(int(img_max))
        for _ in range(cls_num // 2):
            out.append(int(img_max * imb_factor))
    return out


def reference_indices(targets, counts, seed=0):
    np.random.seed(seed)
    targets = np.array(targets, dtype=np.int64)
    chosen = []
    for the_class, the_img_num in zip(np.unique(targets), counts):
        idx = np.where(targets == the_class)[0]
        np.random.shuffle(idx)
        chosen.extend(idx[:the_img_num].tolist())
    return np.array(chosen)


@pytest.mark.parametrize("img_max,classes,rho,kind,total", [
    (5000, 10, 100, "exp", 12406), (500, 100, 100, "exp", 10847), (5000, 10, 100, "step", 25250)])
def test_totals_match_paper(img_max, classes, rho, kind, total):
    counts = long_tail_counts(img_max, classes, rho, kind)
    assert counts == reference_counts(img_max, classes, 1.0 / rho, kind)
    assert sum(counts) == total


def test_cifar10_profile_is_the_published_one():
    assert long_tail_counts(5000, 10, 100) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


@pytest.mark.parametrize("rho", [1, 10, 50, 100])
@pytest.mark.parametrize("kind", ["exp", "step"])
def test_indices_match_reference_selection(rho, kind):
    # CIFAR-like label layout: interleaved classes, 200 per class.
    labels = np.tile(np.arange(10), 200)
    counts = long_tail_counts(200, 10, rho, kind)
    ours = long_tail_indices(labels, counts, seed=0)
    ref = reference_indices(labels, counts, seed=0)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(np.bincount(labels[ours], minlength=10), counts)


def test_other_seed_other_subset_same_counts():
    labels = np.repeat(np.arange(5), 50)
    counts = long_tail_counts(50, 5, 10)
    a, b = long_tail_indices(labels, counts, 0), long_tail_indices(labels, counts, 1)
    assert set(a.tolist()) != set(b.tolist())
    np.testing.assert_array_equal(b, reference_indices(labels, counts, 1))


def test_bad_inputs():
    with pytest.raises(ValueError, match=">= 1"):
        long_tail_counts(100, 10, 0.5)
    with pytest.raises(ValueError, match="imbalance_type"):
        long_tail_counts(100, 10, 10, "linear")
    with pytest.raises(ValueError, match="0 examples"):
        long_tail_indices(np.repeat(np.arange(3), 5), [5, 2, 0])
    with pytest.raises(ValueError, match="asks for"):
        long_tail_indices(np.repeat(np.arange(3), 5), [6, 2, 1])
