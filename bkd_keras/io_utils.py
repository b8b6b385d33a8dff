"""Files written so that a crash never leaves a truncated one behind."""

import json
import os
import shutil


def _discard_on_error(tmp):
    """Removes the temporary file of a write that failed (e.g. a full disk), then re-raises."""
    if os.path.exists(tmp):
        os.remove(tmp)
    raise


def atomic_write_text(path, text):
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        _discard_on_error(tmp)
    os.replace(tmp, path)


def atomic_write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def atomic_save_model(model, path):
    """`model.save(path)` (a .keras file) through a temporary name."""
    tmp = path[: -len(".keras")] + ".tmp.keras"
    try:
        model.save(tmp)
    except OSError:
        _discard_on_error(tmp)
    os.replace(tmp, path)


def replace_dir(tmp_dir, final_dir):
    if os.path.exists(final_dir):
        shutil.rmtree(final_dir)
    os.replace(tmp_dir, final_dir)
