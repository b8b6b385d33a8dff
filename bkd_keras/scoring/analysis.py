"""The paper's analyses as numpy functions of a model's logits (Figs. 2b, 5, 6 and calibration).

Everything here takes logits already computed (e.g. `model.predict` over a split), so it is
independent of the backend and cheap to test against hand computations.
"""

import numpy as np


def softmax(logits):
    z = np.asarray(logits, np.float64)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def negative_gradients(logits, labels, class_weights=None):
    """Per class j, the summed discouraging gradient its logit receives from other classes' examples.

    Paper Eq. 4: for the (weighted) cross-entropy w_y * -log softmax(z)_y, the gradient w.r.t.
    z_j of an example of class y != j is w_y * p_j (> 0, it pushes z_j down); its norm summed
    over the examples not of class j is G_j = sum_{i: y_i != j} w_{y_i} p_ij.
    logits (N, C), labels (N,), class_weights (C,) or None (plain CE, w = 1). Returns (C,).
    """
    p = softmax(logits)
    labels = np.asarray(labels)
    w = np.ones(p.shape[-1]) if class_weights is None else np.asarray(class_weights, np.float64)
    contributions = w[labels][:, None] * p
    contributions[np.arange(len(labels)), labels] = 0.0     # the positive (own-class) gradient
    return contributions.sum(0)


def calibration(logits, labels, num_bins=15):
    """Expected calibration error and the reliability diagram's bins (equal-width confidence bins).

    ECE = sum_b (n_b / N) |accuracy_b - confidence_b|, in percent. Returns a dict with `ece`,
    and per bin `bin_lower`, `bin_upper`, `count`, `accuracy`, `confidence` (None when empty).
    """
    p = softmax(logits)
    labels = np.asarray(labels)
    confidence = p.max(-1)
    correct = (p.argmax(-1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    # Bins are (lower, upper]; the first also takes confidence 0 (cannot occur for C >= 1).
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, num_bins - 1)
    result = {"bin_lower": edges[:-1].tolist(), "bin_upper": edges[1:].tolist(), "count": [], "accuracy": [],
              "confidence": []}
    ece = 0.0
    for b in range(num_bins):
        members = index == b
        n = int(members.sum())
        result["count"].append(n)
        if n == 0:
            result["accuracy"].append(None)
            result["confidence"].append(None)
            continue
        acc, conf = float(correct[members].mean()), float(confidence[members].mean())
        result["accuracy"].append(acc * 100)
        result["confidence"].append(conf * 100)
        ece += n / len(labels) * abs(acc - conf)
    result["ece"] = ece * 100
    return result
