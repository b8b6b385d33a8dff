"""The authors' code at the paper's schedule (200 + 200 epochs) beside this project's 200-epoch runs.

    python -m benchmarks.comparison.anchor_e200 save        # OUT/resume.pth.tar of each stage -> the store
    python -m benchmarks.comparison.anchor_e200 restore     # the store -> OUT (a fresh machine continues)
    python -m benchmarks.comparison.anchor_e200 report      # writes benchmarks/results/anchor_e200.json
    python -m benchmarks.comparison.anchor_e200 crosscheck  # the finished models in this project's evaluation

The stages run with the anchor's own harness (../shared/anchors/official-bkd-pytorch/run.py,
resumable after every epoch), in the background and across machines:

    run.py --stage teacher --epochs 200 --out ANCHOR_RUNS/teacher-e200
    run.py --stage student --epochs 200 --teacher ANCHOR_RUNS/teacher-e200/ckpt.pth.tar --out ANCHOR_RUNS/student-e200

A stage's numbers come from its result.json when finished, else from the history inside its
resume.pth.tar (read with the anchor's Python, which has torch). The report sets them beside the
project's 200-epoch CE teacher and BKD student (their stored results.json), and the student
beside this project's BKD student from the authors' converted teacher once that run has finished.
"""

import json
import os
import shutil
import subprocess
import sys

from absl import app, flags

from benchmarks.comparison.anchor_crosscheck import CHECKPOINT, CONVERTED, STAGES, crosscheck
from benchmarks.speed_lab.anchor import INSTALL

STATE = "resume.pth.tar"
# This project's BKD student trained from the authors' converted teacher (docs/reproducing.md): it
# separates the student code from the teacher draw in the student comparison.
FROM_AUTHORS_TEACHER = "cifar10-exp100-e200-s0-bkd-from-authors-teacher"
flags.DEFINE_string("anchor_runs", "/work/anchor-runs", "The harness's --out folders: ANCHOR_RUNS/<stage>-e200.")
flags.DEFINE_string("store_dir", "benchmarks/store", "The committed store (resume state under anchor-<stage>-e200/).")
flags.DEFINE_string("python", "/tmp/anchor-venv/bin/python", f"A Python with torch ({INSTALL}).")
flags.DEFINE_string("output", "benchmarks/results/anchor_e200.json", "The report.")
flags.DEFINE_string("models_dir", "benchmarks/models", "crosscheck: the project's shipped 200-epoch models.")
flags.DEFINE_string("crosscheck_output", "benchmarks/results/anchor_crosscheck.json", "crosscheck: its report.")
FLAGS = flags.FLAGS

_READ_HISTORY = """
import json, sys, torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
print(json.dumps({"epochs_done": state["epoch"], "history": state["hist"], "args": state["args"]}))
"""


def _kept(stage, out):
    """What the store keeps of a stage: its resume state while it runs; once finished, its numbers, and
    for the teacher also its weights until the student has finished (a fresh machine needs them), and
    its Keras conversion (`crosscheck`; this project's students train from it)."""
    if not os.path.exists(os.path.join(out, "result.json")):
        return [STATE]
    student_done = os.path.exists(os.path.join(FLAGS.anchor_runs, STAGES["student"][0], "result.json"))
    converted = stage == "teacher" and os.path.exists(os.path.join(out, CONVERTED))
    return ["result.json"] + ([CHECKPOINT] if stage == "teacher" and not student_done else []) \
        + ([CONVERTED] if converted else [])


def _stored(stage):
    return os.path.join(FLAGS.store_dir, f"anchor-{STAGES[stage][0]}")


def _history(out):
    """(history rows, epochs done, total epochs, finished) of a harness run folder, or None."""
    result = os.path.join(out, "result.json")
    if os.path.exists(result):
        with open(result) as f:
            r = json.load(f)
        return r["history"], len(r["history"]), r["args"]["epochs"], True
    state = os.path.join(out, STATE)
    if not os.path.exists(state):
        return None
    done = subprocess.run([FLAGS.python, "-c", _READ_HISTORY, state], capture_output=True, text=True, check=True)
    s = json.loads(done.stdout)
    return s["history"], s["epochs_done"], s["args"]["epochs"], False


