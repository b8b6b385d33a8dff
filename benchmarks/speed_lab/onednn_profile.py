"""Where a training step's convolution time goes, in this project and in the authors' PyTorch code:
oneDNN's own timing of every primitive it runs, grouped by kind, direction and kernel.

    python -m benchmarks.speed_lab.onednn_profile --anchor=../shared/anchors/official-bkd-pytorch \
        --stages=teacher,student --limit=1280 --pause_pids=PID

Both frameworks run their convolutions (and this project its BatchNorm) through oneDNN on CPU.
With ONEDNN_VERBOSE=1 oneDNN prints one line per executed primitive with its kernel (e.g.
`jit:avx2`, `brg_conv_fwd:avx2`) and its time in ms. Each side trains one epoch of --limit
images (batch 128): this project through `benchmarks.speed_lab.speed --configs=<stage>_fp32`, the authors'
code through its `run.py --time_only 1`. The times are summed per (primitive, direction, kernel)
and divided by the number of steps. Times include the verbose mode's own overhead; compare the
two sides, not against images/s. TensorFlow runs independent ops at the same time (its inter-op
pool), so by default (--inter_op_threads=1) this project's side runs one op at a time, as eager
PyTorch does, for times that add up. Writes --output and prints a Markdown table.
"""

import json
import math
import os
import subprocess
import sys
import tempfile

from absl import app, flags

from benchmarks.speed_lab import machine
from benchmarks.speed_lab.anchor import anchor_problem, time_only_command
from benchmarks.speed_lab.onednn_verbose import parse
from benchmarks.speed_lab.pausing import paused
from benchmarks.speed_lab.student_stage import PRECISIONS

flags.DEFINE_string("anchor", None, "The authors' code with its CPU harness (run.py).")
flags.DEFINE_string("anchor_python", "/tmp/anchor-venv/bin/python", "A Python with torch for --anchor.")
flags.DEFINE_string("data_dir", "/tmp/data/cifar10-jpeg", "Extracted cifar10-jpeg tree.")
flags.DEFINE_list("stages", ["teacher", "student"], "Steps to profile: teacher (CE) and/or student (BKD).")
flags.DEFINE_enum("precision", "float32", list(PRECISIONS), "This project's side: fp32, or mixed bf16 "
                  "student and teacher (the authors' code runs fp32 only).")
flags.DEFINE_integer("limit", 1280, "Images trained per side and stage (batch 128).")
flags.DEFINE_list("pause_pids", [], "Processes to SIGSTOP while profiling (e.g. a long run's trainer).")
flags.DEFINE_integer("inter_op_threads", 1, "TensorFlow's inter-op pool for this project's side. 1 runs one "
                     "op at a time, as eager PyTorch does, so per-primitive times compare; TensorFlow's default "
                     "(0) overlaps independent ops (e.g. a layer's two backward convolutions), whose times "
                     "then overlap too.")
flags.DEFINE_string("output", "benchmarks/results/onednn_profile.json", "Results file.")
FLAGS = flags.FLAGS

BATCH = 128
STAGE_CONFIG = {"teacher": "teacher", "student": "student_bkd"}   # benchmarks.speed_lab.speed's, + "_" + precision suffix


def _run(cmd, env_extra):
    env = dict(os.environ, ONEDNN_VERBOSE="1", **env_extra)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"failed: {' '.join(cmd)}\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return (done.stdout + done.stderr).splitlines()


def ours(stage):
    with tempfile.TemporaryDirectory() as out:
        config = f"{STAGE_CONFIG[stage]}_{PRECISIONS[FLAGS.precision]}"
        return _run([sys.executable, "-m", "benchmarks.speed_lab.speed", f"--configs={config}", "--epochs=1",
                     f"--limit={FLAGS.limit}", f"--data_dir={FLAGS.data_dir}", f"--output={out}/speed.json"],
                    {"TF_CPP_MIN_LOG_LEVEL": "2", **({"TF_NUM_INTEROP_THREADS": str(FLAGS.inter_op_threads)}
                                                     if FLAGS.inter_op_threads else {})})


def authors(stage):
    with tempfile.TemporaryDirectory() as out:
        return _run(time_only_command(FLAGS.anchor, FLAGS.anchor_python, stage, 1, out, FLAGS.data_dir, BATCH,
                                      FLAGS.limit), {})


def main(argv):
    del argv
    unknown = sorted(set(FLAGS.stages) - set(STAGE_CONFIG))
    if unknown:
        raise app.UsageError(f"Unknown --stages {unknown}; valid: {', '.join(STAGE_CONFIG)}.")
    if not os.path.isdir(FLAGS.data_dir):
        raise app.UsageError(f"{FLAGS.data_dir} not found: tar xzf ../shared/datasets/cifar10-jpeg.tar.gz -C /tmp/data")
    sides = {"ours": ours}
    if FLAGS.anchor:
        problem = anchor_problem(FLAGS.anchor, FLAGS.anchor_python)
        if problem:
            raise app.UsageError(f"--anchor cannot run: {problem}.")
        sides["authors"] = authors
    steps = math.ceil(FLAGS.limit / BATCH)
    results = {}
    for stage in FLAGS.stages:
        for side, fn in sides.items():
            print(f"profiling {side} {stage} ({steps} steps)", flush=True)
            with paused(FLAGS.pause_pids):
                results[f"{side}_{stage}"] = parse(fn(stage), steps)
    out = {"command": "python -m benchmarks.speed_lab.onednn_profile " + " ".join(sys.argv[1:]), "machine": machine.describe(),
           "steps": steps, "batch_size": BATCH, "results": results}
    with open(FLAGS.output, "w") as f:
        json.dump(out, f, indent=2)
    for stage in FLAGS.stages:
        names = [f"{side}_{stage}" for side in sides]
        keys = list(dict.fromkeys(k for n in names for k in results[n]))
        print(f"\n{stage} step, ms per batch of {BATCH} (oneDNN's timing, verbose mode)\n")
        print("| primitive, direction | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for key in keys:
            cells = []
            for n in names:
                g = results[n].get(key)
                cells.append("" if g is None else f"{g['ms_per_step']:.0f} ({', '.join(g['kernels'])})")
            print(f"| {key} | " + " | ".join(cells) + " |")
        print("| total | " + " | ".join(f"{sum(g['ms_per_step'] for g in results[n].values()):.0f}"
                                      for n in names) + " |")


if __name__ == "__main__":
    app.run(main)
