"""What a run folder records and how it is read back: the settings (flags.json), the inputs'
fingerprints (inputs.json), the training log (log.csv) and a finished run's exported model."""

import csv
import os

from bkd_keras.scoring import evaluation
from bkd_keras.run.config import ConfigError, TrainConfig
from bkd_keras.run.io_utils import atomic_write_text, read_json


def flat_settings(config):
    """{flag name: value} of `config`, with every method setting (defaults filled), JSON-ready."""
    from bkd_keras.method.methods import all_settings
    return {**TrainConfig().to_flat(), **{s.name: s.default for s in all_settings()}, **config.to_flat()}


def read_json_or_fail(path, fix):
    """`path` as JSON; ConfigError saying what is wrong and `fix` if it is not valid JSON."""
    try:
        return read_json(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); {fix}") from None


def current_inputs(config, dataset):
    """The run's inputs: the data's fingerprint (per-class counts, a hash of the selected examples
    and labels; data/fingerprint.py) and the SHA-256 of a given --teacher file (or --teacher_hub_preset
    folder). Paths do not count: a moved dataset or teacher is accepted."""
    from data.fingerprint import dataset_fingerprint, file_sha256, folder_sha256
    preset = config.model.teacher_hub_preset
    teacher = config.run.teacher
    teacher = (file_sha256(teacher) if os.path.isfile(teacher) else None) if teacher else \
        folder_sha256(preset) if preset and os.path.isdir(preset) else preset
    return {"data": dataset_fingerprint(dataset, config.data.data_dir), "teacher": teacher}


def check_inputs(config, dataset, out=None):
    """The run's inputs (`current_inputs`); ConfigError if OUT/inputs.json says it started with others."""
    from data.fingerprint import describe_change
    out = out or config.run.output_dir
    current = current_inputs(config, dataset)
    path = os.path.join(out, "inputs.json")
    if not os.path.exists(path):
        return current
    started = read_json_or_fail(path, "delete it to accept the current inputs, or pass --overwrite.")
    change = describe_change(started["data"], current["data"])
    if change:
        raise ConfigError(f"{out} was started on other data: {change}. Resume it with the data it "
                          "started with, or pass --overwrite / another --output_dir to start over.")
    if current["teacher"] is not None and started.get("teacher") != current["teacher"]:
        raise ConfigError(f"{out} was started with another teacher: "
                          f"{config.run.teacher or config.model.teacher_hub_preset} is not the teacher this run "
                          "began with (its SHA-256 differs). Pass that teacher, or "
                          "--overwrite / another --output_dir to start over.")
    return current


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
    return TrainConfig.flat(**read_json_or_fail(path, "fix or delete the run folder."))


def load_run(run_dir, cache=None, data_dir=None):
    """(config, dataset, exported model fed normalised images) of a finished run folder, or of a
    shipped model's folder (`bkd_keras.publish`: model.keras beside the run's flags.json).

    `cache` (a dict) shares the dataset between runs of one data setting (keyed by the
    whole DataConfig, so runs differing in any data setting never share one). `data_dir`: the
    data tree, when it is not where the run found it.
    """
    import keras

    import models  # noqa: F401  (registers the backbones' custom layers)
    from data import load_dataset
    config = read_config(run_dir)
    if data_dir:
        config = config.replace(data_dir=data_dir)
    path = os.path.join(run_dir, "export", "model.keras")
    if not os.path.exists(path) and os.path.exists(os.path.join(run_dir, "model.keras")):
        path = os.path.join(run_dir, "model.keras")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} has no export/model.keras; is the run finished?")
    cache = {} if cache is None else cache
    if config.data not in cache:
        cache[config.data] = load_dataset(config.data)
    from bkd_keras.run.stock_model import split_preprocessing
    return config, cache[config.data], split_preprocessing(keras.saving.load_model(path, compile=False))[0]
