"""Where the time of a BKD student step goes (ResNet-32, CIFAR-10-LT, batch 128, this CPU).

    python -m benchmarks.speed_lab.step_profile --data_dir=/tmp/data/cifar10-jpeg --precision=float32|bfloat16 --pause_pids=PID

Times compiled pieces of the step on the same in-memory batch, each alone (median of
--repeats runs of --steps calls after a warm-up):
  pipeline        the tf.data training pipeline alone (decode-free CIFAR: gather, crop, flip, mixup draws)
  teacher         the frozen teacher's forward pass (inference mode), plain and BatchNorm-folded
  student fwd     the student's forward pass in training mode
  student fwd+bwd forward and gradients of CE (no update)
  + optimizer     forward, gradients and the SGD update (the teacher stage's step)
  full step       the Distiller's BKD train_step: mixup, teacher, student, both losses, update
The differences give the share of each part. It also runs one convolution with oneDNN's
verbose mode and reports which instruction set its kernels use (ONEDNN_VERBOSE names it).
Writes benchmarks/step_profile.json and prints a Markdown table.
"""

import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks.speed_lab import machine  # noqa: E402
from benchmarks.speed_lab.pausing import paused  # noqa: E402
from benchmarks.speed_lab.student_stage import PRECISIONS, bkd_student_stage  # noqa: E402
import bkd_keras  # noqa: E402,F401  (first: its CPU kernel setting precedes TensorFlow's import)
from models.batch_norm import BATCH_NORMS  # noqa: E402

