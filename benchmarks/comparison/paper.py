"""The paper's reported top-1 (%) by setting and method (docs/method.md): CIFAR ResNet-32 200 epochs, AG's News TextCNN."""

PAPER_TOP1 = {
    ("cifar10", "exp", 100): {"ce": 70.4, "kd": 70.7, "cb": 72.1, "mixup": 71.4, "bkd": 82.5,
                              "kd_mixup": 72.7, "weighted_kd": 81.7, "ldam_drw": 77.0, "la": 77.9},
    ("cifar10", "exp", 50): {"ce": 74.8, "kd": 77.9, "cb": 77.7, "mixup": 77.1, "bkd": 85.1},
    ("cifar10", "exp", 10): {"ce": 86.4, "kd": 87.5, "cb": 86.4, "mixup": 86.6, "bkd": 89.5},
    ("cifar10", "step", 100): {"ce": 63.1, "kd": 64.6, "cb": 61.0, "mixup": 64.4, "bkd": 80.9},
    ("cifar100", "exp", 100): {"ce": 38.3, "kd": 40.4, "cb": 32.7, "mixup": 38.7, "bkd": 46.5,
                               "ldam_drw": 42.0, "la": 44.1},
    ("cifar100", "exp", 50): {"ce": 43.9, "kd": 45.5, "cb": 38.6, "mixup": 43.6, "bkd": 51.7},
    ("cifar100", "exp", 10): {"ce": 55.7, "kd": 59.2, "cb": 54.9, "mixup": 57.5, "bkd": 62.0},
    ("cifar100", "step", 100): {"ce": 38.8, "kd": 39.3, "cb": 23.3, "mixup": 38.3, "bkd": 47.3},
    # Table 6: long-tailed AG's News, TextCNN on GloVe, 30 epochs.
    ("ag_news", "exp", 100): {"ce": 69.2, "kd": 67.1, "cb": 74.3, "bkd": 80.3},
}


def paper_top1(dataset, imbalance_type, ratio, method):
    return PAPER_TOP1.get((dataset, imbalance_type, int(ratio)), {}).get(method)
