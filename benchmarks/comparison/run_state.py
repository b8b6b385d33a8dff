"""Resumable state of benchmark runs, kept in the committed store (flag-free library).

`save_run` copies the few files a run folder needs to resume into STORE/<run>/resume
(a few MB for ResNet-32); `restore_run` puts them back on another machine. The CLI is
`benchmarks/comparison/long_run.py`.
"""

import json
import os
import shutil
import time

from benchmarks.comparison.run_plan import stored_copy

RESUME = "resume"
# Files of a run folder that a resume reads; anything else (TensorBoard, per-epoch
# checkpoints, the SavedModel) is rebuilt or not needed.
_TOP_FILES = ("flags.json", "code.json", "inputs.json")   # inputs.json: a restored run still refuses other data
_STAGE_FILES = ("log.csv", "stage.json", "model.keras")
_BACKUP_FILES = ("latest.weights.h5", "training_metadata.json")
_MAX_BYTES = 20 * 2 ** 20
# A finished run's small files: what the store keeps of it for reports (no weights).
STORED_FILES = ("results.json", "flags.json", "code.json", "runner_args.json", "teacher/log.csv",
                "student/log.csv")


def store(out, store_dir):
    """Copies a finished run's small files (STORED_FILES) to STORE_DIR/<name>; returns that folder."""
    target = stored_copy(out, store_dir)
    for name in STORED_FILES:
        if os.path.exists(os.path.join(out, name)):
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copyfile(os.path.join(out, name), os.path.join(target, name))
    return target


def backup_epoch(stage_dir):
    """Epochs finished according to a stage's backup (None if it has none)."""
    path = os.path.join(stage_dir, "backup", "training_metadata.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return int(json.load(f)["epoch"])


def run_state(run_dir):
    """A short description of where a run folder is."""
    if os.path.exists(os.path.join(run_dir, "results.json")):
        return "finished"
    parts = []
    for stage in ("teacher", "student"):
        stage_dir = os.path.join(run_dir, stage)
        if os.path.exists(os.path.join(stage_dir, "stage.json")):
            parts.append(f"{stage} finished")
        elif backup_epoch(stage_dir) is not None:
            parts.append(f"{stage} at epoch {backup_epoch(stage_dir)}")
    return ", ".join(parts) or "not started"


def _copy_backup(src, dst):
    """Copies a stage's latest backup (weights + metadata) consistently; True if copied.

    Keras writes the weights, then the metadata: a pair is consistent when the metadata is
    not older than the weights and neither changed while we copied.
    """
    weights, meta = (os.path.join(src, name) for name in _BACKUP_FILES)
    for _ in range(60):
        if not (os.path.exists(weights) and os.path.exists(meta)):
            return False
        before = (os.stat(weights).st_mtime_ns, os.stat(meta).st_mtime_ns)
        if before[1] >= before[0]:
            tmp = dst + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            for name in _BACKUP_FILES:
                shutil.copyfile(os.path.join(src, name), os.path.join(tmp, name))
            if (os.stat(weights).st_mtime_ns, os.stat(meta).st_mtime_ns) == before:
                shutil.rmtree(dst, ignore_errors=True)
                os.replace(tmp, dst)
                return True
        time.sleep(1)   # a save is in progress
    raise RuntimeError(f"{src} kept changing for a minute; try again.")


def save_run(run_dir, store_dir):
    """Copies `run_dir`'s resumable state to STORE/<run>/resume; returns what was saved.

    An unfinished run: its settings, logs, finished stages' models and the running stage's
    backup. A finished run (kept as a pending run's teacher): its results and exported model.
    """
    target = os.path.join(stored_copy(run_dir, store_dir), RESUME)
    if os.path.isdir(target) and _progress(target) > _progress(run_dir):
        # A stale copy of the run (e.g. restored into a second worktree) must not undo a save.
        return f"kept the stored state, which is further along: {run_state(target)}; here: {run_state(run_dir)}"
    staging = target + ".new"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    if os.path.exists(os.path.join(run_dir, "results.json")):
        files = _TOP_FILES + ("results.json", os.path.join("export", "model.keras"))
    else:
        files = _TOP_FILES + tuple(os.path.join(s, f) for s in ("teacher", "student") for f in _STAGE_FILES)
    for rel in files:
        src = os.path.join(run_dir, rel)
        if os.path.exists(src):
            if os.path.getsize(src) > _MAX_BYTES:
                raise RuntimeError(f"{src} is {os.path.getsize(src) / 2 ** 20:.0f} MB, too large to commit.")
            os.makedirs(os.path.dirname(os.path.join(staging, rel)), exist_ok=True)
            shutil.copyfile(src, os.path.join(staging, rel))
    for stage in ("teacher", "student"):
        if not os.path.exists(os.path.join(run_dir, "results.json")) and \
                not os.path.exists(os.path.join(run_dir, stage, "stage.json")):
            _copy_backup(os.path.join(run_dir, stage, "backup"), os.path.join(staging, stage, "backup"))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return run_state(target)


def teachers_needed(runs_dir):
    """Run folders whose exported model an unfinished run in `runs_dir` uses as --teacher."""
    needed = set()
    for name in os.listdir(runs_dir):
        flags_path = os.path.join(runs_dir, name, "flags.json")
        if os.path.isfile(flags_path) and not os.path.exists(os.path.join(runs_dir, name, "results.json")):
            with open(flags_path) as f:
                teacher = json.load(f).get("teacher")
            if teacher:
                needed.add(os.path.basename(os.path.dirname(os.path.dirname(os.path.normpath(teacher)))))
    return needed


def restore_run(stored, runs_dir):
    """Copies STORE/<run>/resume back to RUNS/<run> unless the local run is as far or further."""
    name = os.path.basename(os.path.normpath(os.path.dirname(stored)))
    local = os.path.join(runs_dir, name)
    if os.path.exists(local) and _progress(local) >= _progress(stored):
        return f"kept the local {local} ({run_state(local)}; stored: {run_state(stored)})"
    shutil.rmtree(local, ignore_errors=True)
    shutil.copytree(stored, local)
    return f"restored {local} ({run_state(local)})"


def _progress(run_dir):
    """Comparable progress of a run folder: (finished, stages finished, backup epoch)."""
    finished = os.path.exists(os.path.join(run_dir, "results.json"))
    stages = [s for s in ("teacher", "student") if os.path.exists(os.path.join(run_dir, s, "stage.json"))]
    epochs = max([backup_epoch(os.path.join(run_dir, s)) or 0 for s in ("teacher", "student")])
    return (finished, len(stages), epochs)
