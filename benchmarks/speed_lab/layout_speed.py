"""Channels-last (NHWC) vs channels-first (NCHW) convolutions on this CPU, forward + backward.

    python -m benchmarks.speed_lab.layout_speed --pause_pids=PID

Four 3x3 conv-16 + ReLU layers on a (128, 32, 32, 16) batch, the shape of ResNet-32's first
stage, gradients of the weights; interleaved rounds, ms per call. It answers whether the CNN
backbones should switch layout for oneDNN (they are channels-last). Writes
benchmarks/layout_results.json.
"""

import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks.speed_lab import machine  # noqa: E402
from benchmarks.speed_lab.pausing import paused  # noqa: E402

flags.DEFINE_integer("rounds", 3, "Interleaved timing rounds.")
flags.DEFINE_integer("calls", 5, "Calls per round.")
flags.DEFINE_list("pause_pids", [], "Processes to SIGSTOP while timing.")
flags.DEFINE_string("output", "benchmarks/results/layout_results.json", "Where to write the results.")
FLAGS = flags.FLAGS


def _step(tf, data_format):
    kernels = [tf.Variable(tf.random.normal([3, 3, 16, 16], seed=i) * 0.1) for i in range(4)]
    x = tf.random.normal([128, 32, 32, 16] if data_format == "NHWC" else [128, 16, 32, 32], seed=9)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = x
            for k in kernels:
                y = tf.nn.relu(tf.nn.conv2d(y, k, 1, "SAME", data_format=data_format))
            loss = tf.reduce_sum(y)
        return tape.gradient(loss, kernels)
    return step


def main(_):
    import bkd_keras  # noqa: F401  (its CPU kernel setting precedes TensorFlow's import)
    import tensorflow as tf

    steps = {fmt: _step(tf, fmt) for fmt in ("NHWC", "NCHW")}
    for step in steps.values():
        step()   # trace
    times = {fmt: [] for fmt in steps}
    with paused(FLAGS.pause_pids):
        for _ in range(FLAGS.rounds):
            for fmt, step in steps.items():
                start = time.perf_counter()
                for _ in range(FLAGS.calls):
                    [g.numpy() for g in step()]
                times[fmt].append(1000 * (time.perf_counter() - start) / FLAGS.calls)
    out = {"command": "python -m benchmarks.speed_lab.layout_speed", "machine": machine.describe(),
           "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
           "ms_per_call_median": {fmt: statistics.median(t) for fmt, t in times.items()}, "ms_per_call": times}
    with open(FLAGS.output, "w") as f:
        json.dump(out, f, indent=1)
    med = out["ms_per_call_median"]
    print(f"{out['machine']}: NHWC {med['NHWC']:.0f} ms, NCHW {med['NCHW']:.0f} ms "
          f"(NCHW / NHWC = {med['NCHW'] / med['NHWC']:.2f})")


if __name__ == "__main__":
    app.run(main)
