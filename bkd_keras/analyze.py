"""The paper's analyses on trained run folders: gradient analysis, feature t-SNE, calibration.

    python -m bkd_keras.analyze --runs=benchmarks/runs/cifar10-exp100-e20-s0-ce,...-cb,...-bkd \
        --tools=gradients,tsne,calibration --out=benchmarks/results/analysis

Each run folder is a finished `bkd_keras.train` run (flags.json, export/model.keras); its data
is rebuilt from flags.json. Writes PNGs plus the numbers behind them (CSV / JSON) into --out.
- gradients (Fig. 2b): per class j, the summed gradient w.r.t. z_j from examples of other
  classes over one pass of the training set (no augmentation), under plain CE and under
  class-balanced CE (effective-number weights of the run's beta), for each run's model.
- tsne (Figs. 2a, 8): penultimate features of --tsne_classes test examples, one panel per run.
- calibration: expected calibration error and a reliability diagram per run (test set).
"""

import csv
import json
import os

import numpy as np
from absl import app, flags

flags.DEFINE_list("runs", None, "Finished run folders (their --output_dir).", required=True)
flags.DEFINE_list("names", None, "Label of each run in the plots (default: its method).")
flags.DEFINE_list("tools", ["gradients", "tsne", "calibration"], "Which analyses.")
flags.DEFINE_string("out", "benchmarks/results/analysis", "Output folder.")
flags.DEFINE_list("tsne_classes", None, "Class indices for t-SNE (default: all).")
flags.DEFINE_integer("tsne_per_class", 200, "Test examples per class for t-SNE.")
flags.DEFINE_integer("bins", 15, "Confidence bins for calibration.")
FLAGS = flags.FLAGS
TOOLS = ("gradients", "tsne", "calibration")


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, title, out, name):
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=110)
    _plt().close(fig)


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def gradients(runs, out):
    from bkd_keras.scoring import analysis
    from bkd_keras.method.losses import effective_number_weights
    from data import eval_dataset
    plt = _plt()
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.6), squeeze=False)
    rows, summary = [], {}
    for ax, (name, (config, dataset, model)) in zip(axes[0], runs.items()):
        logits = model.predict(eval_dataset(dataset, 512, "train"), verbose=0)
        weights = effective_number_weights(dataset.class_counts, config.method.beta)
        plain = analysis.negative_gradients(logits, dataset.train.labels)
        balanced = analysis.negative_gradients(logits, dataset.train.labels, weights)
        counts = dataset.class_counts
        for c in range(dataset.num_classes):
            rows.append([name, c, int(counts[c]), plain[c], balanced[c]])
        summary[name] = {"ce": plain.tolist(), "cb": balanced.tolist(), "train_counts": counts.tolist()}
        x = np.arange(dataset.num_classes)
        ax.bar(x - 0.2, plain, 0.4, label="CE")
        ax.bar(x + 0.2, balanced, 0.4, label="class-balanced CE")
        ax.set_xticks(x)
        ax.set_xlabel("class (head -> tail)"), ax.set_ylabel("sum of negative gradients on z_j")
        ax.set_title(f"{name} model"), ax.legend(fontsize=7)
    _save(fig, "Discouraging gradients per class over the training set (paper Fig. 2b)", out, "gradients.png")
    _write_csv(os.path.join(out, "gradients.csv"), ["run", "class", "train_count", "ce", "cb"], rows)
    return summary


def _features(model, dataset, indices):
    import keras

    from data import eval_dataset
    extractor = keras.Model(model.input, model.get_layer("features").output)
    sub = dataset.test.subset(indices)
    view = type(dataset)(**{**dataset.__dict__, "test": sub})
    return extractor.predict(eval_dataset(view, 512), verbose=0), sub.labels


