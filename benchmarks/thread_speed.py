"""ResNet-32 training-step throughput under TensorFlow's thread-pool settings, each in a fresh process.

    python -m benchmarks.thread_speed [PID ...]   # writes benchmarks/thread_results.json

PIDs (e.g. a long run's trainer) are SIGSTOPped while the settings are timed.

A `fit` epoch of 32 batches of 128 random 32x32x3 images (after a warm-up epoch), fp32, for:
TensorFlow's defaults, intra-op only, inter-op only, both (= `--threads`). Interleaved and
repeated, since speeds swing between runs on shared machines; compare within one run.
"""

import json
import os
import subprocess
import sys

SETTINGS = {"defaults": (0, 0), "intra 2": (2, 0), "inter 2": (0, 2), "both 2 (--threads=2)": (2, 2),
            "both 1 (--threads=1)": (1, 1)}
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


def main():
    from benchmarks import machine
    from benchmarks.pausing import paused
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rates = {name: [] for name in SETTINGS}
    with paused(sys.argv[1:]):
        _time_all(root, rates)
    _report(root, rates, machine.describe())


def _time_all(root, rates):
    for _ in range(2):
        for name, (intra, inter) in SETTINGS.items():
            out = subprocess.run([sys.executable, "-c", CHILD, str(intra), str(inter)], cwd=root, check=True,
                                 capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            rates[name].append(float(out.stdout.strip().splitlines()[-1]))
            print(f"{name}: {rates[name][-1]:.0f} images/s", flush=True)


def _report(root, rates, machine_name):
    base = sum(rates["defaults"]) / 2
    result = {"machine": machine_name, "TF_ENABLE_ONEDNN_OPTS": "bkd_keras default",
              "results": {k: {"images_per_sec": v, "ratio_to_defaults": sum(v) / 2 / base} for k, v in rates.items()}}
    with open(os.path.join(root, "benchmarks", "thread_results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print("\n| threads | images/s (two runs) | x defaults |\n|---|---|---|")
    for name, r in result["results"].items():
        print(f"| {name} | {', '.join(f'{x:.0f}' for x in r['images_per_sec'])} | {r['ratio_to_defaults']:.2f} |")


if __name__ == "__main__":
    main()
