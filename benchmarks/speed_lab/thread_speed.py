"""ResNet-32 training-step throughput under TensorFlow's thread-pool settings, each in a fresh process.

    python -m benchmarks.speed_lab.thread_speed --pause_pids=PID [--settings=defaults,both2 --rounds=3]

A `fit` epoch of 32 batches of 128 random 32x32x3 images (after a warm-up epoch), fp32, for:
TensorFlow's defaults, intra-op only, inter-op only, both (= `--threads`). Interleaved and
repeated, since speeds swing between runs on shared machines; compare within one run.
Processes in --pause_pids (e.g. a long run's trainer) are SIGSTOPped meanwhile.
Writes benchmarks/thread_results.json.
"""

import json
import os
import statistics
import subprocess
import sys

from absl import app, flags

SETTINGS = {"defaults": (0, 0), "intra2": (2, 0), "inter1": (0, 1), "inter2": (0, 2), "both2": (2, 2),
            "both1": (1, 1)}
flags.DEFINE_list("settings", list(SETTINGS), f"Thread settings (intra, inter) to time: {SETTINGS}; both2 is "
                  "--threads=2.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.")
flags.DEFINE_list("pause_pids", [], "Processes to SIGSTOP while timing.")
flags.DEFINE_string("output", "benchmarks/results/thread_results.json", "Where to write the results.")
FLAGS = flags.FLAGS
CHILD = """
import sys, time
import bkd_keras  # first: its CPU kernel setting (oneDNN) precedes TensorFlow's import, as in training
import numpy as np, keras, tensorflow as tf
intra, inter = int(sys.argv[1]), int(sys.argv[2])
if intra: tf.config.threading.set_intra_op_parallelism_threads(intra)
if inter: tf.config.threading.set_inter_op_parallelism_threads(inter)
from models import build_backbone
m = build_backbone("resnet32", 10, (32, 32, 3))
m.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x = np.random.default_rng(0).random((128 * 32, 32, 32, 3), dtype=np.float32)
y = np.random.default_rng(1).integers(0, 10, 128 * 32)
m.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0)
start = time.time(); m.fit(x, y, batch_size=128, epochs=1, verbose=0)
print(len(x) / (time.time() - start))
"""


def main(_):
    from benchmarks.speed_lab import machine
    from benchmarks.speed_lab.pausing import paused
    unknown = sorted(set(FLAGS.settings) - set(SETTINGS))
    if unknown:
        raise app.UsageError(f"Unknown --settings {unknown}; valid: {', '.join(SETTINGS)}.")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rates = {name: [] for name in FLAGS.settings}
    with paused(FLAGS.pause_pids):
        for _ in range(FLAGS.rounds):
            for name in FLAGS.settings:
                intra, inter = SETTINGS[name]
                out = subprocess.run([sys.executable, "-c", CHILD, str(intra), str(inter)], cwd=root, check=True,
                                     capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
                rates[name].append(float(out.stdout.strip().splitlines()[-1]))
                print(f"{name}: {rates[name][-1]:.0f} images/s", flush=True)
    base = statistics.median(rates["defaults"]) if "defaults" in rates else None
    result = {"command": "python -m benchmarks.speed_lab.thread_speed " + f"--settings={','.join(FLAGS.settings)} "
                         f"--rounds={FLAGS.rounds}",
              "machine": machine.describe(), "TF_ENABLE_ONEDNN_OPTS": "bkd_keras default",
              "results": {k: {"intra_inter": SETTINGS[k], "images_per_sec": v,
                              "ratio_to_defaults": statistics.median(v) / base if base else None}
                          for k, v in rates.items()}}
    with open(FLAGS.output, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\n{result['machine']}\n\n| threads (intra, inter) | images/s per round | median x defaults |\n|---|---|---|")
    for name, r in result["results"].items():
        ratio = r["ratio_to_defaults"]
        print(f"| {name} {SETTINGS[name]} | {', '.join(f'{x:.0f}' for x in r['images_per_sec'])} | "
              f"{'' if ratio is None else format(ratio, '.2f')} |")


if __name__ == "__main__":
    app.run(main)
