"""Does bf16 mixed precision keep BKD's accuracy? CIFAR-10-LT (rho 100), ResNet-32, reduced schedule.

    python -m benchmarks.studies.precision_accuracy --data_dir=/tmp/data/cifar10-jpeg --epochs=25

Trains one fp32 CE teacher, then two BKD students from it with the same seed: fp32,
and mixed bf16 (student and teacher forward). Runs go to benchmarks/runs/ (git-ignored);
finished runs are reused, so a stopped benchmark resumes. Writes
benchmarks/precision_results.json.
"""

import json
import os
import subprocess
import sys

from absl import app, flags

flags.DEFINE_string("data_dir", "/tmp/data/cifar10-jpeg", "Extracted cifar10-jpeg tree.")
flags.DEFINE_integer("epochs", 25, "Epochs of teacher and students (recipe shape, scaled).")
flags.DEFINE_string("runs_dir", "benchmarks/runs", "Where the run folders go.")
flags.DEFINE_string("output", "benchmarks/results/precision_results.json", "Results file.")
FLAGS = flags.FLAGS


def main(_):
    base = ["--dataset=folder", f"--data_dir={FLAGS.data_dir}", "--preset=cifar10_lt",
            f"--epochs={FLAGS.epochs}", "--verbose=2"]
    root = os.path.join(FLAGS.runs_dir, f"c10lt100-e{FLAGS.epochs}")
    teacher_dir = f"{root}-teacher"
    runs = {
        "teacher_ce_fp32": base + ["--stage=teacher", f"--output_dir={teacher_dir}"],
        "student_bkd_fp32": base + ["--method=bkd", f"--teacher={teacher_dir}/export/model.keras",
                                    f"--output_dir={root}-bkd-fp32"],
        "student_bkd_bf16": base + ["--method=bkd", f"--teacher={teacher_dir}/export/model.keras",
                                    "--precision=bfloat16", "--teacher_precision=bfloat16",
                                    f"--output_dir={root}-bkd-bf16"],
    }
    results = {}
    for name, args in runs.items():
        out = [a for a in args if a.startswith("--output_dir=")][0].split("=", 1)[1]
        command = [sys.executable, "-m", "bkd_keras.train", *args]
        if not os.path.exists(os.path.join(out, "results.json")):
            print("running:", " ".join(command), flush=True)
            subprocess.run(command, check=True)
        r = json.load(open(os.path.join(out, "results.json")))
        report = list(r["reports"].values())[-1]
        stage = list(r["stages"].values())[-1] if r["stages"] else {}
        results[name] = {k: report[k] for k in ("top1", "many", "medium", "few", "per_class")}
        results[name].update(images_per_sec=stage.get("images_per_sec"), seconds=stage.get("seconds"),
                             command="python -m bkd_keras.train " + " ".join(args))
        print(name, json.dumps({k: v for k, v in results[name].items() if k != "per_class"}), flush=True)
    with open(FLAGS.output, "w") as f:
        json.dump({"schedule": f"{FLAGS.epochs} epochs (recipe shape: warm-up 5, LR x0.01 at 80%, "
                               "x0.0001 at 90%, deferred BKD at 80%), batch 128, seed 0",
                   "results": results}, f, indent=2)


if __name__ == "__main__":
    app.run(main)
