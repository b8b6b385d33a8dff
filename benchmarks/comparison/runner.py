"""Benchmark runner: methods x seeds x long-tailed settings at one schedule, then the report.

    python -m benchmarks.comparison.runner --data_dir=/tmp/data/cifar10-jpeg --settings=cifar10:exp:100 \
        --methods=ce,kd,cb,bkd --seeds=0,1 --epochs=40

Each (setting, seed) trains one CE model that is both the "ce" result and the teacher of
every distillation method. Every run is a `python -m bkd_keras.train` process writing
to RUNS_DIR/<name> (log in RUNS_DIR/<name>.log); finished runs are skipped and an
interrupted one resumes, so rerunning the command continues where it stopped.
A finished run's small files (results.json, flags.json, its argv in runner_args.json, the
stages' log.csv; no weights) are copied to STORE_DIR/<name>, which is committed: later sessions
reuse them, and retrain a stored teacher only when a distillation run needs its weights. A
finished run is reused only for the settings it was trained with (`check_same_settings`).
Writes RESULTS_DIR/results.json, RESULTS_DIR/RESULTS.md and the plots under RESULTS_DIR/plots.
Method names are `--method` values, plus "bkd_nodefer" (BKD weights from epoch 0). A student's
teacher is the seed's run of its method's own teacher (ce; balanced_softmax for dive), or of the
method named after "@": `--methods=la,kd@la,bkd@la` trains the LA run first and distils from it
(row "kd@la", folder ...-kd-la_teacher). A teacher of another kind is another run, never the CE one.

--backbone / --teacher_backbone compress a teacher of one backbone into a student of another:
the CE run is then the teacher's backbone (row "ce (resnet56)") and the students' rows read
"bkd (resnet56 -> resnet20)"; a plain CE row of the student's backbone is `--backbone=resnet20
--methods=ce`.
"""

import json
import os
import shutil
import subprocess
import sys
import time

from absl import app, flags

from benchmarks.comparison.pinning import CodeChanged, check_code
from benchmarks.comparison.run_plan import check_same_settings, data_flags, names, parse_setting, plan, stored_copy
from benchmarks.comparison.run_state import store
from benchmarks.comparison.variants import VARIANTS, resolve_variant, teacher_variant
from bkd_keras.run.io_utils import atomic_write_json

flags.DEFINE_list("settings", ["cifar10:exp:100"], "dataset:imbalance_type:ratio, dataset in cifar10, "
                  "cifar100, digits, bbc_news, ag_news.")
flags.DEFINE_list("methods", ["ce", "kd", "cb", "bkd"], "Methods (see module doc).")
flags.DEFINE_list("seeds", ["0"], "Training seeds.")
flags.DEFINE_integer("epochs", 40, "Epochs of every run (the recipe's shape is kept).")
flags.DEFINE_enum("source", "folder", ["folder", "tfds"], "CIFAR from a class-per-folder tree or TFDS.")
flags.DEFINE_string("data_dir", "/tmp/data/cifar10-jpeg", "The tree for --source=folder.")
flags.DEFINE_string("runs_dir", "benchmarks/runs", "Run folders (git-ignored).")
flags.DEFINE_string("results_dir", "benchmarks/results", "Where results.json, RESULTS.md and plots/ go.")
flags.DEFINE_string("store_dir", "benchmarks/store", "Finished runs' small result files (committed).")
flags.DEFINE_list("extra_flags", [], "More flags for every run, e.g. --precision=bfloat16.")
flags.DEFINE_string("backbone", None, "The students' backbone (default: the dataset preset's).")
flags.DEFINE_integer("experts", None, "--experts of a multi-expert --backbone (ride_resnet32); part of the "
                     "run names and row labels, e.g. ride (ride_resnet32x2).")
flags.DEFINE_string("teacher_backbone", None, "The teacher's backbone (default: --backbone); needs --backbone.")
flags.DEFINE_bool("report_only", False, "Only rebuild the report from finished runs.")
flags.DEFINE_bool("allow_code_change", False, "Resume a run begun at another commit of the code. Only when "
                  "a test shows the change leaves its numbers unchanged; otherwise resume from a "
                  "`git worktree` at the run's commit (RUN/code.json).")
FLAGS = flags.FLAGS


def ensure(out, args, store_dir, need_model=False, log=print, allow_code_change=False):
    """Runs the CLI unless the run is finished (here, or in the store when its weights are
    not needed); returns (results dict, folder holding its results and logs)."""
    name = os.path.basename(out)
    stored = stored_copy(out, store_dir)
    finished = os.path.exists(os.path.join(out, "results.json"))
    has_model = os.path.exists(os.path.join(out, "export", "model.keras"))
    if finished and (has_model or not need_model):
        check_same_settings(out, args)
        log(f"skipping finished {name}")
        folder = store(out, store_dir)
    elif os.path.exists(os.path.join(stored, "results.json")) and not need_model:
        check_same_settings(stored, args)
        log(f"skipping finished {name} (stored)")
        folder = stored
    else:
        if finished:   # only its weights are missing: train it again in a fresh folder
            shutil.rmtree(out)
        try:
            check_code(out, allow_code_change)
        except CodeChanged as err:
            raise app.UsageError(str(err)) from None
        os.makedirs(out, exist_ok=True)
        atomic_write_json(os.path.join(out, "runner_args.json"), list(args))
        log(f"running {name} (log: {out}.log)")
        start = time.time()
        with open(f"{out}.log", "a") as f:
            code = subprocess.run([sys.executable, "-m", "bkd_keras.train", *args], stdout=f,
                                  stderr=subprocess.STDOUT).returncode
        if code:
            raise RuntimeError(f"{name} failed (exit {code}); see {out}.log")
        log(f"finished {name} in {(time.time() - start) / 60:.1f} min")
        folder = store(out, store_dir)
    with open(os.path.join(folder, "results.json")) as f:
        return json.load(f), folder


