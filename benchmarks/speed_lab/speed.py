"""Training throughput of ResNet-32 on CIFAR-10-LT: plain fit vs teacher stage vs student stage,
and, with --anchor, the authors' PyTorch code's teacher and student steps in the same run.

    python -m benchmarks.speed_lab.speed --data_dir=/tmp/data/cifar10-jpeg --epochs=2
    python -m benchmarks.speed_lab.speed --anchor=../shared/anchors/official-bkd-pytorch --limit=3840 \
        --configs=fit_fp32,anchor_teacher,teacher_fp32,anchor_student,student_bkd_fp32,student_bkd_fp32_folded,fit_fp32_again

Every configuration trains `--epochs` epochs on the same tf.data pipeline (batch 128,
augmentation on); the first epoch (tracing) is dropped and the rest averaged.
Absolute speeds swing 30-50% on shared machines, so plain fp32 `fit` runs first and
last in the same process, and every figure is also given as a ratio to it.
The anchor runs its own `run.py --time_only` (same data tree, batch and epochs; --limit
trains both on that many images per epoch) with --anchor_python, and is skipped with a
message when that Python has no torch. Other processes in --pause_pids are stopped meanwhile.
Writes benchmarks/results/speed_results.json (and prints a Markdown table).
"""

import functools
import json
import os
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks.speed_lab import machine  # noqa: E402
from benchmarks.speed_lab.anchor import anchor_problem, time_only_command  # noqa: E402
from benchmarks.speed_lab.pausing import paused  # noqa: E402

