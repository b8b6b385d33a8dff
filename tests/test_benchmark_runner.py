"""The benchmark runner end to end on the offline digits setting (1 epoch per run)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def runner(tmp_path, *extra):
    cmd = [sys.executable, "-m", "benchmarks.runner", "--settings=digits:exp:20", "--methods=ce,kd,cb,bkd",
           "--seeds=0", "--epochs=1", f"--runs_dir={tmp_path}/runs", f"--results_dir={tmp_path}/out", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_runner_trains_shares_the_teacher_reports_and_skips_finished(tmp_path):
    r = runner(tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    runs = json.load(open(tmp_path / "out" / "results.json"))
    assert [x["method"] for x in runs] == ["ce", "kd", "cb", "bkd"]
    for x in runs:
        assert {"dataset", "imbalance_type", "imbalance_ratio", "method", "seed", "epochs", "top1", "many",
                "medium", "few", "per_class", "images_per_sec", "data_source", "command"} <= set(x)
        assert x["dataset"] == "digits" and x["epochs"] == 1 and 0 <= x["top1"] <= 100
    kd = next(x for x in runs if x["method"] == "kd")
    assert "--teacher=" in kd["command"] and "s0-ce/export/model.keras" in kd["command"]
    assert not os.path.exists(os.path.join(kd["run_dir"], "teacher"))      # the shared teacher was reused
    md = open(tmp_path / "out" / "RESULTS.md").read()
    assert "| bkd | 0 |" in md and "python -m bkd_keras.train" in md
    for name in ("per_class", "confusion", "curves"):
        assert os.path.exists(tmp_path / "out" / "plots" / f"{name}_digits-exp20.png")
    again = runner(tmp_path)
    assert again.returncode == 0 and again.stdout.count("skipping finished") == 4
