"""Named bundles of flag values (the paper's recipes). Explicit flags override them.

`bkd_start_fraction` places the deferred-BKD switch at that fraction of --epochs
(docs/method.md: CIFAR-10 switches at 160 of 200 epochs, CIFAR-100 from the start), so
a shortened schedule keeps the recipe's shape; --bkd_start_epoch overrides it.
"""

from data.sources import CIFAR_MEAN, CIFAR_STD

# Each preset holds only what differs from TrainConfig's defaults (tests/test_presets.py checks it):
# SGD 0.1, momentum 0.9, coupled L2 2e-4, warm-up 5, LR x0.01 at 80% and 90% of the epochs, T 2,
# beta 0.9999, mixup 1.0, lambda 1, BKD from epoch 0, 30 epochs, batch 64, small_cnn on digits at rho 20.
_CIFAR = dict(backbone="resnet32", imbalance_ratio=100.0, epochs=200, batch_size=128, mean=CIFAR_MEAN,
              std=CIFAR_STD, class_groups="paper")

_TEXT = dict(backbone="textcnn", imbalance_ratio=100.0, lr_decay_at=(20 / 30, 25 / 30), warmup_epochs=0,
             mixup_alpha=0.0, eval_every=5, sequence_length=128)

# docs/method.md, paper Sec. 5.2 (no official code): SGD from 0.2 with cosine decay, beta 0.9999, T 2,
# 224x224 random-resized crops streamed from the image list files, no warm-up stated; weight decay
# 5e-4 as in the usual ImageNet-LT code (the paper does not give it).
_LARGE = dict(dataset="list", imbalance_type="none", augmentation="resized_crop", image_size=(224, 224),
              learning_rate=0.2, weight_decay=5e-4, warmup_epochs=0,
              train_list="ImageNet_LT_train.txt", test_list="ImageNet_LT_test.txt", class_groups="paper")

PRESETS = {
    "digits_lt": dict(epochs=40, batch_size=32, learning_rate=0.05, weight_decay=5e-4, warmup_epochs=2,
                      mixup_alpha=0.2, eval_every=0),
    "cifar10_lt": dict(_CIFAR, bkd_start_fraction=0.8),
    "cifar100_lt": dict(_CIFAR),
    # docs/method.md: TextCNN on GloVe, 30 epochs, batch 64, LR 0.1 x0.01 at epochs 20 and 25, no mixup.
    "ag_news_lt": dict(_TEXT, dataset="ag_news", class_groups="paper"),
    # The offline stand-in: 2,225 BBC articles leave 286..5 per class at rho 50 (rho 100 would keep 2).
    # LR 0.02 with 3 warm-up epochs: at 0.1 the KD / BKD students' loss blew up in the first epoch
    # and they ended 10-15 points below CE; CE itself is the same at 0.02 (72.0 vs 71.2, seed 0).
    "bbc_news_lt": dict(_TEXT, dataset="bbc_news", imbalance_ratio=50.0, sequence_length=400,
                        learning_rate=0.02, warmup_epochs=3),
    # ImageNet-LT (Liu et al. 2019 split lists), ResNeXt-50 (the paper also reports ResNet-10).
    "imagenet_lt": dict(_LARGE, lr_schedule="cosine", backbone="resnext50", epochs=90, batch_size=512),
    "imagenet_lt_resnet10": dict(_LARGE, lr_schedule="cosine", backbone="resnet10", epochs=90, batch_size=512),
    "inat2018": dict(_LARGE, lr_schedule="cosine", backbone="resnet50", epochs=90, batch_size=256, train_list="iNaturalist18_train.txt",
                     test_list="iNaturalist18_val.txt"),
    # Places-LT: ImageNet-pretrained ResNet-152, 30 epochs, LR x0.1 every 10 epochs.
    "places_lt": dict(_LARGE, backbone="resnet152", pretrained="imagenet", batch_size=256,
                      lr_decay_at=(1 / 3, 2 / 3), lr_decay=0.1,
                      train_list="Places_LT_train.txt", test_list="Places_LT_test.txt"),
    "none": {},
}

# The preset a dataset gets when --preset is not given.
DEFAULT_PRESET = {"digits": "digits_lt", "cifar10": "cifar10_lt", "cifar100": "cifar100_lt",
                  "ag_news": "ag_news_lt", "bbc_news": "bbc_news_lt"}
