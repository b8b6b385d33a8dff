"""The README's library example runs as written (1 epoch instead of 40, output in a temp dir)."""

import os
import re

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_library_example_runs(tmp_path):
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## Library use"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "Distiller(" in code and "export(" in code
    code = code.replace("epochs=40", "epochs=1").replace('"bkd_student"', repr(str(tmp_path / "bkd_student")))
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    served = tf.saved_model.load(str(tmp_path / "bkd_student"))
    images = namespace["data"].test.images[:3].astype(np.float32)
    logits = served.serve(tf.constant(images)).numpy()
    assert logits.shape == (3, namespace["data"].num_classes) and np.isfinite(logits).all()
