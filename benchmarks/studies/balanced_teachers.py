"""The balanced-teachers study (issue 33): the 20-epoch rows of CE, KD, BKD, logit adjustment, students
of LA teachers and DiVE side by side, each seed on its own, with the rarest class and how well each
teacher kind's balanced target keeps the labels.

    python -m benchmarks.studies.balanced_teachers --store_dir=benchmarks/store --seeds=0,1 \
        --variants=ce,la,kd,weighted_kd,bkd,bkd_la,kd@la,bkd@la,dive@la

Reads each row's results.json from --runs_dir, else from the store (the runner's folder names,
benchmarks/comparison/run_plan.run_name); a missing row is listed as missing, not skipped.
"Teacher fit" is the `teacher_fit` a BKD-target run records (bkd_keras/scoring/prediction.py): per
class, the teacher's own training top-1 and the share of training images whose balanced target
(beta, T of that run) keeps the label, from the row taught by that kind that records it on the
most seeds. Writes --output (JSON) and prints Markdown tables.
"""

import json
import os

import numpy as np
from absl import app, flags

from benchmarks.comparison.report import halves
from benchmarks.comparison.run_plan import parse_setting, run_name, stored_copy
from benchmarks.comparison.variants import teacher_variant

flags.DEFINE_string("setting", "cifar10:exp:100", "DATASET:TYPE:RATIO of the rows.")
flags.DEFINE_integer("epochs", 20, "The rows' schedule (epochs per stage).")
flags.DEFINE_list("variants", ["ce", "la", "kd", "weighted_kd", "bkd", "bkd_la", "kd@la", "bkd@la", "dive@la"],
                  "Runner --methods entries, one table row each.")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds; each gets its own top-1 column.")
flags.DEFINE_string("runs_dir", "benchmarks/runs", "Run folders (looked in first).")
flags.DEFINE_string("store_dir", "benchmarks/store", "The committed store of finished runs.")
flags.DEFINE_string("reference", "la", "The row every other row is compared with, seed by seed.")
flags.DEFINE_string("output", "benchmarks/results/balanced_teachers.json", "Results file.")
FLAGS = flags.FLAGS


def _mean(values):
    """Mean of the values that exist (a group without classes, e.g. CIFAR-10-LT's Few, is None)."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def row(variant, results):
    """One table row from {seed: results.json dict} (seeds with a finished run only).

    Returns per-seed top-1 and the seed means (%) of overall, Many / Medium / Few, head / tail half
    and the rarest class (fewest training images; the first of equals)."""
    per_seed, cells = {}, {k: [] for k in ("top1", "many", "medium", "few", "head", "tail", "rarest")}
    for seed, result in sorted(results.items()):
        report = list(result["reports"].values())[-1]       # the student's (the last stage's) report
        counts = result["dataset"]["train_counts"]
        head, tail = halves(report["per_class"])
        per_seed[seed] = report["top1"]
        for key, value in (("top1", report["top1"]), ("many", report["many"]), ("medium", report["medium"]),
                           ("few", report["few"]), ("head", head), ("tail", tail),
                           ("rarest", report["per_class"][int(np.argmin(counts))])):
            cells[key].append(value)
    return {"variant": variant, "teacher": teacher_variant(variant), "top1_per_seed": per_seed,
            **{key: _mean(values) for key, values in cells.items()}}


def teacher_fit(results):
    """{seed: fit} -> seed means (%) of the teacher's training top-1 and of the balanced target's label-kept
    share, per class and as head / tail half."""
    fits = [r["teacher_fit"] for r in results.values() if r.get("teacher_fit")]
    if not fits:
        return None
    out = {"seeds": len(fits)}
    for key in ("teacher_top1", "target_top1"):
        per_class = np.nanmean(np.array([[np.nan if v is None else v for v in f[key]] for f in fits], float), 0)
        out[key] = [round(float(v), 2) for v in per_class]
        out[key + "_halves"] = [round(v, 2) for v in halves(list(per_class))]
    return out


def beats(rows, reference):
    """{variant: whether its top-1 is above `reference`'s on every seed both have (None: no common seed)}."""
    ref = next((r for r in rows if r["variant"] == reference), None)
    verdict = {}
    for r in rows:
        common = sorted(set(r["top1_per_seed"]) & set(ref["top1_per_seed"] if ref else ()))
        verdict[r["variant"]] = (all(r["top1_per_seed"][s] > ref["top1_per_seed"][s] for s in common)
                                 if common and r is not ref else None)
    return verdict


def _fmt(value):
    return "" if value is None else f"{value:.1f}"


def markdown(rows, fits, seeds, verdict, reference):
    lines = ["| method | teacher | " + " | ".join(f"top-1 s{s}" for s in seeds)
             + f" | mean | Many | Medium | Few | head half | tail half | rarest class | above {reference} on every seed |",
             "|---" * (len(seeds) + 10) + "|"]
    for r in rows:
        verdict_text = {True: "yes", False: "no", None: ""}[verdict[r["variant"]]]
        lines.append(f"| {r['variant']} | {r['teacher'] or ''} | "
                     + " | ".join(_fmt(r["top1_per_seed"].get(s)) for s in seeds)
                     + " | " + " | ".join(_fmt(r[k]) for k in ("top1", "many", "medium", "few", "head", "tail",
                                                                "rarest"))
                     + f" | {verdict_text} |")
    if fits:
        lines += ["", "| teacher kind | from row | seeds | teacher train top-1, head / tail half | "
                      "balanced target keeps the label, head / tail half | label kept per class |",
                  "|---" * 6 + "|"]
        for kind, (source, fit) in fits.items():
            lines.append(f"| {kind} | {source} | {fit['seeds']} | "
                         f"{fit['teacher_top1_halves'][0]:.1f} / {fit['teacher_top1_halves'][1]:.1f} | "
                         f"{fit['target_top1_halves'][0]:.1f} / {fit['target_top1_halves'][1]:.1f} | "
                         + ", ".join(f"{v:.0f}" for v in fit["target_top1"]) + " |")
    return "\n".join(lines)


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
    verdict = beats(rows, FLAGS.reference)
    with open(FLAGS.output, "w") as f:
        json.dump({"setting": FLAGS.setting, "epochs": FLAGS.epochs, "seeds": seeds, "rows": rows,
                   "teacher_fit": {k: dict(fit, from_row=v) for k, (v, fit) in fits.items()},
                   f"above_{FLAGS.reference}_on_every_seed": verdict, "missing": missing}, f, indent=1)
    print(markdown(rows, fits, seeds, verdict, FLAGS.reference))
    if missing:
        print("\nmissing runs: " + ", ".join(missing))
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
