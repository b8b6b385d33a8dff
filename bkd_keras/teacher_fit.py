"""How much of a teacher's training set keeps its label under the balanced BKD target, per class,
for a grid of beta and T (no training; explains BKD's head-class loss at short schedules).

    python -m bkd_keras.teacher_fit --runs=benchmarks/runs/cifar10-exp100-e20-s0-ce \
        --out=benchmarks/results/analysis/teacher_fit.json

For each run (a finished teacher / CE run folder) writes, per (beta, T), the percentage of each
class's training examples whose q = normalise(w * softmax(z_t / T)) still has its label as argmax,
and the teacher's own training accuracy. The run's test top-1 is included for reference. A
multi-expert teacher (ride_resnet32) also gets each expert's grid under "experts": the targets
of --method=bkd_per_expert.
"""

import json
import os

from absl import app, flags

flags.DEFINE_list("runs", None, "Finished teacher run folders.", required=True)
flags.DEFINE_list("betas", ["0.9", "0.99", "0.999", "0.9999", "1"], "Effective-number betas (1 = IF).")
flags.DEFINE_list("temperatures", ["1", "1.5", "2", "3", "4"], "Temperatures T.")
flags.DEFINE_string("out", "benchmarks/results/analysis/teacher_fit.json", "Output JSON.")
FLAGS = flags.FLAGS


def _grid(logits, labels, class_counts, betas, temperatures):
    """Per (beta, T): each class's share of training images whose balanced target keeps the label."""
    from bkd_keras.scoring import diagnostics
    from bkd_keras.method.losses import effective_number_weights
    grid = []
    for beta in betas:
        weights = effective_number_weights(class_counts, beta)
        for t in temperatures:
            fit = diagnostics.balanced_target_fit(logits, labels, weights, t)
            grid.append({"beta": beta, "T": t, "target_top1": [round(v, 2) for v in fit["target_top1"]],
                         "target_mass": [round(v, 2) for v in fit["target_mass"]]})
    return grid, [round(v, 2) for v in fit["teacher_top1"]]


def main(argv):
    del argv
    from bkd_keras.run.run_records import load_run
    from bkd_keras.scoring.prediction import predict_with_experts
    betas, temperatures = list(map(float, FLAGS.betas)), list(map(float, FLAGS.temperatures))
    cache, result = {}, {}
    for run_dir in FLAGS.runs:
        config, dataset, model = load_run(run_dir, cache)
        logits, experts = predict_with_experts(model, dataset, "train", verbose=0)
        grid, train_top1 = _grid(logits, dataset.train.labels, dataset.class_counts, betas, temperatures)
        with open(os.path.join(run_dir, "results.json")) as f:
            reports = json.load(f)["reports"]
        result[os.path.basename(run_dir.rstrip("/"))] = entry = {
            "epochs": config.optim.teacher_epochs_resolved, "train_counts": dataset.class_counts.tolist(),
            "teacher_train_top1": train_top1,
            "teacher_test_top1": round(list(reports.values())[0]["top1"], 2), "grid": grid}
        if experts is not None:       # a multi-expert teacher: each expert's own targets too
            entry["experts"] = []
            for e in range(experts.shape[1]):
                grid, train_top1 = _grid(experts[:, e], dataset.train.labels, dataset.class_counts, betas,
                                         temperatures)
                entry["experts"].append({"teacher_train_top1": train_top1, "grid": grid})
    os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=1)
    for name, r in result.items():
        for label, part in [("", r)] + [(f" expert {e}", x) for e, x in enumerate(r.get("experts", []))]:
            print(f"{name}{label}: teacher train top-1 per class {part['teacher_train_top1']}")
            for g in part["grid"]:
                print(f"  beta={g['beta']:<7g} T={g['T']:<4g} label kept % {g['target_top1']}")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
