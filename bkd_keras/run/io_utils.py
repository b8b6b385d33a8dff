"""Files written so that a crash never leaves a truncated one behind."""

import contextlib
import json
import os
import shutil


@contextlib.contextmanager
def _discarded_on_error(tmp):
    """Removes the temporary file of a write that fails (e.g. a full disk)."""
    try:
        yield
    except OSError:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path, text):
    tmp = f"{path}.tmp"
    with _discarded_on_error(tmp), open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def update_json_entry(path, key, entry):
    """Sets `key` to `entry` in the JSON object in `path` (created if absent), other keys kept."""
    data = read_json(path) if os.path.exists(path) else {}
    data[key] = entry
    atomic_write_json(path, data)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def atomic_save_model(model, path):
    """`model.save(path)` (a .keras file) through a temporary name."""
    tmp = path[: -len(".keras")] + ".tmp.keras"
    with _discarded_on_error(tmp):
        model.save(tmp)
    os.replace(tmp, path)


def replace_dir(tmp_dir, final_dir):
    if os.path.exists(final_dir):
        shutil.rmtree(final_dir)
    os.replace(tmp_dir, final_dir)
