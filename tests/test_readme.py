"""The README's library example runs as written (1 epoch instead of 40, output in a temp dir)."""

import os
import re
import subprocess
import sys

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_library_example_runs(tmp_path):
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## Library use"):]
    code, load = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    assert "Distiller(" in code and "export(" in code
    code = code.replace("epochs=40", "epochs=1").replace('"bkd_student"', repr(str(tmp_path / "bkd_student")))
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    served = tf.saved_model.load(str(tmp_path / "bkd_student"))
    images = namespace["data"].test.images[:3].astype(np.float32)
    logits = served.serve(tf.constant(images)).numpy()
    assert logits.shape == (3, namespace["data"].num_classes) and np.isfinite(logits).all()

    # The loading snippet, in a fresh process (only it registers the project's layers there).
    namespace["student"].save(tmp_path / "model.keras")
    load = re.sub(r'load_model\(".*?"\)', f"load_model({str(tmp_path / 'model.keras')!r})", load)
    load += "print(model.count_params())\n"
    r = subprocess.run([sys.executable, "-c", load], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.split()[-1]) == namespace["student"].count_params()
