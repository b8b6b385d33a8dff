"""What a long run needs: independent stage seeds, end-of-schedule evaluation, a pinned
commit, and resumable state carried through the store (benchmarks/comparison/run_state.py)."""

import json
import os

import keras
import numpy as np
import pytest

from bkd_keras.scoring import evaluation
from bkd_keras.run.seeding import stage_seed
from conftest import small_config


def test_stage_seeds_are_independent_and_stable():
    assert stage_seed(0, "teacher") == 0 and stage_seed(7, "teacher") == 7   # teachers unchanged
    students = [stage_seed(s, "student") for s in range(50)]
    assert len(set(students)) == 50 and all(0 <= s < 2 ** 31 for s in students)
    assert all(stage_seed(s, "student") != s for s in range(50))
    assert stage_seed(3, "student") == stage_seed(3, "student")
    with pytest.raises(ValueError, match="Unknown stage"):
        stage_seed(0, "students")


class _InitialWeights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_begin(self, logs=None):
        self.seen.append([w.copy() for w in self.model.student.get_weights()])


def test_student_starts_from_its_own_draw_not_the_teachers(tmp_path):
    from bkd_keras.run.runner import run
    first, again = _InitialWeights(), _InitialWeights()
    results = run(small_config(tmp_path / "a"), log=lambda *_: None, extra_callbacks=[first])
    run(small_config(tmp_path / "b"), log=lambda *_: None, extra_callbacks=[again])
    (teacher, student), (teacher2, student2) = first.seen, again.seen
    assert results["stages"]["teacher"]["seed"] == 0
    assert results["stages"]["student"]["seed"] == stage_seed(0, "student")
    # Same architecture, different draws: no kernel of the student equals the teacher's.
    kernels = [i for i, w in enumerate(teacher) if w.ndim > 1]
    assert kernels and all(not np.array_equal(teacher[i], student[i]) for i in kernels)
    for x, y in zip(student, student2):      # and the student's draw is reproducible
        np.testing.assert_array_equal(x, y)
    for x, y in zip(teacher, teacher2):
        np.testing.assert_array_equal(x, y)


def test_the_student_sees_another_order_of_the_data():
    from data import load_dataset, train_dataset
    ds = load_dataset("digits", imbalance_type="exp", imbalance_ratio=20.0)
    first = [next(iter(train_dataset(ds, 32, seed=stage_seed(0, s), augment_images=False)))[1].numpy()
             for s in ("teacher", "student")]
    assert not np.array_equal(*first)


def test_eval_epochs_cover_the_last_fifth():
    assert evaluation.eval_epochs(200, 10, 0.2) == list(range(10, 161, 10)) + list(range(161, 201))
    assert evaluation.eval_epochs(20, 10, 0.2) == [10, 17, 18, 19, 20]
    assert evaluation.eval_epochs(5, 2, 0.2) == [2, 4, 5]
    assert evaluation.eval_epochs(7, 10, 0.0) == [7]          # the last epoch is always evaluated
    assert evaluation.eval_epochs(200, 0, 0.2) == []


def test_test_curve_reports_last_and_first_best_epoch():
    rows = [{"epoch": "0", "val_accuracy": "NA"}, {"epoch": "1", "val_accuracy": "0.5"},
            {"epoch": "2", "val_accuracy": "0.75"}, {"epoch": "3", "val_accuracy": "0.25"},
            {"epoch": "4", "val_accuracy": "0.75"}, {"epoch": "5", "val_accuracy": "0.625"}]
    curve = evaluation.test_curve(rows)
    assert curve["curve"] == [[2, 50.0], [3, 75.0], [4, 25.0], [5, 75.0], [6, 62.5]]
    assert (curve["last_epoch"], curve["last_top1"]) == (6, 62.5)
    assert (curve["best_epoch"], curve["best_top1"]) == (3, 75.0)
    assert evaluation.test_curve([{"epoch": "0", "loss": "1"}]) is None


def test_a_run_is_pinned_to_its_commit(tmp_path, monkeypatch):
    from benchmarks.comparison import pinning
    monkeypatch.setattr(pinning, "code_version", lambda: {"commit": "a" * 40, "dirty": False})
    out = str(tmp_path / "run")
    assert pinning.check_code(out)["commit"] == "a" * 40
    assert pinning.check_code(out)["commit"] == "a" * 40            # same code: resumes
    monkeypatch.setattr(pinning, "code_version", lambda: {"commit": "b" * 40, "dirty": False})
    with pytest.raises(pinning.CodeChanged, match=f"started with the code at commit {'a' * 40}.*worktree"):
        pinning.check_code(out)
    assert pinning.check_code(out, allow_change=True)["commit"] == "a" * 40   # keeps the start's record


def test_code_version_reads_this_checkout():
    from benchmarks.comparison.pinning import code_version
    version = code_version()
    if version["commit"] is None:
        pytest.skip("not a git checkout")
    assert len(version["commit"]) == 40 and isinstance(version["dirty"], bool)