flags.DEFINE_string("data_dir", "/tmp/data/cifar10-jpeg", "Extracted cifar10-jpeg tree (../shared/datasets).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("steps", 10, "Calls per timing.")
flags.DEFINE_integer("repeats", 3, "Timings per piece (the median is reported).")
flags.DEFINE_list("pause_pids", [], "Processes to SIGSTOP while timing.")
flags.DEFINE_enum("batch_norm", "fused", list(BATCH_NORMS), "The models' BatchNorm (models/batch_norm.py).")
flags.DEFINE_enum("precision", "float32", list(PRECISIONS), "Student and teacher precision (bfloat16: "
                  "mixed, as --precision=bfloat16 --teacher_precision=bfloat16 in training).")
flags.DEFINE_string("output", "benchmarks/results/step_profile.json", "Where to write the results.")
FLAGS = flags.FLAGS

_ONEDNN_PROBE = """
import os
os.environ["ONEDNN_VERBOSE"] = "1"
import numpy as np, tensorflow as tf
x = tf.constant(np.ones((128, 32, 32, 16), np.float32))
k = tf.constant(np.ones((3, 3, 16, 16), np.float32))
for dtype in (tf.float32, tf.bfloat16):
    tf.nn.conv2d(tf.cast(x, dtype), tf.cast(k, dtype), 1, "SAME")
"""


def onednn_kernels():
    """The oneDNN primitives an fp32 and a bf16 3x3 convolution run (in this process's environment,
    e.g. TF_ENABLE_ONEDNN_OPTS)."""
    done = subprocess.run([sys.executable, "-c", _ONEDNN_PROBE], capture_output=True, text=True)
    kinds = []
    for line in (done.stdout + done.stderr).splitlines():
        parts = line.split(",")
        if line.startswith("onednn_verbose") and "exec" in parts:
            if "convolution" in parts:
                kinds.append("convolution " + parts[parts.index("convolution") + 1])
            elif "gemm_api" in parts:   # TF's own (Eigen) convolution calling oneDNN's matrix multiply
                kinds.append("gemm_api (im2col + GEMM, no oneDNN convolution)")
    return sorted(set(kinds))


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from bkd_keras.run.folding import fold_batchnorm
    from data import train_dataset

    b = FLAGS.batch_size
    distiller, dataset = bkd_student_stage(FLAGS.data_dir, b, FLAGS.batch_norm, FLAGS.precision)
    student, frozen = distiller.student, distiller.teacher
    folded = fold_batchnorm(frozen)
    batches = train_dataset(dataset, b, seed=0, repeat=True, mixup_alpha=1.0)
    x, y, draws = next(iter(batches))
    optimizer = distiller.optimizer
    ce = keras.losses.CategoricalCrossentropy(from_logits=True)
    targets = tf.one_hot(tf.cast(y, tf.int32), 10)

    @tf.function
    def forward_backward(images):
        with tf.GradientTape() as tape:
            loss = ce(targets, student(images, training=True))
        return tape.gradient(loss, student.trainable_weights)

    @tf.function
    def with_update(images):
        optimizer.apply_gradients(zip(forward_backward(images), student.trainable_weights))

    train_step = tf.function(distiller.train_step)
    iterator = iter(batches)
    pieces = {
        "pipeline": ("tf.data pipeline alone (gather, pad-crop, flip, normalise, mixup draws)",
                     lambda: next(iterator)),
        "teacher": ("frozen teacher forward (inference)", tf.function(lambda v: frozen(v, training=False))),
        "teacher_folded": ("frozen teacher forward, BatchNorm folded", tf.function(lambda v: folded(v, training=False))),
        "student_forward": ("student forward (training mode)", tf.function(lambda v: student(v, training=True))),
        "student_forward_backward": ("student forward + CE gradients", forward_backward),
        "student_step": ("student forward + gradients + SGD update (a teacher-stage step)", with_update),
        "full_step": ("Distiller BKD train_step (mixup, teacher, student, CE + BKD, update)",
                      lambda v: train_step((v, y, draws))),
    }
    results = {}
    for name, (description, fn) in pieces.items():
        call = (lambda f=fn: f()) if name == "pipeline" else (lambda f=fn: f(x))
        call()
        times = []
        with paused(FLAGS.pause_pids):
            for _ in range(FLAGS.repeats):
                start = time.perf_counter()
                for _ in range(FLAGS.steps):
                    out = call()
                tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
                times.append((time.perf_counter() - start) / FLAGS.steps)
        results[name] = {"description": description, "ms_per_batch": 1000 * statistics.median(times)}
        print(f"{name}: {results[name]['ms_per_batch']:.1f} ms", flush=True)
    full = results["full_step"]["ms_per_batch"]
    share = {
        "student convolutions etc., forward": results["student_forward"]["ms_per_batch"],
        "student backward": results["student_forward_backward"]["ms_per_batch"] - results["student_forward"]["ms_per_batch"],
        "optimizer update": results["student_step"]["ms_per_batch"] - results["student_forward_backward"]["ms_per_batch"],
        "teacher forward": results["teacher"]["ms_per_batch"],
    }
    share["mixup, losses, dispatch (rest of the full step)"] = full - sum(share.values())
    kernels = onednn_kernels()
    out = {"command": f"python -m benchmarks.speed_lab.step_profile --batch_norm={FLAGS.batch_norm} --precision={FLAGS.precision}",
           "batch_size": b, "batch_norm": FLAGS.batch_norm, "precision": FLAGS.precision, "pieces": results,
           "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
           "full_step_split_ms": share, "onednn_convolution_kernels": kernels}
    out["machine"] = machine.describe()
    with open(FLAGS.output, "w") as f:
        json.dump(out, f, indent=1)
    print(f"\n{out['machine']}; oneDNN convolution kernels: {', '.join(kernels) or 'none reported'}\n")
    print("| part of the BKD student step | ms per batch of 128 | share |\n|---|---|---|")
    for part, ms in share.items():
        print(f"| {part} | {ms:.1f} | {100 * ms / full:.0f}% |")
    print(f"| **full step** | {full:.1f} | 100% |")
    print(f"| (tf.data pipeline, overlapped by prefetch) | {results['pipeline']['ms_per_batch']:.1f} | |")
    print(f"| (teacher forward with BatchNorm folded) | {results['teacher_folded']['ms_per_batch']:.1f} | |")


if __name__ == "__main__":
    app.run(main)
