"""The BKD student stage the step profilers time (no flags: `step_profile` and `op_profile` share it)."""

# The precisions the profilers time (student and teacher alike; bfloat16 is mixed), each with the
# suffix of its configurations in `benchmarks.speed_lab.speed` (e.g. student_bkd_bf16).
PRECISIONS = {"float32": "fp32", "bfloat16": "bf16"}


def bkd_student_stage(data_dir, batch_size, batch_norm="fused", precision="float32"):
    """(distiller, dataset): a compiled ResNet-32 BKD student stage (mixup, BKD from epoch 0, random
    teacher: the step costs the same) on CIFAR-10-LT rho 100 from the cifar10-jpeg tree."""
    import keras

    from bkd_keras.run.config import TrainConfig
    from bkd_keras.method.methods import METHODS
    from bkd_keras.run.assembly import build_distiller
    from bkd_keras.run.strategies import make_strategy
    from data import load_dataset
    from flags.presets import PRESETS
    from models import build_backbone

    preset = PRESETS["cifar10_lt"]
    dataset = load_dataset("folder", data_dir=data_dir, imbalance_ratio=100, max_per_class=5000,
                           mean=preset["mean"], std=preset["std"])
    keras.utils.set_random_seed(0)
    config = TrainConfig.flat(dataset="folder", backbone="resnet32", method="bkd", batch_size=batch_size,
                              epochs=200, mixup_alpha=1.0, bkd_start_epoch=0, batch_norm=batch_norm,
                              precision=precision, teacher_precision=precision)
    teacher = build_backbone("resnet32", 10, dataset.image_shape, batch_norm=batch_norm)
    distiller, _ = build_distiller(METHODS["bkd"], dataset, config, make_strategy("default"), teacher)
    return distiller, dataset
