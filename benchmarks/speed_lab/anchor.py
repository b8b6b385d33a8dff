"""The authors' PyTorch code with its CPU harness (../shared/anchors/official-bkd-pytorch): is it
runnable here, and the `run.py --time_only` command that times its teacher or student step."""

import os
import subprocess

INSTALL = "python3 -m venv /tmp/anchor-venv && /tmp/anchor-venv/bin/pip install torch==2.13.0 numpy pillow"


def anchor_problem(anchor, python):
    """None if ANCHOR/run.py exists and PYTHON imports torch; else what is missing and the fix."""
    if not os.path.exists(os.path.join(anchor or "", "run.py")):
        return f"no run.py under --anchor={anchor}"
    if not os.path.exists(python) or subprocess.run([python, "-c", "import torch"], capture_output=True).returncode:
        return f"{python} has no torch ({INSTALL})"
    return None


def time_only_command(anchor, python, stage, epochs, out, data_dir, batch_size, limit=0):
    """`run.py --time_only EPOCHS` of `stage` (teacher | student) on DATA_DIR; it writes OUT/time_only.json."""
    return [python, os.path.join(anchor, "run.py"), "--stage", stage, "--time_only", str(epochs), "--out", out,
            "--data_root", data_dir, "--batch_size", str(batch_size)] + (["--limit", str(limit)] if limit else [])
