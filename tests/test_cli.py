"""The flag-driven script end to end (quickstart on a tiny budget), presets, bad inputs."""

import json
import os
import subprocess
import sys

import keras
import pytest

from bkd_keras.run.config import ConfigError
from bkd_keras.method.methods import METHODS
from bkd_keras.run.runner import run
from conftest import small_config
from models import build_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "bkd_keras.train", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_quickstart_end_to_end_then_refuses_to_overwrite(tmp_path):
    out = str(tmp_path / "run")
    result = cli(f"--output_dir={out}", "--epochs=1", "--verbose=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Overall top-1 %" in result.stdout and "student (bkd)" in result.stdout
    results = json.load(open(os.path.join(out, "results.json")))
    assert set(results["reports"]) == {"teacher", "student (bkd)"}
    for report in results["reports"].values():
        assert 0 <= report["top1"] <= 100 and len(report["per_class"]) == 10
        assert report["many"] is not None and report["few"] is not None
    assert results["config"]["dataset"] == "digits" and results["config"]["epochs"] == 1
    flags = json.load(open(os.path.join(out, "flags.json")))
    assert flags["method"] == "bkd" and flags["backbone"] == "small_cnn"
    for stage in ("teacher", "student"):
        assert open(os.path.join(out, stage, "log.csv")).read().count("\n") == 2      # header + 1 epoch
        assert os.path.isdir(os.path.join(out, stage, "tensorboard"))
        assert os.path.exists(os.path.join(out, stage, "checkpoints", "last.weights.h5"))
        assert os.path.exists(os.path.join(out, stage, "model.keras"))
    assert os.path.exists(os.path.join(out, "export", "saved_model", "saved_model.pb"))
    assert os.path.exists(os.path.join(out, "export", "model.keras"))

    again = cli(f"--output_dir={out}", "--epochs=1")
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr


def test_cli_bad_input_is_one_clear_line():
    result = cli("--backbone=resnet1000", "--output_dir=/tmp/never")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "resnet1000" in result.stderr and "resnet32" in result.stderr


def test_presets_resolve_and_scale_the_deferred_switch():
    from absl import flags as absl_flags
    from flags import definitions
    fv = absl_flags.FLAGS
    fv.unparse_flags()
    fv(["prog", "--dataset=cifar10", "--epochs=40"])
    c = definitions.resolve(fv)
    assert (c.model.backbone, c.optim.batch_size, c.data.imbalance_ratio) == ("resnet32", 128, 100.0)
    assert METHODS[c.method.method].switch_epoch(c.method, c.optim.epochs) == 32
    assert c.data.mean == pytest.approx((0.4914, 0.4822, 0.4465))
    fv.unparse_flags()
    fv(["prog", "--dataset=folder", "--data_dir=/x", "--preset=cifar100_lt", "--batch_size=64"])
    c = definitions.resolve(fv)
    assert (c.optim.batch_size, METHODS["bkd"].switch_epoch(c.method, c.optim.epochs), c.optim.epochs) == (64, 0, 200)
    fv.unparse_flags()
    fv(["prog", "--preset=cifar10_lt", "--bkd_start_epoch=7", "--dataset=folder", "--data_dir=/x"])
    assert METHODS["bkd"].switch_epoch(definitions.resolve(fv).method, 200) == 7
    fv.unparse_flags()


def test_renamed_teacher_preset_flag_names_its_new_name_and_old_flags_json_still_reads():
    from absl import flags as absl_flags

    from bkd_keras.run.config import TrainConfig
    from flags import definitions
    fv = absl_flags.FLAGS
    fv.unparse_flags()
    fv(["prog", "--teacher_preset=/presets/bert"])
    with pytest.raises(ConfigError, match="renamed --teacher_hub_preset .* pass --teacher_hub_preset=/presets/bert"):
        definitions.resolve(fv)
    fv.unparse_flags()
    # a flags.json written before the rename
    assert TrainConfig.flat(dataset="digits", teacher_preset="/presets/bert").model.teacher_hub_preset == "/presets/bert"


def test_teacher_with_other_class_count_is_rejected(tmp_path):
    path = str(tmp_path / "t.keras")
    build_backbone("small_cnn", 5, (8, 8, 1)).save(path)
    with pytest.raises(ConfigError, match="predicts 5 classes"):
        run(small_config(tmp_path, teacher=path, stage="student"))


def test_resume_reuses_finished_teacher_and_student_only_with_given_teacher(tmp_path):
    logs = []
    config = small_config(tmp_path, method="kd")
    first = run(config, log=logs.append)
    out = config.run.output_dir
    # Simulate a run killed during the student stage: the teacher stage had finished.
    os.remove(os.path.join(out, "results.json"))
    os.remove(os.path.join(out, "student", "stage.json"))
    logs.clear()
    second = run(small_config(tmp_path, method="kd"), log=logs.append)
    assert any("[teacher] finished earlier" in line for line in logs)
    assert second["reports"]["teacher"] == first["reports"]["teacher"]
    # A different run folder reusing that teacher trains the student only.
    logs.clear()
    third = run(small_config(tmp_path, method="bkd", stage="student", output_dir=str(tmp_path / "s"),
                        teacher=os.path.join(out, "teacher", "model.keras")), log=logs.append)
    assert not any("[teacher]" in line for line in logs) and "student (bkd)" in third["reports"]
    # A changed setting in an unfinished run folder is refused.
    os.remove(os.path.join(out, "results.json"))
    with pytest.raises(ConfigError, match="other settings"):
        run(small_config(tmp_path, method="kd", temperature=4.0))


def test_a_resume_may_change_how_the_machine_runs_it_but_not_what_it_trains(tmp_path):
    """--threads / --save_every_steps may differ on the next machine; a training setting may not."""
    from bkd_keras.run.run_folder import RunFolder
    from data import load_dataset

    def start(config):
        folder = RunFolder(config)
        folder.check()
        with folder.opened(load_dataset(config.data)):
            folder.start()

    start(small_config(tmp_path, threads=1, save_every_steps=0))
    start(small_config(tmp_path, threads=2, save_every_steps=50))
    with open(tmp_path / "run" / "flags.json") as f:
        flags = json.load(f)
    assert (flags["threads"], flags["save_every_steps"]) == (2, 50)
    with pytest.raises(ConfigError, match=r"other settings \(batch_size, seed\)"):
        start(small_config(tmp_path, threads=2, seed=1, batch_size=64))


def test_threads_flag_sets_both_tensorflow_pools(tmp_path):
    result = cli(f"--output_dir={tmp_path / 'run'}", "--epochs=1", "--stage=teacher", "--method=ce", "--threads=1",
                 "--verbose=0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TensorFlow threads: intra-op 1, inter-op 1" in result.stdout
    assert cli("--threads=-1").stderr.strip().endswith("--threads must be >= 0 (0: TensorFlow's defaults), got -1.")


def test_presets_hold_only_what_differs_from_the_defaults():
    from bkd_keras.run.config import TrainConfig
    from flags.presets import PRESETS
    defaults = TrainConfig().to_flat()
    same = lambda a, b: list(a or []) == list(b) if isinstance(b, (tuple, list)) else a == b
    repeated = [(name, k) for name, preset in PRESETS.items() for k, v in preset.items() if same(defaults[k], v)]
    assert not repeated, f"preset entries equal to TrainConfig's defaults: {repeated}"


def test_help_shows_what_a_no_flag_run_uses():
    from absl import flags as absl_flags
    from flags import definitions
    fv = absl_flags.FLAGS
    fv.unparse_flags()
    fv(["prog"])
    flat = definitions.resolve(fv).to_flat()
    shown = {name: fv[name].default for name in flat if name in fv and fv[name].default is not None}
    assert shown["epochs"] == 40 and shown["batch_size"] == 32       # digits_lt, not the library's 30 / 64
    differ = {k: (v, flat[k]) for k, v in shown.items()
              if (list(v) != list(flat[k]) if isinstance(v, (tuple, list)) else v != flat[k])
              and not (isinstance(v, list) and [float(x) for x in v] == list(flat[k]))}
    assert not differ, f"--help default vs the no-flag run's value: {differ}"
    fv.unparse_flags()
