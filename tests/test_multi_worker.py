"""MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1 (CPU)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_match_one_process(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = str(tmp_path / "w.npz")
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TASK_INDEX=str(index), TF_CPP_MIN_LOG_LEVEL="3")
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "multi_worker_worker.py"), out,
                                       "multi_worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    single = subprocess.run([sys.executable, os.path.join(HERE, "multi_worker_worker.py"), str(tmp_path / "s.npz"),
                             "single"], env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True,
                            text=True, timeout=300)
    assert single.returncode == 0, single.stdout[-2000:] + single.stderr[-2000:]
    files = {name: np.load(str(tmp_path / f"{name}.npz")) for name in ("w-0", "w-1", "s-0")}
    load = lambda f: [v for k, v in sorted(f.items(), key=lambda kv: kv[0]) if k.startswith("arr_")]
    w0, w1, ref = (load(files[n]) for n in ("w-0", "w-1", "s-0"))
    # Each worker gets half of every global batch of 16; worker 0 is the chief.
    assert files["w-0"]["local_batches"].tolist() == [8] * 4 == files["w-1"]["local_batches"].tolist()
    assert files["s-0"]["local_batches"].tolist() == [16] * 4
    assert bool(files["w-0"]["chief"]) and not bool(files["w-1"]["chief"])
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)           # the workers stay in sync exactly
    for a, b in zip(w0, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_multi_worker_without_tf_config_is_a_clear_error():
    from bkd_keras.run.strategies import make_strategy
    env_backup = os.environ.pop("TF_CONFIG", None)
    try:
        with pytest.raises(ValueError, match="TF_CONFIG"):
            make_strategy("multi_worker")
    finally:
        if env_backup is not None:
            os.environ["TF_CONFIG"] = env_backup


def test_two_worker_cli_run_chief_writes_and_evaluates_in_order(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "run"
    root = os.path.dirname(HERE)
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TF_CPP_MIN_LOG_LEVEL="3")
        procs.append(subprocess.Popen([sys.executable, "-m", "bkd_keras.train", "--strategy=multi_worker",
                                       "--epochs=1", f"--output_dir={out}", "--verbose=0"], cwd=root, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    assert "Results:" in logs[0] and "Results:" not in logs[1]          # only the chief reports
    assert (out / "results.json").exists() and (out / "export" / "saved_model").exists()
    assert (out / ".worker1" / "flags.json").exists() and not (out / ".worker0").exists()
    # The chief's reported accuracy is that of its saved model on the test set in order
    # (Keras' multi-worker predict returns the shards out of order).
    import keras

    import models  # noqa: F401
    from bkd_keras.run.run_records import read_config
    from data import eval_dataset, load_dataset
    dataset = load_dataset(read_config(str(out)).data)
    model = keras.saving.load_model(str(out / "student" / "model.keras"), compile=False)
    top1 = (model.predict(eval_dataset(dataset, 512), verbose=0).argmax(1) == dataset.test.labels).mean() * 100
    reported = json.load(open(out / "results.json"))["reports"]["student (bkd)"]["top1"]
    assert reported == pytest.approx(top1)


def test_sigterm_to_one_worker_stops_both_at_one_step_and_both_resume(tmp_path):
    import signal
    import time
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "run"
    root = os.path.dirname(HERE)

    def launch():
        procs = []
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                       TF_CPP_MIN_LOG_LEVEL="3")
            procs.append(subprocess.Popen([sys.executable, "-m", "bkd_keras.train", "--strategy=multi_worker",
                                           "--method=ce", "--stage=teacher", "--epochs=10", "--eval_every=0",
                                           f"--output_dir={out}", "--verbose=0"], cwd=root, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        return procs

    procs = launch()
    worker_log = out / ".worker1" / "teacher" / "log.csv"
    deadline = time.time() + 300
    while not (worker_log.exists() and len(worker_log.read_text().splitlines()) >= 2):   # an epoch is done
        assert time.time() < deadline and procs[1].poll() is None, "the workers did not start training"
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGTERM)                  # only worker 1 is preempted
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [143, 143], "\n".join(log[-3000:] for log in logs)
    assert all("preempted at epoch" in log for log in logs)
    meta = [json.load(open(d / "teacher" / "backup" / "training_metadata.json")) for d in (out, out / ".worker1")]
    assert meta[0] == meta[1] and meta[0]["epoch"] < 10   # the same step on both workers
    procs = launch()
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    assert (out / "results.json").exists()


def test_overwrite_by_the_chief_leaves_the_other_workers_folders_to_them(tmp_path):
    from bkd_keras.run.config import TrainConfig
    from bkd_keras.run.run_folder import RunFolder
    from data import load_dataset

    def overwrite(out):
        folder = RunFolder(TrainConfig.flat(dataset="digits", output_dir=str(out), overwrite=True))
        folder.check()
        with folder.opened(load_dataset("digits")):
            folder.start()

    out = tmp_path / "run"
    (out / ".worker1").mkdir(parents=True)
    (out / ".worker1" / "flags.json").write_text("{}")          # worker 1 already prepared its folder
    (out / "teacher").mkdir()
    (out / "flags.json").write_text("{}")
    (out / "results.json").write_text("{}")                      # the chief's old finished run
    overwrite(out)
    assert sorted(os.listdir(out)) == [".lock", ".worker1", "flags.json", "inputs.json"]
    assert (out / ".worker1" / "flags.json").read_text() == "{}"
    # A worker's own --overwrite clears its folder.
    (out / ".worker1" / "results.json").write_text("{}")
    overwrite(out / ".worker1")
    assert sorted(os.listdir(out / ".worker1")) == [".lock", "flags.json", "inputs.json"]
