"""results.json, RESULTS.md and plots from a list of benchmark runs (see benchmarks/comparison/runner.py)."""

import csv
import json
import os
from collections import defaultdict

import numpy as np

from benchmarks.comparison.paper import paper_top1
from benchmarks.comparison.run_plan import stored_copy, teacher_label

PLOT_METHODS = ("ce", "cb", "bkd")


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "absent"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def halves(per_class):
    """Mean accuracy (%) of the head half and the tail half of the classes (frequency order)."""
    acc = np.array([np.nan if a is None else a for a in per_class], float)
    half = len(acc) // 2
    return float(np.nanmean(acc[:half])), float(np.nanmean(acc[half:]))


def _halves(run):
    return halves(run["per_class"])


def _group(runs):
    by_setting = defaultdict(lambda: defaultdict(list))
    for run in runs:
        key = (run["dataset"], run["imbalance_type"], run["imbalance_ratio"], run["epochs"])
        by_setting[key][run["variant"]].append(run)
    return by_setting


def _table(setting, variants):
    rows = ["| method | seeds | precision | top-1 % | Many % | Medium % | Few % | head half % | tail half % | "
            "paper top-1 % | train images/s |", "|---" * 11 + "|"]
    for variant, runs in variants.items():
        halves = [_halves(r) for r in runs]
        paper = paper_top1(*setting[:3], variant)
        speed = [r["images_per_sec"] for r in runs if r["images_per_sec"]]
        # Rows of one table may come from sessions with different precisions (mixed bf16 is
        # within about a point of fp32): shown so that no comparison hides it.
        precision = ", ".join(sorted({r.get("precision") or "n/a" for r in runs}))
        rows.append(f"| {variant} | {', '.join(str(r['seed']) for r in runs)} | {precision} | "
                    f"{_mean_std([r['top1'] for r in runs])} | "
                    f"{_mean_std([r['many'] for r in runs])} | {_mean_std([r['medium'] for r in runs])} | "
                    f"{_mean_std([r['few'] for r in runs])} | {_mean_std([h[0] for h in halves])} | "
                    f"{_mean_std([h[1] for h in halves])} | {'' if paper is None else paper} | "
                    f"{'' if not speed else f'{np.mean(speed):.0f}'} |")
    return "\n".join(rows)


def _experts_table(variants):
    """Markdown: each expert's own accuracy beside its ensemble (the row's top-1), for the rows of
    multi-expert models (their "experts"); "" if the setting has none. Mean ± std over the row's seeds."""
    lines = []
    for variant, runs in variants.items():
        per_run = [r.get("experts") for r in runs]
        if not all(per_run):
            continue
        columns = [("ensemble", runs)] + [(f"expert {e}", [x[e] for x in per_run]) for e in range(len(per_run[0]))]
        for label, reports in columns:
            lines.append(f"| {variant} | {label} | " + " | ".join(
                _mean_std([r[k] for r in reports]) for k in ("top1", "many", "medium", "few")) + " |")
    if not lines:
        return ""
    return ("Each expert of the multi-expert rows on its own (the ensemble is the mean of the experts' "
            "logits):\n\n| method | model | top-1 % | Many % | Medium % | Few % |\n" + "|---" * 6 + "|\n"
            + "\n".join(lines) + "\n")


def _class_means(runs):
    """Per-class mean over runs, skipping a class a run could not score (None); None if none could."""
    columns = zip(*[r["per_class"] for r in runs])
    return [None if not kept else float(np.mean(kept)) for kept in ([a for a in c if a is not None] for c in columns)]


