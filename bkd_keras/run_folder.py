"""A run folder on disk: create it, refuse to clobber or silently change a run, read it back.

OUT/flags.json holds the run's settings by flag name; a finished run has OUT/results.json
and OUT/export/. `load_run` gives benchmarks and analyses a finished run's config, data
and model.
"""

import csv
import os
import shutil

from bkd_keras import evaluation
from bkd_keras.config import ConfigError, TrainConfig
from bkd_keras.io_utils import atomic_write_json, atomic_write_text, read_json

# Paths may move between machines: the data and a given teacher are checked by content
# instead (check_inputs). Thread counts and the backup interval say how this machine runs the
# steps, not which steps run: a run continued on another machine picks its own.
IGNORED_ON_RESUME = ("overwrite", "verbose", "output_dir", "data_dir", "teacher", "teacher_preset",
                     "threads", "save_every_steps")


def flat_settings(config):
    """{flag name: value} of `config`, with every method setting (defaults filled), JSON-ready."""
    from bkd_keras.methods import all_settings
    return {**TrainConfig().to_flat(), **{s.name: s.default for s in all_settings()}, **config.to_flat()}


def prepare(config):
    """Creates the run folder; refuses to overwrite a finished or a different run."""
    out = config.run.output_dir
    flags_path = os.path.join(out, "flags.json")
    if os.path.exists(out) and config.run.overwrite:
        # Other workers' folders (OUT/.workerN) are theirs to clear, each in its own prepare():
        # removing them here raced with a worker that had already prepared its own.
        for name in os.listdir(out):
            path = os.path.join(out, name)
            if name.startswith(".worker"):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    if os.path.exists(os.path.join(out, "results.json")):
        raise ConfigError(f"{out} holds a finished run; pass --overwrite to replace it, or another --output_dir.")
    current = flat_settings(config)
    if os.path.exists(flags_path):
        # A setting added after the run started is unchanged if it has its default.
        previous = {**flat_settings(TrainConfig()), **read_json(flags_path)}
        changed = sorted(k for k in current if k not in IGNORED_ON_RESUME and previous.get(k) != current[k])
        if changed:
            raise ConfigError(f"{out} holds an unfinished run with other settings ({', '.join(changed)}); "
                              "rerun with its settings to resume, or pass --overwrite / another --output_dir.")
    os.makedirs(out, exist_ok=True)
    atomic_write_json(flags_path, current)


def check_inputs(config, dataset):
    """Records the run's inputs (OUT/inputs.json) at its start; on a resume, refuses changed ones.

    The data's fingerprint (per-class counts, a hash of the selected examples and labels;
    data/fingerprint.py) and the SHA-256 of a given --teacher file (or --teacher_preset folder).
    Paths do not count: a moved dataset or teacher is accepted.
    """
    from data.fingerprint import dataset_fingerprint, describe_change, file_sha256, folder_sha256
    if config.run.teacher and not os.path.isfile(config.run.teacher):
        return      # stages.load_teacher says what is wrong with it
    out = config.run.output_dir
    preset = config.model.teacher_preset
    teacher = file_sha256(config.run.teacher) if config.run.teacher else \
        folder_sha256(preset) if preset and os.path.isdir(preset) else preset
    current = {"data": dataset_fingerprint(dataset, config.data.data_dir), "teacher": teacher}
    path = os.path.join(out, "inputs.json")
    if os.path.exists(path):
        started = read_json(path)
        change = describe_change(started["data"], current["data"])
        if change:
            raise ConfigError(f"{out} was started on other data: {change}. Resume it with the data it "
                              "started with, or pass --overwrite / another --output_dir to start over.")
        if started.get("teacher") != current["teacher"]:
            raise ConfigError(f"{out} was started with another teacher: "
                              f"{config.run.teacher or preset} is not the teacher this run began with (its "
                              "SHA-256 differs). Pass that teacher, or "
                              "--overwrite / another --output_dir to start over.")
    atomic_write_json(path, current)


def trim_log(path, first_epoch):
    """Drops log.csv lines of epochs >= first_epoch (written, but not backed up, before a kill)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    keep = lines[:1] + [line for line in lines[1:] if line.split(",", 1)[0].strip().isdigit()
                        and int(line.split(",", 1)[0]) < first_epoch]
    if len(keep) != len(lines):
        atomic_write_text(path, "".join(keep))


def test_curve(log_path):
    """The test-accuracy curve of a stage's log.csv (see evaluation.test_curve), or None."""
    if not os.path.exists(log_path):
        return None
    with open(log_path) as f:
        return evaluation.test_curve(list(csv.DictReader(f)))


def read_config(run_dir):
    """The TrainConfig of a run folder, from its flags.json."""
    path = os.path.join(run_dir, "flags.json")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} is not a run folder (no flags.json); pass the --output_dir of a run.")
    return TrainConfig.flat(**read_json(path))


def load_run(run_dir, cache=None):
    """(config, dataset, exported model) of a finished run folder.

    `cache` (a dict) shares the dataset between runs of one data setting (keyed by the
    whole DataConfig, so runs differing in any data setting never share one).
    """
    import keras

    import models  # noqa: F401  (registers the backbones' custom layers)
    from data import load_dataset
    config = read_config(run_dir)
    path = os.path.join(run_dir, "export", "model.keras")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} has no export/model.keras; is the run finished?")
    cache = {} if cache is None else cache
    if config.data not in cache:
        cache[config.data] = load_dataset(config.data)
    return config, cache[config.data], keras.saving.load_model(path, compile=False)
