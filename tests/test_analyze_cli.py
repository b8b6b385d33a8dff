"""bkd_keras/analyze.py on a finished digits run; and the runner's sweep variants."""

import csv
import json
import os
import subprocess
import sys

import pytest

from conftest import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_analyze_writes_plots_and_numbers(tmp_path):
    from bkd_keras.run.runner import run
    config = small_config(tmp_path, method="ce", stage="teacher")
    run(config, log=lambda *_: None)
    out = tmp_path / "analysis"
    cmd = [sys.executable, "-m", "bkd_keras.analyze", f"--runs={config.run.output_dir},{config.run.output_dir}",
           "--names=a,b", f"--out={out}", "--tsne_per_class=8"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    for name in ("gradients.png", "tsne.png", "calibration.png", "gradients.csv", "tsne.json", "summary.json"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "gradients.csv")))
    assert len(rows) == 20 and {r["run"] for r in rows} == {"a", "b"}
    # Under class-balanced weights the head class's logit gets more discouraging gradient
    # relative to plain CE than the rarest class's does (the paper's Fig. 2b argument).
    a = [r for r in rows if r["run"] == "a"]
    ratio = [float(r["cb"]) / float(r["ce"]) for r in a]
    assert ratio[0] > ratio[-1]
    calib = json.load(open(out / "calibration.json"))
    summary = json.load(open(out / "summary.json"))
    assert summary["calibration_ece"]["a"] == pytest.approx(calib["a"]["ece"], abs=0.01)
    assert sum(calib["a"]["count"]) == 400
    tsne = json.load(open(out / "tsne.json"))
    assert len(tsne["points"]["a"]["x"]) == 80


def test_analyze_rejects_a_folder_that_is_not_a_run(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bkd_keras.analyze", f"--runs={tmp_path}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode != 0 and "not a run folder" in (r.stdout + r.stderr)


def test_sweep_variants():
    from benchmarks.comparison.variants import resolve_variant
    assert resolve_variant("bkd_T1.5") == ("bkd", ["--temperature=1.5"])
    assert resolve_variant("bkd_beta0.99") == ("bkd", ["--beta=0.99"])
    assert resolve_variant("weighted_kd_beta1") == ("weighted_kd", ["--beta=1"])
    assert resolve_variant("bkd_nodefer") == ("bkd", ["--bkd_start_epoch=0"])
    assert resolve_variant("cb") == ("cb", [])


def test_sweep_points_order_by_value_and_average_common_seeds(tmp_path):
    import csv

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.comparison import report

    def run(seed, t, beta, per_class):
        return {"seed": seed, "top1": sum(per_class) / len(per_class), "many": None, "few": None,
                "temperature": t, "beta": beta, "per_class": per_class}
    # "bkd" has an extra seed (1) that the sweep points lack: it must not enter the sweep's mean.
    variants = {"bkd": [run(0, 2.0, 0.9999, [80, 60, 40, 20]), run(1, 2.0, 0.9999, [0, 0, 0, 0])],
                "bkd_T4": [run(0, 4.0, 0.9999, [50, 50, 30, 30])],
                "bkd_T1": [run(0, 1.0, 0.9999, [90, 70, 10, 10])],
                "bkd_beta1": [run(0, 2.0, 1.0, [40, 40, 60, 60])],
                "cb": [run(0, None, 0.9999, [1, 2, 3, 4])]}
    rows = report.sweep_points(variants, "bkd", "T")
    assert [(r["variant"], r["value"], r["seeds"]) for r in rows] == [
        ("bkd_T1", 1.0, [0]), ("bkd", 2.0, [0]), ("bkd_T4", 4.0, [0])]
    assert [(r["top1"], r["head"], r["tail"]) for r in rows] == [(45, 80, 10), (50, 70, 30), (40, 50, 30)]
    assert [r["variant"] for r in report.sweep_points(variants, "bkd", "beta")] == ["bkd", "bkd_beta1"]

    written = report._sweep_plot("x", variants, str(tmp_path), plt)
    assert set(written) == {"sweep_bkd_T", "sweep_bkd_beta"}
    assert all(os.path.exists(p) for p in written.values())
    with open(tmp_path / "sweep_bkd_beta_x.csv") as f:
        table = list(csv.DictReader(f))
    assert [(r["variant"], float(r["top1"]), float(r["tail"])) for r in table] == [("bkd", 50, 30), ("bkd_beta1", 50, 60)]
