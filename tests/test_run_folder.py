"""The run folder: --overwrite never deletes first, one process at a time, nothing recorded before training."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bkd_keras.run import runner
from bkd_keras.run.backup import Preempted
from bkd_keras.run.config import ConfigError
from bkd_keras.run.run_folder import RunFolder
from bkd_keras.run.runner import run
from conftest import small_config, write_image_tree
from data import DataError, load_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def quiet(*_):
    pass


def snapshot(folder):
    """{relative path: SHA-256} of every file under `folder`."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def folder_config(tmp_path, data, **kw):
    values = dict(dataset="folder", data_dir=str(data), imbalance_type="none", batch_size=4, method="ce",
                  stage="teacher", output_dir=str(tmp_path / "run"))
    values.update(kw)
    return small_config(tmp_path, **values)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A tiny image tree and a finished 1-epoch teacher run on it: (tmp, data, run folder)."""
    tmp = tmp_path_factory.mktemp("finished")
    data = write_image_tree(str(tmp / "data"), ["a", "b", "c"], [4, 4, 4])
    run(folder_config(tmp, data), log=quiet)
    return tmp, data, tmp / "run"


@pytest.mark.parametrize("fault, match", [
    (dict(data_dir="/no/such/dir"), "does not exist"),
    (dict(batch_size=100000), "larger than the 12 training examples"),
    (dict(teacher="JUNK", stage="all", method="kd"), "cannot be loaded as a Keras model"),
])
def test_overwrite_with_a_fault_keeps_the_finished_run(finished, fault, match):
    tmp, data, out = finished
    before = snapshot(out)
    if fault.get("teacher") == "JUNK":
        junk = tmp / "junk.keras"
        junk.write_bytes(b"PK\x03\x04 truncated")
        fault = dict(fault, teacher=str(junk))
    with pytest.raises((ConfigError, DataError), match=match):
        run(folder_config(tmp, data, overwrite=True, **fault), log=quiet)
    assert snapshot(out) == before and not (out / ".replaced").exists()


def test_overwrite_refuses_the_data_folder_and_folders_that_are_not_runs(tmp_path):
    data = write_image_tree(str(tmp_path / "data"), ["a", "b"], [3, 3])
    before = snapshot(data)
    with pytest.raises(ConfigError, match="is or contains the data folder"):
        run(folder_config(tmp_path, data, output_dir=data, overwrite=True), log=quiet)
    with pytest.raises(ConfigError, match="is or contains the data folder"):
        run(folder_config(tmp_path, data, output_dir=str(tmp_path), overwrite=True), log=quiet)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match=r"not a run folder \(it holds thesis.tex\)"):
        run(folder_config(tmp_path, data, output_dir=str(mine), overwrite=True), log=quiet)
    assert snapshot(data) == before and (mine / "thesis.tex").read_text() == "years of work"


def test_overwrite_replaces_a_finished_run_only_once_the_new_one_trains(tmp_path):
    data = write_image_tree(str(tmp_path / "data"), ["a", "b"], [4, 4])
    config = folder_config(tmp_path, data)
    run(config, log=quiet)
    out = tmp_path / "run"
    (out / "old-marker.txt").write_text("old run")
    seen = {}

    class Look(__import__("keras").callbacks.Callback):
        def on_train_begin(self, logs=None):      # training has started: the old run is gone
            seen["entries"] = sorted(os.listdir(out))

    run(folder_config(tmp_path, data, overwrite=True, seed=1), log=quiet, extra_callbacks=[Look()])
    assert "old-marker.txt" not in seen["entries"] and ".replaced" not in seen["entries"]
    assert json.load(open(out / "flags.json"))["seed"] == 1 and (out / "results.json").exists()


def test_an_interrupted_overwrite_puts_the_old_run_back(tmp_path):
    """A kill between setting the old run aside and training: the next open moves it back."""
    data = write_image_tree(str(tmp_path / "data"), ["a", "b"], [4, 4])
    run(folder_config(tmp_path, data), log=quiet)
    out = tmp_path / "run"
    before = snapshot(out)
    folder = RunFolder(folder_config(tmp_path, data, overwrite=True))
    with folder.opened(load_dataset(folder.config.data)):
        assert os.listdir(out / ".replaced") and not (out / "results.json").exists()
        folder._started = True              # as if killed here: no cleanup runs
    folder._started = False
    with pytest.raises(ConfigError, match="holds a finished run"):
        run(folder_config(tmp_path, data), log=quiet)
    assert snapshot(out) == before


def test_a_run_that_failed_before_training_does_not_lock_its_settings(tmp_path):
    data = write_image_tree(str(tmp_path / "data"), ["a", "b"], [4, 4])
    with pytest.raises(ConfigError, match="larger than"):
        run(folder_config(tmp_path, data, batch_size=100000), log=quiet)
    assert not (tmp_path / "run").exists()
    junk = tmp_path / "teacher.keras"
    junk.write_bytes(b"not a zip")
    kd = dict(stage="all", method="kd", teacher=str(junk), output_dir=str(tmp_path / "kd"))
    with pytest.raises(ConfigError, match="cannot be loaded"):
        run(folder_config(tmp_path, data, **kd), log=quiet)
    teacher = folder_config(tmp_path, data, output_dir=str(tmp_path / "t"))
    run(teacher, log=quiet)
    os.replace(tmp_path / "t" / "export" / "model.keras", junk)        # the fixed teacher, same path
    results = run(folder_config(tmp_path, data, **kd), log=quiet)
    assert "student (kd)" in results["reports"]


def test_a_second_run_on_a_folder_in_use_is_refused_with_the_holders_pid(tmp_path):
    data = write_image_tree(str(tmp_path / "data"), ["a", "b"], [4, 4])
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from bkd_keras.run.run_folder import RunFolder\n"
        "from bkd_keras.run.config import TrainConfig\n"
        f"f = RunFolder(TrainConfig.flat(output_dir={str(tmp_path / 'run')!r}))\n"
        "f._acquire()\nprint('locked', flush=True)\ntime.sleep(60)\n")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=rf"in use by another run \(pid {holder.pid}\)"):
            run(folder_config(tmp_path, data), log=quiet)
    finally:
        holder.kill()
        holder.wait()
    # The holder died without cleaning up: its lock died with it, the run goes ahead.
    results = run(folder_config(tmp_path, data, epochs=2), log=quiet)
    log = open(tmp_path / "run" / "teacher" / "log.csv").read().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["0", "1"] and results["stages"]["teacher"]["epochs"] == 2


@pytest.mark.parametrize("make, match", [
    (lambda p: p.write_text("a file"), "is a file; pass a folder"),
    (lambda p: None, "Cannot write in --output_dir"),
])
def test_an_output_path_that_cannot_hold_a_run_is_one_line(tmp_path, make, match):
    data = write_image_tree(str(tmp_path / "data"), ["a", "b"], [4, 4])
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    out = tmp_path / "out"
    make(out)
    target = out if out.exists() else blocker / "run"         # a folder under a file cannot be made
    with pytest.raises(ConfigError, match=match):
        run(folder_config(tmp_path, data, output_dir=str(target)), log=quiet)


def test_invalid_flags_json_is_one_line(tmp_path):
    data = write_image_tree(str(tmp_path / "data"), ["a", "b"], [4, 4])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "flags.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"flags.json is not valid JSON"):
        run(folder_config(tmp_path, data), log=quiet)


def test_sigterm_during_the_export_says_what_is_saved(tmp_path, monkeypatch):
    data = write_image_tree(str(tmp_path / "data"), ["a", "b"], [4, 4])

    def killed(*_, **__):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)                    # the handler interrupts this

    monkeypatch.setattr(runner, "export_classifier", killed)
    with pytest.raises(Preempted, match=r"the teacher is trained \(.*/teacher/model.keras\).*Rerun the same command"):
        run(folder_config(tmp_path, data), log=quiet)
    monkeypatch.undo()
    results = run(folder_config(tmp_path, data), log=quiet)      # the rerun reuses the teacher and exports
    assert results["stages"]["teacher"]["epochs"] == 1 and (tmp_path / "run" / "export" / "model.keras").exists()


def test_two_concurrent_runs_give_one_clean_run_and_one_clear_refusal(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    args = [sys.executable, "-m", "bkd_keras.train", f"--output_dir={out}", "--stage=teacher", "--method=ce",
            "--verbose=0"]
    first = subprocess.Popen([*args, "--epochs=100"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / "flags.json").exists():          # written once the first run trains
        assert first.poll() is None and time.time() < deadline, first.communicate()
        time.sleep(0.2)
    second = subprocess.run([*args, "--epochs=100"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 2
    assert f"error: {out} is in use by another run (pid {first.pid})" in second.stderr
    epochs = [line.split(",")[0] for line in open(out / "teacher" / "log.csv").read().splitlines()[1:]]
    assert epochs == [str(e) for e in range(100)]
