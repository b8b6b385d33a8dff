"""The resume state of a stage (Keras `BackupAndRestore`'s files), checked before it is used.

BackupAndRestore keeps `latest.weights.h5` + `training_metadata.json` and, with
`double_checkpoint`, the previous pair as `*.bkp`. A kill or a full disk during a save can
leave the latest pair truncated. `usable_backup` checks the pair, falls back to the previous
one with a warning, and never lets a run silently restart from epoch 0.
"""

import json
import os
import shutil

from bkd_keras.config import ConfigError

WEIGHTS, METADATA = "latest.weights.h5", "training_metadata.json"


def _readable(weights, metadata):
    """(epoch, None) if the pair loads, else (None, why not)."""
    if not os.path.exists(weights) or not os.path.exists(metadata):
        return None, "missing"
    try:
        with open(metadata) as f:
            epoch = int(json.load(f)["epoch"])
        import h5py
        with h5py.File(weights, "r") as f:
            f.visit(lambda name: None)      # reads the whole object tree
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"unreadable ({type(err).__name__}: {str(err)[:120]})"
    return epoch, None


def usable_backup(backup_dir, log=print):
    """The number of finished epochs of a stage's backup (0 if it has none), after making sure
    the latest pair loads. A bad latest pair is replaced by the previous one, with a warning;
    if neither loads, ConfigError says how to start over."""
    weights, metadata = (os.path.join(backup_dir, name) for name in (WEIGHTS, METADATA))
    present = [p for p in (weights, metadata, weights + ".bkp", metadata + ".bkp") if os.path.exists(p)]
    if not present:
        return 0
    epoch, problem = _readable(weights, metadata)
    if epoch is not None:
        return epoch
    previous, previous_problem = _readable(weights + ".bkp", metadata + ".bkp")
    if previous is None:
        raise ConfigError(f"The backup in {backup_dir} is {problem}, and so is the previous one "
                          f"({previous_problem}); the run cannot resume. Pass --overwrite to start it over "
                          "(or restore the folder from a copy).")
    log(f"WARNING: the latest backup in {backup_dir} is {problem}; resuming from the previous one "
        f"(after epoch {previous}).")
    for name in (WEIGHTS, METADATA):
        tmp = os.path.join(backup_dir, name + ".tmp")
        shutil.copyfile(os.path.join(backup_dir, name + ".bkp"), tmp)
        os.replace(tmp, os.path.join(backup_dir, name))
    return previous


def _is_disk_full(err):
    return getattr(err, "errno", None) == 28 or "No space left" in str(err) or "errno = 28" in str(err)


def disk_error(err, stage_dir, model=None):
    """The error to raise for an OSError `err` during a stage's training.

    A full disk becomes one ConfigError naming the folder, the free space and about how much a
    backup needs; a latest backup left half-written is removed, so the previous one (intact)
    is what a rerun resumes from. Other errors are returned unchanged.
    """
    if not _is_disk_full(err):
        return err
    backup_dir = os.path.join(stage_dir, "backup")
    weights, metadata = (os.path.join(backup_dir, name) for name in (WEIGHTS, METADATA))
    if os.path.exists(weights) and _readable(weights, metadata)[0] is None:
        for path in (weights, metadata):
            if os.path.exists(path):
                os.remove(path)
    free = shutil.disk_usage(stage_dir).free
    needed = ""
    if model is not None:
        variables = list(model.variables) + list(getattr(model.optimizer, "variables", []))
        size = sum(int(v.numpy().nbytes) for v in variables)
        needed = f"; a backup of this stage needs about {2 * size / 2**20:.1f} MB (two copies)"
    where = getattr(err, "filename", None) or stage_dir
    return ConfigError(f"The disk is full: writing {where} failed with {free / 2**20:.1f} MB free{needed}. "
                       "Free some space and rerun the same command: it resumes from the last complete backup.")