def per_class_rows(variants):
    """Per variant: (label, seeds, per-class mean %, per-class change in points against its teacher's
    CE row over the same seeds, or None where that row lacks those seeds or the variant is CE)."""
    rows = []
    for variant, runs in variants.items():
        seeds = [r["seed"] for r in runs]
        teacher = {r["seed"]: r for r in variants.get(teacher_label(variant), [])}
        acc, change = _class_means(runs), None
        if not variant.startswith("ce") and all(s in teacher for s in seeds):
            change = [None if a is None or b is None else a - b
                      for a, b in zip(acc, _class_means([teacher[s] for s in seeds]))]
        rows.append((variant, seeds, acc, change))
    return rows


def _per_class_table(variants, max_classes=20):
    """Markdown: per-class accuracy of each row, with the change against its teacher (CE) in brackets."""
    first = next(iter(variants.values()))[0]
    counts = first.get("train_counts") or []
    if not counts or len(counts) > max_classes:
        return ""
    lines = ["Per class (mean over the row's seeds; in brackets the change in points against the CE row "
             "of the same seeds, which is the teacher of distilled rows; classes by training count):\n",
             "| method | " + " | ".join(f"{c} ({n})" for c, n in enumerate(counts)) + " |",
             "|---" * (len(counts) + 1) + "|"]
    for variant, _, acc, change in per_class_rows(variants):
        cells = ["n/a" if a is None else f"{a:.1f}" + ("" if d is None else f" ({d:+.1f})")
                 for a, d in zip(acc, change or [None] * len(acc))]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _log_path(run, store_dir=None):
    """The log.csv of the stage a results.json row reports (the student's, or the teacher's for a
    teacher-only CE run): in its run folder, or else in the store's copy of the run (rows merged
    from earlier sessions name run folders that are gone); None if neither has one."""
    folders = [run["run_dir"]] + ([stored_copy(run["run_dir"], store_dir)] if store_dir else [])
    paths = (os.path.join(d, stage, "log.csv") for d in folders for stage in ("student", "teacher"))
    return next((p for p in paths if os.path.exists(p)), None)


