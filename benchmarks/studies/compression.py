"""Teacher vs students: size, inference speed and accuracy of finished runs (docs/usage.md "Compressing a big
teacher into a small student").

    python -m benchmarks.studies.compression --name=bbc_news \
        --runs=benchmarks/runs/bbc_news-exp50-e30-s0-ce-transformer,benchmarks/runs/bbc_news-exp50-e30-s0-bkd-textcnn-from-transformer

For each run folder (with its export/model.keras): trainable parameters, the parameter ratio
to the first run (the teacher), inference examples/s of `predict` on the test split already
tokenised / normalised in memory (batch --batch_size, median of --repeats passes after a
warm-up pass), and top-1 / head-half / tail-half accuracy from results.json. Other
processes in --pause_pids are stopped (SIGSTOP) while timing, and resumed after.
Writes the rows under --name into --output (JSON) and prints a Markdown table.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks.speed_lab import machine  # noqa: E402
from benchmarks.speed_lab.pausing import paused  # noqa: E402

flags.DEFINE_list("runs", None, "Finished run folders; the first is the reference (the teacher).")
flags.DEFINE_string("name", None, "Key of this comparison in --output.")
flags.DEFINE_integer("batch_size", 256, "Inference batch size.")
flags.DEFINE_integer("repeats", 3, "Timed passes over the test split (the median is reported).")
flags.DEFINE_list("pause_pids", [], "Processes to SIGSTOP while timing (e.g. a long run's trainer).")
flags.DEFINE_string("output", "benchmarks/results/compression_results.json", "Results file (entries keyed by --name).")
flags.mark_flags_as_required(["runs", "name"])
FLAGS = flags.FLAGS


def inference_rate(model, inputs, batch_size, repeats):
    """Median examples/s of `model.predict` over `inputs` (after one warm-up pass)."""
    model.predict(inputs, batch_size=batch_size, verbose=0)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(inputs, batch_size=batch_size, verbose=0)
        rates.append(len(inputs) / (time.perf_counter() - start))
    return float(sorted(rates)[len(rates) // 2])


def main(argv):
    del argv
    import numpy as np

    from benchmarks.comparison.report import halves
    from bkd_keras.run.io_utils import update_json_entry
    from bkd_keras.run.run_records import load_run
    from data import eval_dataset

    rows, cache = [], {}
    for run_dir in FLAGS.runs:
        config, dataset, model = load_run(run_dir, cache)
        inputs = np.concatenate([np.asarray(x) for x, _ in eval_dataset(dataset, 512)])
        with paused(FLAGS.pause_pids):
            rate = inference_rate(model, inputs, FLAGS.batch_size, FLAGS.repeats)
        with open(os.path.join(run_dir, "results.json")) as f:
            results = json.load(f)
        label, report = list(results["reports"].items())[-1]
        head, tail = halves(report["per_class"])
        rows.append({"run": os.path.basename(run_dir), "backbone": model.name, "stage": label,
                     "parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
                     "inference_per_sec": rate, "top1": report["top1"], "head_half": head, "tail_half": tail,
                     "rarest_class": report["per_class"][-1]})
    for row in rows:
        row["parameter_ratio"] = rows[0]["parameters"] / row["parameters"]
        row["speed_ratio"] = row["inference_per_sec"] / rows[0]["inference_per_sec"]
    entry = {"machine": machine.describe(), "environment": machine.thread_settings(),
             "batch_size": FLAGS.batch_size, "rows": rows}
    update_json_entry(FLAGS.output, FLAGS.name, entry)
    print("| run | backbone | parameters | teacher/this | inference /s | x teacher | top-1 | head half | tail half | rarest |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['backbone']} | {r['parameters']:,} | {r['parameter_ratio']:.1f} | "
              f"{r['inference_per_sec']:.0f} | {r['speed_ratio']:.1f} | {r['top1']:.1f} | {r['head_half']:.1f} | "
              f"{r['tail_half']:.1f} | {r['rarest_class']:.1f} |")


if __name__ == "__main__":
    app.run(main)
