"""Carry an unfinished benchmark run from one machine to the next through git.

    python -m benchmarks.comparison.long_run save      # copy the runs' resumable state into the store
    python -m benchmarks.comparison.long_run restore   # copy it back into the runs folder
    python -m benchmarks.comparison.long_run status    # where each run is, here and in the store

A run of the benchmark runner resumes from its last backup (weights, optimizer and
position, in RUN/<stage>/backup). `save` copies, for every run folder
in RUNS_DIR, the few files a resume needs into STORE_DIR/<run>/resume/ (a few MB for
ResNet-32), which is committed; `restore` on a fresh clone puts them back, and rerunning
the same runner command continues the same run: the data order is a function of
(seed, epoch) and mixup of (seed, step). Safe while the run trains: a backup caught
mid-write is not copied (its previous one is). Finished stages keep their model.keras
only while a later stage needs them; a finished run only while an unfinished one uses it as
its --teacher, after which `save` removes its resume state (and stores the run's results, as
the runner does, if the store has none: a run started by `bkd_keras.train` directly).
"""

import os
import shutil
import sys

from absl import app, flags

from benchmarks.comparison.run_plan import stored_copy
from benchmarks.comparison.run_state import RESUME, restore_run, run_state, save_run, store, teachers_needed

flags.DEFINE_string("runs_dir", "benchmarks/runs", "The runner's run folders.")
flags.DEFINE_string("store_dir", "benchmarks/store", "The committed store.")
flags.DEFINE_list("runs", [], "Run names to act on (default: every run folder / stored resume state).")
flags.DEFINE_list("keep", [], "save: finished runs to keep with their model although no started run uses "
                  "them as --teacher yet (a teacher whose students have not started).")
FLAGS = flags.FLAGS


def _stored_state(name):
    """STORE/<run>/resume: where `save` keeps a run's resumable state."""
    return os.path.join(stored_copy(name, FLAGS.store_dir), RESUME)


def _stored_names():
    """The runs with resumable state in the store (restore's and status's default)."""
    return _names(FLAGS.store_dir, lambda n: os.path.isdir(_stored_state(n)))


def _names(folder, predicate):
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if (not FLAGS.runs or n in FLAGS.runs) and predicate(n))


def main(argv):
    if len(argv) != 2 or argv[1] not in ("save", "restore", "status"):
        raise app.UsageError("Usage: python -m benchmarks.comparison.long_run save|restore|status [--runs=NAME,...]")
    command = argv[1]
    if command == "save":
        needed = (teachers_needed(FLAGS.runs_dir) if os.path.isdir(FLAGS.runs_dir) else set()) | set(FLAGS.keep)
        names = _names(FLAGS.runs_dir, lambda n: os.path.isfile(os.path.join(FLAGS.runs_dir, n, "flags.json")))
        for name in names:
            run_dir = os.path.join(FLAGS.runs_dir, name)
            if os.path.exists(os.path.join(run_dir, "results.json")) and name not in needed:
                # Finished and no longer anyone's teacher: the store keeps its results (the runner stores
                # its own runs; a run started by bkd_keras.train directly is stored here).
                if not os.path.exists(os.path.join(stored_copy(run_dir, FLAGS.store_dir), "results.json")):
                    store(run_dir, FLAGS.store_dir)
                    print(f"{name}: finished; stored its results")
                stored = _stored_state(name)
                if os.path.isdir(stored):
                    shutil.rmtree(stored)
                    print(f"{name}: finished; removed its resume state from the store")
                continue
            state = save_run(run_dir, FLAGS.store_dir)
            print(f"{name}: {state if state.startswith('kept') else f'saved ({state})'}")
    elif command == "restore":
        names = _stored_names()
        os.makedirs(FLAGS.runs_dir, exist_ok=True)
        for name in names:
            print(f"{name}: {restore_run(_stored_state(name), FLAGS.runs_dir)}")
    else:
        for name in _names(FLAGS.runs_dir, lambda n: os.path.isdir(os.path.join(FLAGS.runs_dir, n))):
            print(f"{name}: here: {run_state(os.path.join(FLAGS.runs_dir, name))}")
        for name in _stored_names():
            print(f"{name}: stored: {run_state(_stored_state(name))}")
    if command != "status" and not names:
        print("nothing to do", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