def tsne(runs, out, classes, per_class):
    from sklearn.manifold import TSNE
    plt = _plt()
    first = next(iter(runs.values()))[1]
    classes = [int(c) for c in classes] if classes else list(range(first.num_classes))
    rng = np.random.RandomState(0)
    indices = np.concatenate([np.sort(rng.permutation(np.flatnonzero(first.test.labels == c))[:per_class])
                              for c in classes])
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 4.3), squeeze=False)
    points = {}
    for ax, (name, (_, dataset, model)) in zip(axes[0], runs.items()):
        features, labels = _features(model, dataset, indices)
        xy = TSNE(n_components=2, init="pca", random_state=0, perplexity=30).fit_transform(features)
        points[name] = {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "label": labels.tolist()}
        for c in classes:
            m = labels == c
            ax.scatter(xy[m, 0], xy[m, 1], s=4, label=f"{c} {dataset.class_names[c]} (n={dataset.class_counts[c]})")
        ax.set_title(name), ax.set_xticks([]), ax.set_yticks([])
    axes[0][-1].legend(fontsize=6, markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5))
    _save(fig, "t-SNE of penultimate features, test set (paper Figs. 2a, 8)", out, "tsne.png")
    with open(os.path.join(out, "tsne.json"), "w") as f:
        json.dump({"classes": classes, "indices": indices.tolist(), "points": points}, f)
    return {"classes": classes, "per_class": per_class}


def calibration(runs, out, bins):
    from bkd_keras.scoring import analysis
    from data import eval_dataset
    plt = _plt()
    fig, axes = plt.subplots(1, len(runs), figsize=(3.8 * len(runs), 3.8), squeeze=False)
    summary = {}
    for ax, (name, (_, dataset, model)) in zip(axes[0], runs.items()):
        logits = model.predict(eval_dataset(dataset, 512), verbose=0)
        result = analysis.calibration(logits, dataset.test.labels, bins)
        summary[name] = result
        centers = [(lo + hi) / 2 * 100 for lo, hi in zip(result["bin_lower"], result["bin_upper"])]
        acc = [a if a is not None else 0 for a in result["accuracy"]]
        ax.bar(centers, acc, width=100 / bins, edgecolor="black", label="accuracy")
        ax.plot([0, 100], [0, 100], "k--", lw=1, label="perfect calibration")
        ax.set_xlabel("confidence %"), ax.set_ylabel("accuracy %")
        ax.set_title(f"{name}: ECE {result['ece']:.1f}%"), ax.legend(fontsize=7)
    _save(fig, "Reliability diagrams, balanced test set", out, "calibration.png")
    with open(os.path.join(out, "calibration.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return {name: round(r["ece"], 2) for name, r in summary.items()}


def main(argv):
    del argv
    unknown = set(FLAGS.tools) - set(TOOLS)
    if unknown:
        raise app.UsageError(f"Unknown --tools {sorted(unknown)}; valid: {', '.join(TOOLS)}.")
    if FLAGS.names and len(FLAGS.names) != len(FLAGS.runs):
        raise app.UsageError("--names needs one name per --runs folder.")
    os.makedirs(FLAGS.out, exist_ok=True)
    cache, runs = {}, {}
    from bkd_keras.run.config import ConfigError
    from bkd_keras.run.run_records import load_run
    from data import DataError
    for i, run_dir in enumerate(FLAGS.runs):
        try:
            config, dataset, model = load_run(run_dir, cache)
        except (ConfigError, DataError) as err:
            raise app.UsageError(str(err)) from None
        runs[FLAGS.names[i] if FLAGS.names else config.method.method] = (config, dataset, model)
    classes = {len(r[1].class_names) for r in runs.values()}
    if len(classes) != 1:
        raise app.UsageError("The runs have different class counts; analyse runs of one dataset together.")
    done = {"runs": dict(zip(runs, FLAGS.runs))}
    if "gradients" in FLAGS.tools:
        done["gradients"] = gradients(runs, FLAGS.out)
    if "tsne" in FLAGS.tools:
        done["tsne"] = tsne(runs, FLAGS.out, FLAGS.tsne_classes, FLAGS.tsne_per_class)
    if "calibration" in FLAGS.tools:
        done["calibration_ece"] = calibration(runs, FLAGS.out, FLAGS.bins)
    with open(os.path.join(FLAGS.out, "summary.json"), "w") as f:
        json.dump(done, f, indent=1)
    print(json.dumps({k: v for k, v in done.items() if k != "gradients"}, indent=1))
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