flags.DEFINE_string("data_dir", "/tmp/data/cifar10-jpeg", "Extracted cifar10-jpeg tree (../shared/datasets).")
flags.DEFINE_integer("epochs", 2, "Epochs per configuration (the first is warm-up).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_string("output", "benchmarks/results/speed_results.json", "Where to write the results.")
flags.DEFINE_list("configs", None, "Subset of configurations to run, in this order (default: all).")
flags.DEFINE_string("anchor", None, "The authors' code with its CPU harness (../shared/anchors/"
                    "official-bkd-pytorch): also time its teacher and student steps in this run.")
flags.DEFINE_string("anchor_python", "/tmp/anchor-venv/bin/python", "A Python with torch for --anchor "
                    "(see the anchor's README).")
flags.DEFINE_integer("limit", 0, "Train every configuration on this many images per epoch (0: all 12,406).")
flags.DEFINE_list("pause_pids", [], "Processes to SIGSTOP while timing (e.g. a long run's trainer).")
FLAGS = flags.FLAGS


def main(_):
    import bkd_keras  # noqa: F401  (first: its CPU kernel setting must precede TensorFlow's import)
    import keras
    import numpy as np

    from bkd_keras.method import callbacks as callbacks_lib
    from bkd_keras.run.config import TrainConfig
    from bkd_keras.method.methods import METHODS
    from bkd_keras.method.optimizers import CoupledSGD
    from bkd_keras.run.precision import policy_scope
    from bkd_keras.run.assembly import build_distiller
    from bkd_keras.method.schedules import scaled_step_schedule
    from bkd_keras.run.strategies import make_strategy
    from data import load_dataset, steps_per_epoch, train_dataset
    from models import build_backbone
    from flags.presets import PRESETS

    # The configurations below run the functions defined here, on data loaded once the
    # chosen names are known to be valid.

    def timed_fit(model):
        # With steps_per_execution > 1 Keras reports every k-th batch, so count whole epochs.
        tp = callbacks_lib.Throughput(min(n, steps * FLAGS.batch_size),
                                      steps if model.steps_per_execution == 1 else None)
        model.fit(train_dataset(dataset, FLAGS.batch_size, seed=0, repeat=True), epochs=FLAGS.epochs,
                  steps_per_epoch=steps, callbacks=[tp], verbose=2, shuffle=False)
        return float(np.mean(tp.history[1:] or tp.history))

    def anchor_fit(stage):
        with tempfile.TemporaryDirectory() as out:
            cmd = time_only_command(FLAGS.anchor, FLAGS.anchor_python, stage, FLAGS.epochs, out, FLAGS.data_dir,
                                    FLAGS.batch_size, FLAGS.limit)
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"the anchor failed: {' '.join(cmd)}\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
            with open(os.path.join(out, "time_only.json")) as f:
                return json.load(f)["steady_images_per_s"]

    def plain_fit(precision="float32"):
        keras.utils.set_random_seed(0)
        with policy_scope(precision):
            model = build_backbone("resnet32", 10, dataset.image_shape)
        schedule = scaled_step_schedule(0.1, steps_per_epoch(dataset, FLAGS.batch_size), 200)
        model.compile(optimizer=CoupledSGD(schedule, momentum=0.9, l2=2e-4),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return timed_fit(model)

    @functools.cache
    def teacher(batch_norm):   # speed only: the weights do not matter; one per BatchNorm kind, built once
        return build_backbone("resnet32", 10, dataset.image_shape, batch_norm=batch_norm)

    def distiller_fit(method, precision="float32", teacher_precision="float32", fold=False, batch_norm="fused",
                      steps_per_execution=1):
        keras.utils.set_random_seed(0)
        config = TrainConfig.flat(dataset="folder", backbone="resnet32", method=method, batch_size=FLAGS.batch_size,
                             epochs=200, precision=precision, teacher_precision=teacher_precision,
                             mixup_alpha=1.0, bkd_start_epoch=0, fold_teacher_batchnorm=fold, batch_norm=batch_norm)
        model, _ = build_distiller(METHODS[method], dataset, config, strategy,
                                   teacher(batch_norm) if METHODS[method].needs_teacher else None)
        model.steps_per_execution = steps_per_execution   # read when fit builds its train function
        return timed_fit(model)

    configs = {
        "fit_fp32": ("plain keras fit, fp32 (reference)", lambda: plain_fit()),
        "teacher_fp32": ("teacher stage (Distiller, CE), fp32", lambda: distiller_fit("ce")),
        "teacher_fp32_keras_bn": ("teacher stage, fp32, Keras' own BatchNormalization (--batch_norm=keras)",
                                  lambda: distiller_fit("ce", batch_norm="keras")),
        "anchor_teacher": ("authors' code, teacher step (CE), eager PyTorch fp32", lambda: anchor_fit("teacher")),
        "anchor_student": ("authors' code, student step (BKD, no mixup), eager PyTorch fp32",
                           lambda: anchor_fit("student")),
        "student_bkd_fp32": ("student stage (BKD + mixup), fp32 student and teacher",
                             lambda: distiller_fit("bkd")),
        "student_bkd_fp32_keras_bn": ("student stage, fp32, Keras' own BatchNormalization (--batch_norm=keras)",
                                      lambda: distiller_fit("bkd", batch_norm="keras")),
        "student_bkd_fp32_spe8": ("student stage, fp32, 8 steps per tf.function call (steps_per_execution)",
                                  lambda: distiller_fit("bkd", steps_per_execution=8)),
        "student_bkd_fp32_folded": ("student stage, fp32, teacher with BatchNorm folded into its convolutions",
                                    lambda: distiller_fit("bkd", fold=True)),
        "student_bkd_bf16_teacher": ("student stage, fp32 student, bf16 teacher forward",
                                     lambda: distiller_fit("bkd", "float32", "bfloat16")),
        "student_bkd_bf16": ("student stage, mixed bf16 student and bf16 teacher",
                             lambda: distiller_fit("bkd", "bfloat16", "bfloat16")),
        "student_bkd_bf16_folded": ("student stage, mixed bf16, teacher with BatchNorm folded into its convolutions",
                                    lambda: distiller_fit("bkd", "bfloat16", "bfloat16", fold=True)),
        "student_bkd_bf16_keras_bn": ("student stage, mixed bf16, Keras' own BatchNormalization",
                                      lambda: distiller_fit("bkd", "bfloat16", "bfloat16", batch_norm="keras")),
        "student_bkd_bf16_spe8": ("student stage, mixed bf16, 8 steps per tf.function call",
                                  lambda: distiller_fit("bkd", "bfloat16", "bfloat16", steps_per_execution=8)),
        "teacher_bf16": ("teacher stage, mixed bf16", lambda: distiller_fit("ce", "bfloat16")),
        "teacher_bf16_keras_bn": ("teacher stage, mixed bf16, Keras' own BatchNormalization",
                                  lambda: distiller_fit("ce", "bfloat16", batch_norm="keras")),
        "fit_fp32_again": ("plain keras fit, fp32, again at the end", lambda: plain_fit()),
    }
    chosen = FLAGS.configs or [c for c in configs if FLAGS.anchor or not c.startswith("anchor")]
    unknown = sorted(set(chosen) - set(configs))
    if unknown:
        raise SystemExit(f"Unknown --configs {unknown}; valid: {', '.join(configs)}.")
    if any(c.startswith("anchor") for c in chosen) and not _anchor_ready():
        chosen = [c for c in chosen if not c.startswith("anchor")]

    if not os.path.isdir(FLAGS.data_dir):
        raise SystemExit(f"{FLAGS.data_dir} not found: tar xzf ../shared/datasets/cifar10-jpeg.tar.gz -C /tmp/data")
    preset = PRESETS["cifar10_lt"]
    dataset = load_dataset("folder", data_dir=FLAGS.data_dir, imbalance_ratio=100, max_per_class=5000,
                           mean=preset["mean"], std=preset["std"])
    strategy = make_strategy("default")
    n = len(dataset.train)

    steps = -(-FLAGS.limit // FLAGS.batch_size) if FLAGS.limit else steps_per_epoch(dataset, FLAGS.batch_size)

    results = {}
    for name in chosen:
        description, fn = configs[name]
        print(f"\n=== {name}: {description}", flush=True)
        start = time.time()
        with paused(FLAGS.pause_pids):
            results[name] = {"description": description, "images_per_sec": fn(), "wall_seconds": time.time() - start}
        print(f"=== {name}: {results[name]['images_per_sec']:.1f} images/s", flush=True)
    refs = [results[k]["images_per_sec"] for k in ("fit_fp32", "fit_fp32_again") if k in results]
    reference = float(np.mean(refs)) if refs else None
    for r in results.values():
        r["ratio_to_fit_fp32"] = r["images_per_sec"] / reference if reference else None
    for name in results:   # each teacher_* / student_* configuration against the authors' step of its stage
        anchor = "anchor_" + name.split("_")[0]
        if name.split("_")[0] in ("teacher", "student") and anchor in results:
            results[name]["ratio_to_authors"] = results[name]["images_per_sec"] / results[anchor]["images_per_sec"]
    out = {"command": "python -m benchmarks.speed_lab.speed " + " ".join(f"--{k}={v}" for k, v in (
               ("epochs", FLAGS.epochs), ("batch_size", FLAGS.batch_size), ("limit", FLAGS.limit),
               ("anchor", FLAGS.anchor), ("configs", ",".join(chosen)))),
           "machine": machine.describe(), "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
           "train_images": n, "reference_fit_fp32_images_per_sec": reference, "results": results}
    with open(FLAGS.output, "w") as f:
        json.dump(out, f, indent=2)
    print(f"\n{out['machine']}\n\n| configuration | images/s | x plain fp32 fit | x authors' code |\n|---|---|---|---|")
    for name, r in results.items():
        ratio = r.get("ratio_to_authors")
        to_fit = r["ratio_to_fit_fp32"]
        print(f"| {r['description']} | {r['images_per_sec']:.0f} | {'' if to_fit is None else format(to_fit, '.2f')} | "
              f"{'' if ratio is None else format(ratio, '.2f')} |")


def _anchor_ready():
    """True if --anchor's run.py and a torch in --anchor_python are there; else says why."""
    problem = anchor_problem(FLAGS.anchor, FLAGS.anchor_python)
    if problem:
        print(f"skipping the authors' code: {problem}")
    return problem is None



if __name__ == "__main__":
    app.run(main)
