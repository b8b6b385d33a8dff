"""Does the teacher fit well enough for the balanced target to keep the labels?

BKD distils q = normalise(w * softmax(z_t / T)). The effective-number weights of a
rho = 100 split differ about 80x between head and tail, so q keeps a head image's label
only when the teacher's softened margin outweighs that ratio: roughly
z_y - z_j > T * log(w_j / w_y) for the rare classes j. A teacher trained to convergence
(the paper's 200 epochs) has such margins on its training set; an under-trained one does
not, and then BKD moves head images to tail classes. `balanced_target_fit` measures it.
"""

import numpy as np

from bkd_keras.scoring.analysis import softmax


def balanced_target_fit(teacher_logits, labels, class_weights, temperature=2.0):
    """Per class c, over the training images of class c (percent, lists of length C):

    teacher_top1: argmax z_t == c; target_top1: argmax q == c, the images whose balanced
    target still names their label; target_mass: mean q_c, the weight BKD gives the label.
    teacher_logits (N, C), labels (N,) int, class_weights (C,) positive.
    """
    z = np.asarray(teacher_logits, np.float64)
    labels = np.asarray(labels)
    num_classes = z.shape[-1]
    q = softmax(z / temperature + np.log(np.asarray(class_weights, np.float64)))
    report = {"teacher_top1": [], "target_top1": [], "target_mass": []}
    for c in range(num_classes):
        rows = labels == c
        if not rows.any():
            for values in report.values():
                values.append(None)
            continue
        report["teacher_top1"].append(float((z[rows].argmax(-1) == c).mean() * 100))
        report["target_top1"].append(float((q[rows].argmax(-1) == c).mean() * 100))
        report["target_mass"].append(float(q[rows, c].mean() * 100))
    return report


def fit_warning(report, class_counts, threshold=80.0, class_names=None):
    """A message when the balanced target drops the label of many head-class images, else None.

    Head classes are those with more training images than the median class; `class_names`
    name them in the message (default: their numbers).
    """
    counts = np.asarray(class_counts)
    head = [c for c in range(len(counts)) if counts[c] > np.median(counts)
            and report["target_top1"][c] is not None and report["target_top1"][c] < threshold]
    if not head:
        return None
    name = (lambda c: repr(str(class_names[c]))) if class_names is not None else (lambda c: f"class {c}")
    detail = ", ".join(f"{name(c)}: {report['target_top1'][c]:.0f}%" for c in head)
    return (f"The teacher's balanced target keeps the label of few head-class training images ({detail}); "
            "BKD will move these images towards rare classes and head accuracy will drop. The teacher "
            "has not fit its training set: train it longer (--teacher_epochs), or soften the weights "
            "(lower --beta).")
