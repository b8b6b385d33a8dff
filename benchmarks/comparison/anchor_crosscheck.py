"""The authors' finished 200-epoch models, evaluated by this project's code beside its own.

    python -m benchmarks.comparison.anchor_e200 crosscheck

Converts the authors' ResNet-32 checkpoints (`ckpt.pth.tar` of the teacher and the student stage)
into this project's `resnet_cifar(10, depth=32)` and then, on the same test split and with the same
evaluation code as the project's runs:
- checks the conversion: logits of the torch model and of the converted Keras model on the first
  256 test images (max |difference|), and the converted model's top-1 against the harness's own;
- the top-1 and per-class accuracy of all four models (authors' / project's teacher and student; the
  project's are its shipped models);
- how often the two students, and the two teachers, predict the same class;
- each teacher's balanced-target fit on the training set (beta 0.9999, T 2, the student's target):
  the share of each class's images whose target keeps the label, and the mean target mass of it.
Each converted model is saved beside its checkpoint as model.keras, so this project's student can be
trained from the authors' teacher (`--teacher=ANCHOR_RUNS/teacher-e200/model.keras`).
Needs the anchor's Python (torch) for the checkpoints only.
"""

import os
import subprocess
import tempfile

import numpy as np

STAGES = {"teacher": ("teacher-e200", "cifar10-exp100-e200-s0-ce"),
          "student": ("student-e200", "cifar10-exp100-e200-s0-bkd")}
SHIPPED = {"teacher": "cifar10_lt100_resnet32_ce_e200", "student": "cifar10_lt100_resnet32_bkd_e200"}
CHECKPOINT = "ckpt.pth.tar"   # the harness's last-epoch weights (a finished teacher: the student's --teacher)
CONVERTED = "model.keras"     # the checkpoint converted to this project's resnet32
BETA, TEMPERATURE = 0.9999, 2.0   # the paper's balanced target on CIFAR-10-LT

# Runs the authors' model class on the given NCHW images and dumps its state dict.
_TORCH = """
import sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
from bkd_official.resnet_cifar import resnet32
ckpt = torch.load(sys.argv[2], map_location="cpu", weights_only=False)
model = resnet32(num_classes=10)
model.load_state_dict(ckpt["state_dict"])
model.eval()
with torch.no_grad():
    logits = model(torch.from_numpy(np.load(sys.argv[3]))).numpy()
np.savez(sys.argv[4], logits=logits, epoch=ckpt["epoch"],
         **{k: v.numpy() for k, v in ckpt["state_dict"].items() if v.dtype.is_floating_point})
"""
ANCHOR_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "anchors", "official-bkd-pytorch")


def _torch_names(keras_name):
    """The torch state-dict prefix of one of resnet_cifar's layers (depth 32)."""
    if keras_name in ("stem_conv", "stem_bn"):
        return {"stem_conv": "conv1", "stem_bn": "bn1"}[keras_name]
    if keras_name == "logits":
        return "linear"
    stage, block, part = keras_name.split("_")          # stage2_block3_conv1 -> layer2.2.conv1
    return f"layer{stage[5:]}.{int(block[5:]) - 1}.{part}"


def convert(state):
    """This project's ResNet-32 carrying the weights of the authors' state dict (name -> array)."""
    from models.resnet_cifar import resnet_cifar
    model = resnet_cifar(10, depth=32)
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = _torch_names(layer.name)
        if "conv" in layer.name:
            weights = [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]          # OIHW -> HWIO
            used |= {f"{prefix}.weight"}
        elif "bn" in layer.name:
            keys = [f"{prefix}.{k}" for k in ("weight", "bias", "running_mean", "running_var")]
            weights, used = [state[k] for k in keys], used | set(keys)
        else:
            weights = [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
            used |= {f"{prefix}.weight", f"{prefix}.bias"}
        layer.set_weights(weights)
    unused = set(state) - used - {"logits", "epoch"}
    if unused:
        raise ValueError(f"Checkpoint tensors not mapped onto resnet32: {sorted(unused)[:5]}")
    return model


def _anchor_model(path, python, probe):
    """(converted Keras model, torch logits on `probe` (N,32,32,3), the checkpoint's epoch)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"No {path}: has that stage of the authors' code finished?")
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), np.ascontiguousarray(probe.transpose(0, 3, 1, 2)))
        subprocess.run([python, "-c", _TORCH, os.path.abspath(ANCHOR_DIR), path,
                        os.path.join(tmp, "x.npy"), os.path.join(tmp, "w.npz")], check=True)
        state = dict(np.load(os.path.join(tmp, "w.npz")))
    return convert(state), state["logits"], int(state["epoch"])


def _fit(logits, labels, counts):
    from bkd_keras.method.losses import effective_number_weights
    from bkd_keras.scoring.diagnostics import balanced_target_fit
    fit = balanced_target_fit(logits, labels, effective_number_weights(counts, BETA), TEMPERATURE)
    return {k: [round(v, 2) for v in fit[k]] for k in ("teacher_top1", "target_top1", "target_mass")}


def crosscheck(anchor_runs, models_dir, python):
    """The report (a JSON-ready dict) described at the top of this module."""
    from bkd_keras.run.run_records import load_run
    from bkd_keras.scoring.evaluation import classification_report
    from bkd_keras.scoring.prediction import predict_logits
    from data import eval_dataset
    cache, report, test_logits = {}, {"beta": BETA, "T": TEMPERATURE}, {}
    for stage, (folder, _) in STAGES.items():
        _, dataset, project_model = load_run(os.path.join(models_dir, SHIPPED[stage]), cache)
        probe = next(iter(eval_dataset(dataset, 256, "test")))[0].numpy()     # normalised, as evaluated
        anchor_model, torch_logits, epoch = _anchor_model(os.path.join(anchor_runs, folder, CHECKPOINT),
                                                          python, probe)
        # Beside the checkpoint, for this project's stages: --teacher=ANCHOR_RUNS/teacher-e200/model.keras
        anchor_model.save(os.path.join(anchor_runs, folder, CONVERTED))
        counts, labels = dataset.class_counts, dataset.test.labels
        entry = report[stage] = {"anchor_checkpoint_epoch": epoch, "conversion_max_abs_logit_diff": float(
            np.abs(anchor_model.predict(probe, verbose=0) - torch_logits).max())}
        for who, model in (("authors", anchor_model), ("project", project_model)):
            test_logits[stage, who] = predict_logits(model, dataset, "test")
            r = classification_report(labels, test_logits[stage, who], counts)
            entry[who] = {"top1": round(r["top1"], 2), "per_class": [round(v, 2) for v in r["per_class"]]}
            if stage == "teacher":
                entry[who]["balanced_target_fit"] = _fit(predict_logits(model, dataset, "train"),
                                                         dataset.train.labels, counts)
        same = test_logits[stage, "authors"].argmax(-1) == test_logits[stage, "project"].argmax(-1)
        entry["same_prediction_percent"] = round(float(same.mean() * 100), 2)
        print(f"{stage}: conversion max |dlogit| {entry['conversion_max_abs_logit_diff']:.2e} (epoch {epoch}); "
              f"top-1 authors {entry['authors']['top1']} project {entry['project']['top1']}; "
              f"same prediction on {entry['same_prediction_percent']}% of the test images")
    for who in ("authors", "project"):
        fit = report["teacher"][who]["balanced_target_fit"]
        print(f"{who} teacher: label kept % {fit['target_top1']}; label mass % {fit['target_mass']}")
    return report