def record(setting, variant, method, seed, epochs, source_name, out, args, results):
    """One results.json row; `variant` is the report label (see `names`)."""
    dataset, kind, ratio = setting
    name, report = list(results["reports"].items())[-1]
    stage = results["stages"].get("student" if name.startswith("student") else "teacher", {})
    curve = stage.get("test_curve") or {}
    code = {}
    if os.path.exists(os.path.join(out, "code.json")):
        with open(os.path.join(out, "code.json")) as f:
            code = json.load(f)
    return {"dataset": dataset, "imbalance_type": kind, "imbalance_ratio": ratio, "method": method,
            "variant": variant, "seed": int(seed), "epochs": epochs, "top1": report["top1"],
            "many": report["many"], "medium": report["medium"], "few": report["few"],
            "per_class": report["per_class"], "confusion_matrix": report["confusion_matrix"],
            "train_counts": results["dataset"]["train_counts"],
            "images_per_sec": stage.get("images_per_sec"), "data_source": source_name,
            "temperature": results["config"].get("temperature"), "beta": results["config"].get("beta"),
            "precision": results["config"].get("precision"), "commit": code.get("commit"),
            "best_top1": curve.get("best_top1"), "best_epoch": curve.get("best_epoch"),
            "backbone": results["config"].get("backbone"), "parameters": stage.get("parameters"),
            "experts": report.get("experts"),
            "run_dir": out, "command": "python -m bkd_keras.train " + " ".join(args)}


def main(argv):
    del argv
    from benchmarks.comparison import report
    os.makedirs(FLAGS.runs_dir, exist_ok=True)
    runs = []
    from bkd_keras.method.methods import METHODS
    unknown = [v for v in FLAGS.methods if resolve_variant(v)[0] not in METHODS]
    if unknown:
        raise app.UsageError(f"Unknown --methods {unknown}; valid: {', '.join(sorted(METHODS))}, "
                             f"{', '.join(VARIANTS)}, METHOD_T<value> / METHOD_beta<value>, or METHOD@TEACHER "
                             "(kd@la: KD from the seed's la run).")
    teachers = {v: teacher_variant(v) for v in FLAGS.methods if teacher_variant(v)}
    bad = sorted({t for t in teachers.values() if resolve_variant(t)[0] not in METHODS or teacher_variant(t)})
    if bad:
        raise app.UsageError(f"Teacher(s) {bad} after '@' must be single-model methods (ce, la, "
                             "balanced_softmax, ...), whose runs train without a teacher.")
    variants = list(dict.fromkeys(list(teachers.values()) + FLAGS.methods))     # the teachers first
    distilling = list(teachers)
    if FLAGS.teacher_backbone and not FLAGS.backbone:
        raise app.UsageError("--teacher_backbone needs --backbone (the students' backbone).")

    def plan_run(setting, variant, seed):
        return plan(setting, variant, seed, FLAGS.epochs, FLAGS.source, FLAGS.data_dir, FLAGS.runs_dir,
                    FLAGS.extra_flags, FLAGS.backbone, FLAGS.teacher_backbone, FLAGS.experts)

    def stored(out):
        return os.path.exists(os.path.join(stored_copy(out, FLAGS.store_dir), "results.json"))
    for text in FLAGS.settings:
        setting = parse_setting(text)
        _, source_name = data_flags(setting[0], FLAGS.source, FLAGS.data_dir)
        for seed in FLAGS.seeds:
            for variant in variants:
                out, args, method = plan_run(setting, variant, seed)
                if FLAGS.report_only:
                    folder = next((d for d in (out, stored_copy(out, FLAGS.store_dir))
                                   if os.path.exists(os.path.join(d, "results.json"))), None)
                    if folder is None or variant not in FLAGS.methods:
                        continue
                    check_same_settings(folder, args)
                    with open(os.path.join(folder, "results.json")) as f:
                        results = json.load(f)
                else:
                    # A teacher's weights are needed only if a run it teaches is still to train.
                    pending = any(not stored(plan_run(setting, v, seed)[0])
                                  for v in distilling if teachers[v] == variant)
                    results, folder = ensure(out, args, FLAGS.store_dir, need_model=pending,
                                             allow_code_change=FLAGS.allow_code_change)
                    if variant not in FLAGS.methods:
                        continue           # teacher only, not reported
                label = names(variant, FLAGS.backbone, FLAGS.teacher_backbone, FLAGS.experts)[1]
                runs.append(record(setting, label, method, seed, FLAGS.epochs, source_name, folder, args,
                                   results))
    # Other settings and schedules reported earlier stay in the report.
    runs = report.merge(runs, FLAGS.results_dir)
    report.write_all(runs, FLAGS.results_dir, FLAGS.store_dir)
    print(f"wrote {os.path.join(FLAGS.results_dir, 'RESULTS.md')} ({len(runs)} runs)")


if __name__ == "__main__":
    app.run(main)
