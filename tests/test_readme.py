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
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    code, load = blocks[0], next(b for b in blocks if "import models" in b)
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


def test_readme_pretrained_example_runs(capsys):
    from bkd_keras import pretrained
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## Pretrained models"):]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    names = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert names == pretrained.names()                   # the table lists exactly the shipped models
    images = np.zeros((2, 32, 32, 3), np.uint8)
    images[1] = 255
    exec(compile(code, "README.md", "exec"), {"uint8_images": images})
    assert capsys.readouterr().out.split("\n")[-2] in pretrained.info(names[0])["class_names"]


def test_readme_keras_distillation_recipe_runs():
    """The keras.distillation block, after the library example's data and teacher (1 epoch each)."""
    text = open(os.path.join(ROOT, "README.md")).read()
    setup = re.findall(r"```python\n(.*?)```", text[text.index("## Library use"):], re.S)[0]
    setup = setup[:setup.index("w = effective_number_weights")].replace("epochs=40", "epochs=1")
    recipe = re.findall(r"```python\n(.*?)```", text[text.index("## Inside Keras' own distillation API"):], re.S)[0]
    assert "keras.distillation.Distiller(" in recipe and "DeferredReweighting(" in recipe
    recipe = recipe.replace("epochs=40", "epochs=2").replace("start_epoch=32", "start_epoch=1")
    namespace = {}
    exec(compile(setup + recipe, "README.md", "exec"), namespace)
    assert float(namespace["bkd"].reweight.numpy()) == 1.0
    assert namespace["kd"].history.history["reweight_active"] == [0.0, 1.0]
