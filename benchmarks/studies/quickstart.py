"""Wall time of the README quickstart (`python -m bkd_keras.train`, no flags) and its table.

    python -m benchmarks.studies.quickstart

Runs the command in a fresh process into a temporary folder, so nothing is reused,
and writes benchmarks/results/quickstart_results.json.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from bkd_keras.scoring.evaluation import comparison_table

if __name__ == "__main__":
    out = os.path.join(tempfile.mkdtemp(), "run")
    command = [sys.executable, "-m", "bkd_keras.train", f"--output_dir={out}", "--verbose=2"]
    start = time.time()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.time() - start
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    results = json.load(open(os.path.join(out, "results.json")))
    table = comparison_table(results["reports"], results["dataset"]["class_names"],
                             results["dataset"]["train_counts"])
    summary = {"command": "python -m bkd_keras.train", "wall_seconds": round(seconds, 1),
               "stages": {k: {"seconds": round(v["seconds"], 1)} for k, v in results["stages"].items()},
               "reports": {k: {m: v[m] for m in ("top1", "many", "medium", "few", "per_class")}
                           for k, v in results["reports"].items()},
               "table": table}
    with open("benchmarks/results/quickstart_results.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"wall time {seconds:.1f} s\n{table}")
