"""The run configuration: parts by consumer, one flag per field, the data part as cache key."""

import dataclasses

import pytest

from bkd_keras.run.config import DataConfig, MethodConfig, TrainConfig, field_names


def test_every_config_field_and_method_setting_is_a_flag():
    from absl import flags as absl_flags

    from bkd_keras.method.methods import all_settings
    from flags import definitions  # noqa: F401  (defines the flags)
    defined = set(absl_flags.FLAGS)
    missing = (field_names() | {s.name for s in all_settings()}) - defined
    assert not missing, f"config fields without a flag: {sorted(missing)}"


def test_flat_round_trip_routes_fields_and_options():
    config = TrainConfig.flat(dataset="folder", data_dir="/d", epochs=7, method="la", la_tau=2.0, mean=[0.5],
                              std=[0.25], seed=3)
    assert (config.data.dataset, config.optim.epochs, config.run.seed) == ("folder", 7, 3)
    assert config.method.options == (("la_tau", 2.0),) and config.data.mean == (0.5,)
    assert TrainConfig.flat(**config.to_flat()) == config
    assert config.replace(seed=4).run.seed == 4 and config.run.seed == 3


def test_the_data_part_is_a_complete_cache_key():
    # Runs differing only in normalisation or list files must not share a cached dataset.
    a = TrainConfig.flat(dataset="list", data_dir="/d", mean=(0.1, 0.2, 0.3), std=(1, 1, 1))
    b = a.replace(mean=(0.5, 0.5, 0.5))
    c = a.replace(train_list="other.txt")
    cache = {a.data: "A"}
    assert b.data not in cache and c.data not in cache and a.replace(seed=9).data in cache
    # Every field of DataConfig is hashable data, none of the other parts' fields.
    assert {f.name for f in dataclasses.fields(DataConfig)} >= {"mean", "std", "train_list", "test_list"}


def test_load_run_keys_its_cache_by_the_whole_data_config(tmp_path, monkeypatch):
    import json
    import os

    from bkd_keras.run import run_records
    loaded = []
    monkeypatch.setattr("data.load_dataset", lambda data: loaded.append(data) or f"dataset {len(loaded)}")
    monkeypatch.setattr("keras.saving.load_model", lambda *a, **k: "model")
    monkeypatch.setattr("bkd_keras.run.stock_model.split_preprocessing", lambda model: (model, None, None))
    runs = []
    for name, mean in (("a", [0.1]), ("b", [0.9]), ("c", [0.1])):
        run = tmp_path / name
        os.makedirs(run / "export")
        (run / "export" / "model.keras").write_text("x")
        (run / "flags.json").write_text(json.dumps({"dataset": "digits", "mean": mean, "std": [1.0]}))
        runs.append(str(run))
    cache = {}
    datasets = [run_records.load_run(r, cache)[1] for r in runs]
    assert datasets == ["dataset 1", "dataset 2", "dataset 1"] and len(loaded) == 2


@pytest.mark.parametrize("recipe, method, epochs, switch", [
    # CIFAR-10-LT: every deferring method switches at 80% (160 of 200).
    ("cifar10_lt", "bkd", 200, 160), ("cifar10_lt", "weighted_kd", 200, 160),
    ("cifar10_lt", "ldam_drw", 200, 160), ("cifar10_lt", "ride", 200, 160),
    # CIFAR-100-LT: BKD's authors re-weight from the start; LDAM-DRW's and RIDE's still at 160.
    ("cifar100_lt", "bkd", 200, 0), ("cifar100_lt", "weighted_kd", 200, 0),
    ("cifar100_lt", "ldam_drw", 200, 160), ("cifar100_lt", "ride", 200, 160),
    ("cifar100_lt", "ldam_drw", 20, 16),
])
def test_deferral_belongs_to_the_method_within_a_recipe(recipe, method, epochs, switch):
    from bkd_keras.method.methods import METHODS
    from flags.presets import PRESETS
    config = MethodConfig(method=method, bkd_start_fraction=PRESETS[recipe].get(
        "bkd_start_fraction", MethodConfig().bkd_start_fraction))
    assert METHODS[method].switch_epoch(config, epochs) == switch
    # An explicit flag still overrides it.
    explicit = MethodConfig(method=method, bkd_start_fraction=0.5, bkd_start_epoch=7)
    assert METHODS[method].switch_epoch(explicit, epochs) == 7
    if method in ("ldam_drw", "ride"):
        own = MethodConfig(method=method, options=(("drw_start_fraction", 0.5),))
        assert METHODS[method].switch_epoch(own, epochs) == epochs // 2


@pytest.mark.parametrize("values, message", [
    (dict(dataset="imagenet"), "Unknown --dataset='imagenet'"),
    (dict(imbalance_type="linear"), "Unknown --imbalance_type='linear'"),
    (dict(imbalance_ratio=0.5), "--imbalance_ratio must be >= 1"),
    (dict(dataset="folder"), "--dataset=folder needs --data_dir"),
    (dict(augmentation="resized_crop"), "--augmentation=resized_crop streams image files"),
    (dict(backbone="vgg"), "Unknown --backbone='vgg'"),
    (dict(method="bkdd"), "Unknown --method='bkdd'"),
    (dict(method="la", la_tau=-1.0), "--la_tau must be > 0"),
    (dict(no_such_setting=1.0), "Unknown setting 'no_such_setting'"),
    (dict(lr_schedule="poly"), "Unknown --lr_schedule='poly'"),
    (dict(precision="int8"), "Unknown --precision='int8'"),
    (dict(bkd_start_fraction=1.5), "--bkd_start_fraction must be in"),
])
def test_each_part_is_checked_by_its_consumer(values, message):
    from bkd_keras.run.config import ConfigError
    from bkd_keras.run.runner import validate
    from data.spec import DataError
    with pytest.raises((ConfigError, DataError), match=message.replace("(", r"\(")):
        validate(TrainConfig.flat(**values))


def test_the_config_module_imports_no_tensorflow():
    import subprocess
    import sys
    # bkd_keras/__init__ imports the whole library; the config module itself must load without TF.
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('cfg', 'bkd_keras/run/config.py'); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m.TrainConfig.flat(epochs=3); "
            "print('tensorflow' in sys.modules)")
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