def _plots(setting, variants, plot_dir, store_dir=None):
    """Per-class bars, confusion matrices, sweeps and training curves of one setting; {name: png path}.
    The curves (of PLOT_METHODS' rows, else the first four) read each row's log.csv (see `_log_path`)
    and are left out when no row has one."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tag = f"{setting[0]}-{setting[1]}{setting[2]:g}-e{setting[3]}"
    present = [m for m in PLOT_METHODS if m in variants]
    written = {}
    if present:
        any_run = variants[present[0]][0]
        counts = any_run["train_counts"]
        x = np.arange(len(counts))
        fig, ax = plt.subplots(figsize=(max(6, len(counts) * 0.6), 3.5))
        width = 0.8 / len(present)
        for i, m in enumerate(present):
            acc = np.nanmean([[np.nan if a is None else a for a in r["per_class"]] for r in variants[m]], axis=0)
            ax.bar(x + (i - (len(present) - 1) / 2) * width, acc, width, label=m)
        ax.set_xticks(x, [f"{c}\n(n={n})" for c, n in enumerate(counts)], fontsize=7)
        ax.set_ylabel("test accuracy %")
        ax.set_title(f"Per-class accuracy, {tag} (mean over seeds)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        written["per_class"] = os.path.join(plot_dir, f"per_class_{tag}.png")
        fig.savefig(written["per_class"], dpi=110)
        plt.close(fig)

        fig, axes = plt.subplots(1, len(present), figsize=(3.6 * len(present), 3.4))
        for ax, m in zip(np.atleast_1d(axes), present):
            cm = np.asarray(variants[m][0]["confusion_matrix"], float)
            cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
            ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
            ax.set_title(f"{m} (seed {variants[m][0]['seed']})")
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
        fig.tight_layout()
        written["confusion"] = os.path.join(plot_dir, f"confusion_{tag}.png")
        fig.savefig(written["confusion"], dpi=110)
        plt.close(fig)

    sweeps = _sweep_plot(tag, variants, plot_dir, plt)
    written.update(sweeps)

    # The main methods only: a sweep's dozen rows would make the curves unreadable.
    shown = [v for v in variants if v in PLOT_METHODS] or list(variants)[:4]
    logs = {v: path for v in shown if (path := _log_path(variants[v][0], store_dir))}
    if not logs:
        return written
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for variant, path in logs.items():
        runs = variants[variant]
        with open(path) as f:
            rows = list(csv.DictReader(f))
        epochs = [int(r["epoch"]) + 1 for r in rows]
        ax_loss.plot(epochs, [float(r["loss"]) for r in rows], label=variant)
        val = [(e, 100 * float(r["val_accuracy"])) for e, r in zip(epochs, rows)
               if r.get("val_accuracy") not in (None, "", "NA")]
        if not val or val[-1][0] != epochs[-1]:
            val.append((epochs[-1], runs[0]["top1"]))       # the final evaluation
        line, = ax_acc.plot(*zip(*val), marker="o", label=f"{variant} test")
        ax_acc.plot(epochs, [100 * float(r["accuracy"]) for r in rows], linestyle="--", color=line.get_color(),
                    alpha=0.6, label=f"{variant} train batches")
    ax_loss.set_xlabel("epoch"), ax_loss.set_ylabel("training loss (total)"), ax_loss.legend(fontsize=7)
    ax_acc.set_xlabel("epoch"), ax_acc.set_ylabel("top-1 %"), ax_acc.legend(fontsize=7)
    fig.suptitle(f"Training curves, {tag} (first seed)")
    fig.tight_layout()
    written["curves"] = os.path.join(plot_dir, f"curves_{tag}.png")
    fig.savefig(written["curves"], dpi=110)
    plt.close(fig)
    return written


def run_key(run):
    return (run["dataset"], run["imbalance_type"], run["imbalance_ratio"], run["epochs"], run["variant"], run["seed"])


def merge(runs, results_dir):
    """The runs of results_dir/results.json, with those of `runs` added or replaced (same key)."""
    path = os.path.join(results_dir, "results.json")
    merged = {}
    if os.path.exists(path):
        with open(path) as f:
            merged = {run_key(r): r for r in json.load(f) if "confusion_matrix" in r}
    merged.update({run_key(r): r for r in runs})
    return sorted(merged.values(), key=lambda r: (r["dataset"], r["imbalance_type"], r["imbalance_ratio"],
                                                  r["epochs"]))


def _swept(variants, param):
    """{method: its sweep variants over `param` ("T" or "beta")} among `variants`."""
    from benchmarks.comparison.variants import SWEEP
    found = defaultdict(list)
    for v in variants:
        if (m := SWEEP.match(v)) and m["param"] == param:
            found[m["method"]].append(v)
    return found


def sweep_points(variants, method, param):
    """Rows of one sweep (paper Figs. 5, 6), ordered by the swept value.

    A method's own runs (e.g. "bkd") join its sweeps at their configured T and beta. Only the seeds
    every point has are averaged, so that a point with an extra seed is not compared on a different
    sample. Returns dicts: value, variant, seeds, top1, head, tail (mean %, halves as in the tables).
    """
    key = {"T": "temperature", "beta": "beta"}[param]
    names = _swept(variants, param).get(method, []) + ([method] if method in variants else [])
    names = [v for v in names if variants[v][0].get(key) is not None]
    common = set.intersection(*({r["seed"] for r in variants[v]} for v in names)) if names else set()
    rows = []
    for v in names:
        runs = [r for r in variants[v] if not common or r["seed"] in common]
        halves = np.array([_halves(r) for r in runs])
        rows.append({"value": float(runs[0][key]), "variant": v, "seeds": sorted(r["seed"] for r in runs),
                     "top1": float(np.mean([r["top1"] for r in runs])),
                     "head": float(halves[:, 0].mean()), "tail": float(halves[:, 1].mean())})
    return sorted(rows, key=lambda row: row["value"])


def _sweep_plot(tag, variants, plot_dir, plt):
    """Top-1 and head / tail halves against T and beta, one PNG + CSV per swept method and parameter."""
    written = {}
    for param, label in (("T", "temperature T"), ("beta", "beta (IF = inverse frequency, beta 1)")):
        for method in sorted(_swept(variants, param)):
            rows = sweep_points(variants, method, param)
            if len(rows) < 2:
                continue
            name = f"sweep_{method}_{param}_{tag}"
            with open(os.path.join(plot_dir, name + ".csv"), "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(dict(row, seeds=" ".join(map(str, row["seeds"]))) for row in rows)
            fig, ax = plt.subplots(figsize=(5, 3.4))
            # Evenly spaced points: the paper's grids (T 1..4, beta 0.9..0.9999) are not linear.
            xs = list(range(len(rows)))
            for metric, text in (("top1", "top-1"), ("head", "head half"), ("tail", "tail half")):
                ax.plot(xs, [row[metric] for row in rows], marker="o", label=text)
            ticks = ["IF" if param == "beta" and row["value"] == 1 else f"{row['value']:g}" for row in rows]
            ax.set_xticks(xs, ticks)
            ax.set_xlabel(label), ax.set_ylabel("test accuracy %"), ax.legend(fontsize=7)
            seeds = ", ".join(map(str, rows[0]["seeds"]))
            ax.set_title(f"{method}: {param} sweep, {tag} (seed {seeds})", fontsize=9)
            fig.tight_layout()
            written[f"sweep_{method}_{param}"] = os.path.join(plot_dir, name + ".png")
            fig.savefig(written[f"sweep_{method}_{param}"], dpi=110)
            plt.close(fig)
    return written


def write_all(runs, results_dir, store_dir=None):
    """Writes results.json, RESULTS.md and plots/ under results_dir; training curves come from the
    runs' log.csv, in their run folders or in `store_dir` (the runner's store)."""
    os.makedirs(os.path.join(results_dir, "plots"), exist_ok=True)
    with open(os.path.join(results_dir, "results.json"), "w") as f:
        json.dump(runs, f, indent=1)
    parts = ["# Benchmark results\n", "Generated by `python -m benchmarks.comparison.runner` (see each table's commands). "
             "Top-1 is the last epoch on the balanced test set, mean ± sample std over seeds. Head / tail half: "
             "mean per-class accuracy of the first / last C/2 classes. The paper's numbers are for its full "
             "schedules (CIFAR: 200 epochs; AG's News: 30).\n"]
    for setting, variants in _group(runs).items():
        first = next(iter(variants.values()))[0]
        parts.append(f"\n## {setting[0]}, {setting[1]}, ratio {setting[2]:g}: {setting[3]} epochs, "
                     f"data: {first['data_source']}\n")
        parts.append(_table(setting, variants) + "\n")
        per_class = _per_class_table(variants)
        if per_class:
            parts.append("\n" + per_class)
        experts = _experts_table(variants)
        if experts:
            parts.append("\n" + experts)
        plots = _plots(setting, variants, os.path.join(results_dir, "plots"), store_dir)
        for name, path in plots.items():
            parts.append(f"\n![{name}]({os.path.relpath(path, results_dir)})\n")
        parts.append("\nCommands:\n\n```\n" + "\n".join(r["command"] for v in variants.values() for r in v) + "\n```\n")
    # Hand-written findings (investigations, analyses) live in results_dir/notes/*.md and are kept
    # across regenerations, after the tables.
    notes = os.path.join(results_dir, "notes")
    if os.path.isdir(notes):
        for name in sorted(n for n in os.listdir(notes) if n.endswith(".md")):
            with open(os.path.join(notes, name)) as f:
                parts.append("\n" + f.read().strip() + "\n")
    with open(os.path.join(results_dir, "RESULTS.md"), "w") as f:
        f.write("".join(parts))
