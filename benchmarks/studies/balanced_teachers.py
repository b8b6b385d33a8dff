"""The balanced-teachers study (issue 33): the 20-epoch rows of CE, KD, BKD, logit adjustment, students
of LA teachers and DiVE side by side, each seed on its own, with the rarest class and how well each
teacher kind's balanced target keeps the labels.

    python -m benchmarks.studies.balanced_teachers --seeds=0,1 \
        --variants=ce,la,kd,weighted_kd,bkd,bkd_la,kd@la,bkd@la,dive@la

Reads each row's results.json from --runs_dir, else from the study's own store (the runner's folder
names, benchmarks/comparison/run_plan.run_name; every row float32, trained by the runner with
--store_dir=benchmarks/store/balanced_teachers, docs/reproducing.md); a missing row is listed as
missing, not skipped, and a row at another precision is named.
"Teacher fit" is the `teacher_fit` a BKD-target run records (bkd_keras/scoring/prediction.py): per
class, the teacher's own training top-1 and the share of training images whose balanced target
(beta, T of that run) keeps the label, from the row taught by that kind that records it on the
most seeds. Writes --output (JSON) and prints Markdown tables.
"""

import json
import os

from absl import app, flags

from benchmarks.comparison.run_plan import parse_setting, run_name, stored_copy
from benchmarks.comparison.variants import teacher_variant
from benchmarks.studies.balanced_teachers_table import beats, markdown, mixed_precision_rows, row, teacher_fit

flags.DEFINE_string("setting", "cifar10:exp:100", "DATASET:TYPE:RATIO of the rows.")
flags.DEFINE_integer("epochs", 20, "The rows' schedule (epochs per stage).")
flags.DEFINE_list("variants", ["ce", "la", "kd", "weighted_kd", "bkd", "bkd_la", "kd@la", "bkd@la", "dive@la"],
                  "Runner --methods entries, one table row each.")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds; each gets its own top-1 column.")
flags.DEFINE_string("runs_dir", "benchmarks/runs", "Run folders (looked in first).")
flags.DEFINE_string("store_dir", "benchmarks/store/balanced_teachers", "The study's committed store of finished runs.")
flags.DEFINE_string("reference", "la", "The row every other row is compared with, seed by seed.")
flags.DEFINE_string("output", "benchmarks/results/balanced_teachers.json", "Results file.")
FLAGS = flags.FLAGS


def _load(name):
    for folder in (os.path.join(FLAGS.runs_dir, name), stored_copy(name, FLAGS.store_dir)):
        path = os.path.join(folder, "results.json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
    return None


def main(argv):
    del argv
    setting, seeds = parse_setting(FLAGS.setting), [int(s) for s in FLAGS.seeds]
    rows, fits, missing = [], {}, []
    for variant in FLAGS.variants:
        results = {}
        for seed in seeds:
            name = run_name(setting, variant, seed, FLAGS.epochs)
            found = _load(name)
            if found is None:
                missing.append(name)
            else:
                results[seed] = found
        if not results:
            continue
        rows.append(row(variant, results))
        kind = teacher_variant(variant)
        if kind and (fit := teacher_fit(results)) and (kind not in fits or fit["seeds"] > fits[kind][1]["seeds"]):
            fits[kind] = (variant, fit)
    verdict, mixed = beats(rows, FLAGS.reference), mixed_precision_rows(rows)
    with open(FLAGS.output, "w") as f:
        json.dump({"setting": FLAGS.setting, "epochs": FLAGS.epochs, "seeds": seeds, "rows": rows,
                   "teacher_fit": {k: dict(fit, from_row=v) for k, (v, fit) in fits.items()},
                   f"above_{FLAGS.reference}_on_every_seed": verdict, "missing": missing,
                   "other_precision": mixed}, f, indent=1)
    print(markdown(rows, fits, seeds, verdict, FLAGS.reference))
    if missing:
        print("\nmissing runs: " + ", ".join(missing))
    if mixed:
        print(f"\nWARNING: rows {mixed} ran at another precision than {rows[0]['variant']} "
              f"({rows[0]['precision']}): train them again at one precision before comparing.")
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
