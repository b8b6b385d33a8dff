"""Resuming safely: changed inputs are refused, broken backups fall back, a full disk stops cleanly."""

import os
import shutil

import keras
import pytest

from bkd_keras.run.backup import usable_backup
from bkd_keras.run.config import ConfigError
from bkd_keras.method.distiller import Distiller
from bkd_keras.run.runner import run
from conftest import small_config, write_image_tree


class StopAfter(keras.callbacks.Callback):
    """Ctrl-C after `epochs` finished epochs of the named stage (the backup of the last is written)."""

    def __init__(self, stage, epochs):
        super().__init__()
        self.stage, self.epochs = stage, epochs

    def on_epoch_begin(self, epoch, logs=None):
        stage = "teacher" if self.model.teacher is None else "student"
        if stage == self.stage and epoch == self.epochs:
            raise KeyboardInterrupt


def quiet(*_):
    pass


def folder_config(tmp_path, root, **kw):
    values = dict(dataset="folder", data_dir=root, imbalance_type="none", batch_size=4, epochs=3,
                  method="ce", stage="teacher", output_dir=str(tmp_path / "run"))
    values.update(kw)
    return small_config(tmp_path, **values)


def test_changed_data_is_refused_and_moved_data_accepted(tmp_path):
    root = write_image_tree(str(tmp_path / "data"), ["a", "b"], [6, 6])
    with pytest.raises(KeyboardInterrupt):
        run(folder_config(tmp_path, root), log=quiet, extra_callbacks=[StopAfter("teacher", 1)])
    moved = str(tmp_path / "moved")
    shutil.copytree(root, moved)
    os.remove(os.path.join(moved, "train", "b", "5.png"))          # one image fewer
    with pytest.raises(ConfigError, match=r"started on other data: the train split's images per class changed "
                                          r"\(\[6, 6\] -> \[6, 5\]\)"):
        run(folder_config(tmp_path, moved), log=quiet)
    shutil.rmtree(moved)
    shutil.copytree(root, moved)
    shutil.copyfile(os.path.join(moved, "train", "a", "0.png"), os.path.join(moved, "train", "a", "1.png"))
    with pytest.raises(ConfigError, match="examples or labels changed"):
        run(folder_config(tmp_path, moved), log=quiet)
    shutil.rmtree(moved)
    shutil.copytree(root, moved)                                      # the same data elsewhere: resumes
    results = run(folder_config(tmp_path, moved), log=quiet)
    assert results["stages"]["teacher"]["epochs"] == 3


def test_a_replaced_teacher_is_refused(tmp_path):
    teacher = run(small_config(tmp_path, method="ce", stage="teacher", output_dir=str(tmp_path / "t")),
                  log=quiet)["exports"]["keras"]
    config = small_config(tmp_path, method="kd", stage="student", teacher=teacher, epochs=3)
    with pytest.raises(KeyboardInterrupt):
        run(config, log=quiet, extra_callbacks=[StopAfter("student", 1)])
    moved = str(tmp_path / "teacher_copy.keras")
    shutil.copyfile(teacher, moved)
    other = run(small_config(tmp_path, method="ce", stage="teacher", output_dir=str(tmp_path / "t2"), seed=5),
                log=quiet)["exports"]["keras"]
    shutil.copyfile(other, teacher)                                    # same path, other weights
    with pytest.raises(ConfigError, match="started with another teacher"):
        run(config, log=quiet)
    assert run(config.replace(teacher=moved), log=quiet)["stages"]["student"]["epochs"] == 3   # moved: fine


def _interrupted_teacher(tmp_path):
    config = small_config(tmp_path, method="ce", stage="teacher", epochs=4)
    with pytest.raises(KeyboardInterrupt):
        run(config, log=quiet, extra_callbacks=[StopAfter("teacher", 2)])
    return config, os.path.join(config.run.output_dir, "teacher", "backup")


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 3)


def test_a_truncated_backup_falls_back_to_the_previous_one(tmp_path):
    config, backup = _interrupted_teacher(tmp_path)
    _truncate(os.path.join(backup, "latest.weights.h5"))
    logs = []
    results = run(config, log=logs.append)
    assert any("latest backup" in str(line) and "after epoch 1" in str(line) for line in logs)
    assert results["stages"]["teacher"]["epochs"] == 4
    epochs = [line.split(",")[0] for line in open(os.path.join(config.run.output_dir, "teacher", "log.csv"))][1:]
    assert epochs == ["0", "1", "2", "3"]                              # epoch 2 re-run once, none lost


def test_both_backups_broken_is_a_clear_error_never_a_silent_restart(tmp_path):
    config, backup = _interrupted_teacher(tmp_path)
    _truncate(os.path.join(backup, "latest.weights.h5"))
    _truncate(os.path.join(backup, "latest.weights.h5.bkp"))
    with pytest.raises(ConfigError, match="cannot resume. Pass --overwrite to start it over"):
        run(config, log=quiet)


def test_a_full_disk_during_a_backup_keeps_the_previous_one_and_says_so(tmp_path, monkeypatch):
    original, saves = Distiller.save_weights, []

    def failing_save(self, filepath, *args, **kwargs):
        if str(filepath).endswith("saving.weights.h5"):      # StepBackup's temporary file
            saves.append(filepath)
            if len(saves) == 2:                          # the second epoch's backup: half written
                with open(filepath, "wb") as f:
                    f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
                raise OSError(28, "No space left on device", str(filepath))
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(Distiller, "save_weights", failing_save)
    config = small_config(tmp_path, method="ce", stage="teacher", epochs=3)
    with pytest.raises(ConfigError, match=r"The disk is full: writing .*saving.weights.h5 failed with [0-9.]+ MB "
                                          r"free; a backup of this stage needs about [0-9.]+ MB"):
        run(config, log=quiet)
    backup = os.path.join(config.run.output_dir, "teacher", "backup")
    assert sorted(os.listdir(backup)) == ["latest.weights.h5", "training_metadata.json"]   # nothing half-written
    assert usable_backup(backup, quiet)["epoch"] == 1                      # the last complete backup loads
    monkeypatch.setattr(Distiller, "save_weights", original)
    assert run(config, log=quiet)["stages"]["teacher"]["epochs"] == 3