def summary(history, epochs_done, total, finished):
    """Last / best epoch (1-based), top-1 and per-class accuracy (%), and the test curve of a harness history."""
    curve = [[h["epoch"] + 1, h["test_top1"]] for h in history if "test_top1" in h]
    last = history[-1]
    best = max(history, key=lambda h: (h["test_top1"], -h["epoch"]))
    return {"status": "finished" if finished else f"epoch {epochs_done} of {total}", "epochs_done": epochs_done,
            "last_epoch": last["epoch"] + 1, "last_top1": last["test_top1"],
            "best_epoch": best["epoch"] + 1, "best_top1": best["test_top1"],
            "per_class_last": [100.0 * a for a in last["cls_acc"]],
            "images_per_sec_median": sorted(h["images_per_s"] for h in history)[len(history) // 2],
            "curve": curve}


def project(run):
    """The project's 200-epoch run of the same stage: last / best top-1, per class, its test curve."""
    path = os.path.join(FLAGS.store_dir, run, "results.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        results = json.load(f)
    stage = results["stages"]["student" if "student" in results["stages"] else "teacher"]
    report = list(results["reports"].values())[-1]
    curve = stage["test_curve"]
    return {"run": run, "last_top1": curve["last_top1"], "best_top1": curve["best_top1"],
            "best_epoch": curve["best_epoch"], "per_class_last": report["per_class"], "curve": curve["curve"]}


def side_by_side(anchor_curve, project_curve):
    """[[epoch, authors' top-1, project's top-1]] at every 10th epoch both evaluated, and the last."""
    a, p = dict((int(e), v) for e, v in anchor_curve), dict((int(e), v) for e, v in project_curve or [])
    epochs = sorted(e for e in set(a) & set(p) if e % 10 == 0 or e == max(a))
    return [[e, a[e], p[e]] for e in epochs]


def main(argv):
    if len(argv) != 2 or argv[1] not in ("save", "restore", "report", "crosscheck"):
        raise app.UsageError("Usage: python -m benchmarks.comparison.anchor_e200 save|restore|report|crosscheck")
    if argv[1] == "crosscheck":
        with open(FLAGS.crosscheck_output, "w") as f:
            json.dump(crosscheck(FLAGS.anchor_runs, FLAGS.models_dir, FLAGS.python), f, indent=1)
        print(f"wrote {FLAGS.crosscheck_output}", file=sys.stderr)
        return
    for stage, (folder, run) in STAGES.items():
        out = os.path.join(FLAGS.anchor_runs, folder)
        if argv[1] == "save" and os.path.exists(os.path.join(out, STATE)):
            os.makedirs(_stored(stage), exist_ok=True)
            for name in _kept(stage, out):
                shutil.copyfile(os.path.join(out, name), os.path.join(_stored(stage), name))
            for name in {STATE, "result.json", CHECKPOINT, CONVERTED} - set(_kept(stage, out)):
                if os.path.exists(os.path.join(_stored(stage), name)):
                    os.remove(os.path.join(_stored(stage), name))
            print(f"{stage}: saved {', '.join(_kept(stage, out))} to {_stored(stage)}")
        elif argv[1] == "restore" and os.path.isdir(_stored(stage)):
            os.makedirs(out, exist_ok=True)
            for name in os.listdir(_stored(stage)):
                shutil.copyfile(os.path.join(_stored(stage), name), os.path.join(out, name))
            print(f"{stage}: restored to {out}")
    if argv[1] != "report":
        return
    report = {"schedule": "the paper's: 200 epochs per stage, batch 128, SGD 0.1, warm-up 5, x0.01 / x0.0001 "
                          "after epochs 160 / 180, BKD from epoch 160 (CIFAR-10); CIFAR-10-LT rho 100 from the "
                          "cifar10-jpeg tree; seed 0; fp32; last epoch and best epoch (test-set selection)"}
    for stage, (folder, run) in STAGES.items():
        found = _history(os.path.join(FLAGS.anchor_runs, folder))
        if found is None and os.path.isdir(_stored(stage)):
            found = _history(_stored(stage))
        if found is None:
            report[stage] = {"status": "not started"}
            continue
        report[stage] = {"authors": summary(*found), "project": project(run)}
        if report[stage]["project"]:
            report[stage]["side_by_side"] = side_by_side(report[stage]["authors"]["curve"],
                                                         report[stage]["project"]["curve"])
        if stage == "student" and (same_teacher := project(FROM_AUTHORS_TEACHER)):
            report[stage]["project_from_authors_teacher"] = dict(
                same_teacher, side_by_side=side_by_side(report[stage]["authors"]["curve"], same_teacher["curve"]))
    with open(FLAGS.output, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({s: (r.get("authors") or r)["status"] for s, r in report.items() if s in STAGES}))
    print(f"wrote {FLAGS.output}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
