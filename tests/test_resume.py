"""A run SIGKILLed mid-epoch (teacher, then student) and restarted equals an uninterrupted run."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import models  # noqa: F401  (registers the backbones' layers for keras.saving.load_model)

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resume_worker.py")


def worker(*args, every=0):
    env = dict(os.environ, BKD_SAVE_EVERY_STEPS=str(every))
    return subprocess.run([sys.executable, WORKER, *args], capture_output=True, text=True, timeout=600, env=env)


def assert_same_run(ref, other):
    """Same reports, bit-identical final weights, and the same epoch log lines (no epoch lost or repeated)."""
    a = json.load(open(os.path.join(ref, "results.json")))
    b = json.load(open(os.path.join(other, "results.json")))
    assert a["reports"] == b["reports"]                 # every metric, per class, confusion matrix
    wa = keras.saving.load_model(os.path.join(ref, "export", "model.keras")).get_weights()
    wb = keras.saving.load_model(os.path.join(other, "export", "model.keras")).get_weights()
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
    for stage in ("teacher", "student"):
        rows = list(csv.DictReader(open(os.path.join(other, stage, "log.csv"))))
        assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3]
        ref_rows = list(csv.DictReader(open(os.path.join(ref, stage, "log.csv"))))
        assert [row["loss"] for row in rows] == [row["loss"] for row in ref_rows]
        assert not os.path.exists(os.path.join(other, stage, "backup"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every test here compares against (trained once: about 20 s)."""
    ref = str(tmp_path_factory.mktemp("reference") / "ref")
    r = worker(ref)
    assert r.returncode == 0, r.stderr[-2000:]
    return ref


def test_kill_and_resume_equals_uninterrupted(tmp_path, reference):
    ref, killed = reference, str(tmp_path / "killed")

    r = worker(killed, "teacher", "3", "5")             # killed in the teacher's 3rd epoch
    assert r.returncode == -9, r.stderr[-2000:]
    assert not os.path.exists(os.path.join(killed, "teacher", "model.keras"))
    meta = json.load(open(os.path.join(killed, "teacher", "backup", "training_metadata.json")))
    assert meta["epoch"] == 2                           # epochs 1-2 finished and backed up
    r = worker(killed, "student", "2", "3")             # resumes the teacher, killed in the student
    assert r.returncode == -9, r.stderr[-2000:]
    assert os.path.exists(os.path.join(killed, "teacher", "stage.json"))
    r = worker(killed)                                  # resumes the student and finishes
    assert r.returncode == 0, r.stderr[-2000:]
    assert_same_run(ref, killed)


def test_mid_epoch_kill_and_sigterm_resume_at_the_next_step(tmp_path, reference):
    # The reference backs up only at epoch ends: mid-epoch backups must not change the numbers.
    ref = reference
    killed = str(tmp_path / "killed")
    r = worker(killed, "student", "3", "9", every=3)     # SIGKILL in step 9: the step-6 backup is the latest
    assert r.returncode == -9, r.stderr[-2000:]
    meta = json.load(open(os.path.join(killed, "student", "backup", "training_metadata.json")))
    assert meta == {"epoch": 2, "step": 6}
    r = worker(killed, every=3)
    assert r.returncode == 0 and "resuming at epoch 3, step 6" in r.stdout + r.stderr, r.stderr[-2000:]
    assert_same_run(ref, killed)

    preempted = str(tmp_path / "preempted")
    r = worker(preempted, "teacher", "2", "5", "SIGTERM", every=3)   # finishes step 5, backs it up, exits
    assert r.returncode == 143, r.stderr[-2000:]
    assert "preempted at epoch 2, step 5; rerun the same command to resume" in r.stderr
    assert "Traceback" not in r.stderr
    meta = json.load(open(os.path.join(preempted, "teacher", "backup", "training_metadata.json")))
    assert meta == {"epoch": 1, "step": 5}
    assert worker(preempted, every=3).returncode == 0
    assert_same_run(ref, preempted)


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path):
    out = str(tmp_path / "run")
    r = worker(out, "student", "3", "2", "SIGINT")
    assert r.returncode == 130, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "Rerun the same command to resume" in r.stderr
    meta = json.load(open(os.path.join(out, "student", "backup", "training_metadata.json")))
    assert meta["epoch"] == 2
    assert os.path.exists(os.path.join(out, "student", "checkpoints", "last.weights.h5"))
    r = worker(out)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.DictReader(open(os.path.join(out, "student", "log.csv"))))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3]


def test_stale_log_lines_are_dropped_on_resume(tmp_path):
    from bkd_keras.run.run_records import trim_log
    path = str(tmp_path / "log.csv")
    open(path, "w").write("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n")
    trim_log(path, 2)
    assert open(path).read() == "epoch,loss\n0,1.0\n1,0.9\n"


def test_state_saved_to_the_store_resumes_on_another_machine(tmp_path, reference):
    """Only what `benchmarks.comparison.long_run save` commits survives: restored elsewhere, the run ends
    as an uninterrupted one."""
    from benchmarks.comparison.run_state import restore_run, save_run
    ref, killed = reference, str(tmp_path / "machine1" / "run")
    assert worker(killed, "student", "3", "2").returncode == -9        # teacher done, student mid-way
    state = save_run(killed, str(tmp_path / "store"))
    assert state == "teacher finished, student at epoch 2"
    fresh = str(tmp_path / "machine2")
    os.makedirs(fresh)
    restore_run(str(tmp_path / "store" / "run" / "resume"), fresh)
    r = worker(os.path.join(fresh, "run"))
    assert r.returncode == 0, r.stderr[-2000:]
    a = json.load(open(os.path.join(ref, "results.json")))
    b = json.load(open(os.path.join(fresh, "run", "results.json")))
    assert a["reports"] == b["reports"]
    wa = keras.saving.load_model(os.path.join(ref, "export", "model.keras")).get_weights()
    wb = keras.saving.load_model(os.path.join(fresh, "run", "export", "model.keras")).get_weights()
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