def _write(path, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _fake_run(root, name, teacher_epochs=None, finished=False, teacher=None):
    run = os.path.join(root, name)
    _write(os.path.join(run, "flags.json"), json.dumps({"teacher": teacher}).encode())
    _write(os.path.join(run, "code.json"), b'{"commit": "c", "dirty": false}')
    _write(os.path.join(run, "teacher", "log.csv"), b"epoch,loss\n0,1\n")
    _write(os.path.join(run, "teacher", "tensorboard", "events"), b"big")
    _write(os.path.join(run, "teacher", "checkpoints", "last.weights.h5"), b"w")
    if teacher_epochs is not None:
        _write(os.path.join(run, "teacher", "backup", "latest.weights.h5"), b"weights")
        _write(os.path.join(run, "teacher", "backup", "latest.weights.h5.bkp"), b"old")
        _write(os.path.join(run, "teacher", "backup", "training_metadata.json"),
               json.dumps({"epoch": teacher_epochs}).encode())
    if finished:
        _write(os.path.join(run, "results.json"), b"{}")
        _write(os.path.join(run, "export", "model.keras"), b"model")
        _write(os.path.join(run, "export", "saved_model", "saved_model.pb"), b"pb")
    return run


def _files(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


def test_long_run_state_goes_through_the_store_and_back(tmp_path):
    from benchmarks.comparison import run_state
    runs, store = str(tmp_path / "runs"), str(tmp_path / "store")
    run = _fake_run(runs, "x-ce", teacher_epochs=37)
    assert run_state.save_run(run, store) == "teacher at epoch 37"
    saved = os.path.join(store, "x-ce", "resume")
    assert _files(saved) == ["code.json", "flags.json", "teacher/backup/latest.weights.h5",
                             "teacher/backup/training_metadata.json", "teacher/log.csv"]

    fresh = str(tmp_path / "fresh_runs")          # the next machine: only the store
    os.makedirs(fresh)
    assert run_state.restore_run(saved, fresh).startswith("restored")
    assert run_state.backup_epoch(os.path.join(fresh, "x-ce", "teacher")) == 37
    # A local run that is further along is never replaced by an older stored state.
    _write(os.path.join(fresh, "x-ce", "teacher", "backup", "training_metadata.json"), b'{"epoch": 40}')
    assert run_state.restore_run(saved, fresh).startswith("kept the local")
    assert run_state.backup_epoch(os.path.join(fresh, "x-ce", "teacher")) == 40
    # ... and saving a stale copy (here the first machine's, at 37) never undoes a newer save.
    assert run_state.save_run(os.path.join(fresh, "x-ce"), store) == "teacher at epoch 40"
    assert run_state.save_run(run, store).startswith("kept the stored state, which is further along")
    assert run_state.backup_epoch(os.path.join(saved, "teacher")) == 40


def test_a_finished_teacher_is_kept_only_while_a_student_needs_it(tmp_path):
    from benchmarks.comparison import run_state
    runs, store = str(tmp_path / "runs"), str(tmp_path / "store")
    ce = _fake_run(runs, "x-ce", finished=True)
    _fake_run(runs, "x-bkd", teacher=os.path.join(runs, "x-ce", "export", "model.keras"))
    assert run_state.teachers_needed(runs) == {"x-ce"}
    run_state.save_run(ce, store)
    assert _files(os.path.join(store, "x-ce", "resume")) == ["code.json", "export/model.keras", "flags.json",
                                                             "results.json"]
    _write(os.path.join(runs, "x-bkd", "results.json"), b"{}")
    assert run_state.teachers_needed(runs) == set()


def test_save_drops_a_finished_run_nobody_uses_unless_told_to_keep_it(tmp_path):
    """A teacher whose students have not started yet is kept with --keep."""
    import subprocess
    import sys
    runs, store = str(tmp_path / "runs"), str(tmp_path / "store")
    _fake_run(runs, "x-ce", finished=True)

    def save(*extra):
        return subprocess.run([sys.executable, "-m", "benchmarks.comparison.long_run", "save", f"--runs_dir={runs}",
                               f"--store_dir={store}", *extra], capture_output=True, text=True, timeout=120)
    assert "saved (finished)" in save("--keep=x-ce").stdout
    assert "export/model.keras" in _files(os.path.join(store, "x-ce", "resume"))
    out = save().stdout
    assert "removed its resume state" in out
    assert not os.path.exists(os.path.join(store, "x-ce", "resume"))
    # A run started without the runner (bkd_keras.train directly) has its results stored like the
    # runner's, once; weights and TensorBoard files stay out.
    assert "stored its results" in out
    assert _files(os.path.join(store, "x-ce")) == ["code.json", "flags.json", "results.json", "teacher/log.csv"]
    _write(os.path.join(store, "x-ce", "results.json"), b'{"kept": 1}')
    assert "stored its results" not in save().stdout
    with open(os.path.join(store, "x-ce", "results.json")) as f:
        assert json.load(f) == {"kept": 1}


def test_a_backup_caught_mid_write_is_not_copied(tmp_path, monkeypatch):
    from benchmarks.comparison import run_state
    src = str(tmp_path / "backup")
    _write(os.path.join(src, "training_metadata.json"), b'{"epoch": 3}')
    _write(os.path.join(src, "latest.weights.h5"), b"new")         # written after the metadata
    os.utime(os.path.join(src, "training_metadata.json"), ns=(1, 1))
    slept = []
    monkeypatch.setattr(run_state.time, "sleep", slept.append)
    with pytest.raises(RuntimeError, match="kept changing"):
        run_state._copy_backup(src, str(tmp_path / "dst"))
    assert len(slept) == 60 and not os.path.exists(tmp_path / "dst")
    os.utime(os.path.join(src, "training_metadata.json"))           # the metadata lands
    assert run_state._copy_backup(src, str(tmp_path / "dst"))
    assert open(tmp_path / "dst" / "latest.weights.h5", "rb").read() == b"new"
