"""The balanced-teachers table (issue 33), flag-free: rows, teacher fit and the seed-by-seed verdict
from the runs' results.json dicts, and their Markdown. The script is
benchmarks/studies/balanced_teachers.py."""

import numpy as np

from benchmarks.comparison.report import halves
from benchmarks.comparison.variants import teacher_variant


def _mean(values):
    """Mean of the values that exist (a group without classes, e.g. CIFAR-10-LT's Few, is None)."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def row(variant, results):
    """One table row from {seed: results.json dict} (seeds with a finished run only).

    Returns per-seed top-1 and the seed means (%) of overall, Many / Medium / Few, head / tail half
    and the rarest class (fewest training images; the first of equals), and `precision`: the runs'
    student compute precisions (config.precision; one entry unless the seeds differ)."""
    per_seed, cells = {}, {k: [] for k in ("top1", "many", "medium", "few", "head", "tail", "rarest")}
    precisions = sorted({result["config"]["precision"] for result in results.values()})
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
            "precision": precisions, **{key: _mean(values) for key, values in cells.items()}}


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


def mixed_precision_rows(rows):
    """The variants whose precision differs from the first row's (the study compares like with like)."""
    first = rows[0]["precision"] if rows else None
    return [r["variant"] for r in rows if r["precision"] != first]


def markdown(rows, fits, seeds, verdict, reference):
    lines = ["| method | teacher | " + " | ".join(f"top-1 s{s}" for s in seeds)
             + f" | mean | Many | Medium | Few | head half | tail half | rarest class | above {reference} on every seed "
               "| precision |",
             "|---" * (len(seeds) + 11) + "|"]
    for r in rows:
        verdict_text = {True: "yes", False: "no", None: ""}[verdict[r["variant"]]]
        lines.append(f"| {r['variant']} | {r['teacher'] or ''} | "
                     + " | ".join(_fmt(r["top1_per_seed"].get(s)) for s in seeds)
                     + " | " + " | ".join(_fmt(r[k]) for k in ("top1", "many", "medium", "few", "head", "tail",
                                                                "rarest"))
                     + f" | {verdict_text} | {', '.join(r['precision'])} |")
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
