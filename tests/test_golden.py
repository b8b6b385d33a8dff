"""Behaviour guard for refactors: a fixed deterministic run must give the recorded numbers.

`python -m bkd_keras.train --deterministic`, digits, a CE teacher then a BKD student (mixup,
deferred weights from epoch 1), 2 epochs each. On the machine kind that wrote the golden file
(same CPU model and TensorFlow version) the final weights must be bit-identical (SHA-256 per
array) and results.json's reports equal; elsewhere oneDNN may pick other kernels, so the
numbers are compared to a tolerance instead.

Regenerate only for an intended change of the numbers, in its own commit saying why:
    python tests/test_golden.py --write
"""

import hashlib
import json
import os
import platform
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
GOLDEN = os.path.join(ROOT, "tests", "golden", "digits_bkd.json")
ARGS = ["--dataset=digits", "--epochs=2", "--bkd_start_epoch=1", "--method=bkd", "--deterministic",
        "--verbose=0", "--eval_every=1"]


def machine():
    import tensorflow as tf
    model, isa = platform.processor(), []
    if os.path.exists("/proc/cpuinfo"):
        lines = open("/proc/cpuinfo").read().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
        model = names[0] if names else model
        # The same model name covers CPUs with different vector units, hence different kernels.
        isa = sorted(f for f in flags if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"))
    return f"{model} [{' '.join(isa)}] | tf {tf.__version__}"


def snapshot(out):
    """The numbers of a finished run folder: per-array weight hashes and statistics, and reports."""
    import keras
    import models  # noqa: F401
    weights = keras.saving.load_model(os.path.join(out, "export", "model.keras"), compile=False).get_weights()
    results = json.load(open(os.path.join(out, "results.json")))
    return {"machine": machine(),
            "sha256": [hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest() for w in weights],
            "stats": [[float(np.sum(w, dtype=np.float64)), float(np.sum(np.abs(w), dtype=np.float64))]
                      for w in weights],
            "reports": results["reports"],
            "test_curves": {k: v["test_curve"] for k, v in results["stages"].items()}}


def train(out):
    return subprocess.run([sys.executable, "-m", "bkd_keras.train", *ARGS, f"--output_dir={out}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_fixed_run_reproduces_the_golden_numbers(tmp_path):
    out = str(tmp_path / "run")
    r = train(out)
    assert r.returncode == 0, r.stderr[-3000:]
    got, want = snapshot(out), json.load(open(GOLDEN))
    if got["machine"] == want["machine"]:
        assert got["sha256"] == want["sha256"], "final weights are not bit-identical to the golden run"
        assert got["reports"] == want["reports"]
        assert got["test_curves"] == want["test_curves"]
    else:   # another CPU kind: equal up to kernel-order rounding. Switching Keras' BatchNorm for the
        # fused kernel on one CPU moved this 2-epoch run's per-array weight sums by up to 0.3% of the
        # array's absolute sum, and the absolute sums by 0.4%; 2% of the absolute sum is allowed (a
        # sum itself can be near 0, so it is not compared relative to itself).
        got_stats, want_stats = np.array(got["stats"]), np.array(want["stats"])
        scale = want_stats[:, 1]
        assert np.all(np.abs(got_stats[:, 0] - want_stats[:, 0]) <= 0.02 * scale + 1e-3)
        np.testing.assert_allclose(got_stats[:, 1], scale, rtol=0.02)
        for name, report in want["reports"].items():
            assert abs(got["reports"][name]["top1"] - report["top1"]) <= 1.0


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit(__doc__)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        result = train(os.path.join(tmp, "run"))
        if result.returncode:
            raise SystemExit(result.stderr)
        with open(GOLDEN, "w") as f:
            json.dump(snapshot(os.path.join(tmp, "run")), f, indent=1)
    print(f"wrote {GOLDEN}")
