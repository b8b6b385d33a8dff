"""Runs the CLI on each bad input and records exit code, seconds and the message it prints.

    python -m benchmarks.bad_inputs      # writes benchmarks/bad_inputs.md

Uses generated files in a temporary folder and the offline digits set; touches no network
(the TFDS case disables downloading) except the hub-handle case, which tries one 3-second
connection to show the offline error.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def _png(path, shape=(8, 8, 3)):
    import tensorflow as tf
    tf.io.write_file(path, tf.io.encode_png(np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)))


def make_tree(root, corrupt=False, empty_class=False):
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            os.makedirs(os.path.join(root, split, cls), exist_ok=True)
            for i in range(4):
                _png(os.path.join(root, split, cls, f"{i}.png"))
    if corrupt:
        open(os.path.join(root, "train", "dog", "2.png"), "wb").write(b"garbage")
    if empty_class:
        os.makedirs(os.path.join(root, "train", "fox"))
    return root


def make_texts(root, binary=False):
    for split in ("train", "test"):
        for c, words in enumerate(("goal match win", "shares bank profit")):
            os.makedirs(os.path.join(root, split, f"c{c}"), exist_ok=True)
            for i in range(6):
                with open(os.path.join(root, split, f"c{c}", f"{i}.txt"), "w") as f:
                    f.write(f"{words} {i}")
    if binary:
        with open(os.path.join(root, "train", "c0", "x.txt"), "wb") as f:
            f.write(b"\x00\x01\x02")
    return root


def _bert_preset(tmp, num_classes):
    """A tiny random keras-hub BERT classifier saved as a preset folder; returns the folder."""
    import keras_hub
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "goal", "match", "win", "shares", "bank", "profit"]
    classifier = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
                                      intermediate_dim=16, max_sequence_length=16),
        num_classes=num_classes,
        preprocessor=keras_hub.models.BertTextClassifierPreprocessor(keras_hub.models.BertTokenizer(vocabulary=vocab),
                                                                     sequence_length=16))
    path = os.path.join(tmp, f"bert{num_classes}")
    classifier.save_to_preset(path)
    return path


def make_unfinished_runs(tmp, good):
    """Unfinished run folders whose resume must be refused; returns {case: CLI args}."""
    def train(*args):
        subprocess.run([sys.executable, "-m", "bkd_keras.train", "--verbose=0", "--epochs=1", *args],
                       capture_output=True, check=True)

    def unfinish(out):      # as if killed after its last backup
        os.remove(os.path.join(out, "results.json"))

    data_copy = os.path.join(tmp, "data_copy")
    shutil.copytree(good, data_copy)
    base = ["--dataset=folder", "--imbalance_type=none", "--batch_size=2", "--stage=teacher"]
    train(*base, f"--data_dir={data_copy}", f"--output_dir={tmp}/resume_data")
    unfinish(f"{tmp}/resume_data")
    os.remove(os.path.join(data_copy, "train", "dog", "3.png"))
    teacher, other = (os.path.join(tmp, name, "export", "model.keras") for name in ("teacher_a", "teacher_b"))
    for out, seed in ((os.path.dirname(os.path.dirname(teacher)), 0), (os.path.dirname(os.path.dirname(other)), 1)):
        train("--stage=teacher", f"--seed={seed}", f"--output_dir={out}")
    train("--method=kd", "--stage=student", f"--teacher={teacher}", f"--output_dir={tmp}/resume_teacher")
    unfinish(f"{tmp}/resume_teacher")
    shutil.copyfile(other, teacher)
    broken = os.path.join(tmp, "resume_backups", "teacher", "backup")
    train("--stage=teacher", f"--output_dir={tmp}/resume_backups")
    unfinish(f"{tmp}/resume_backups")
    shutil.rmtree(os.path.join(tmp, "resume_backups", "teacher"))
    os.makedirs(broken)
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        with open(os.path.join(broken, name), "wb") as f:
            f.write(b"\x89HDF truncated")
    return {"data": [*base, f"--data_dir={data_copy}", f"--output_dir={tmp}/resume_data", "--epochs=1"],
            "teacher": ["--method=kd", "--stage=student", f"--teacher={teacher}", "--epochs=1",
                        f"--output_dir={tmp}/resume_teacher"],
            "backups": ["--stage=teacher", "--epochs=1", f"--output_dir={tmp}/resume_backups"]}


def main():
    tmp = tempfile.mkdtemp()
    good = make_tree(os.path.join(tmp, "good"))
    with open(os.path.join(good, "train.txt"), "w") as f:
        f.write("train/cat/0.png 0\ntrain/cat/1.png 0\ntrain/dog/0.png one\n")
    import keras  # noqa: F401
    from models import build_backbone
    build_backbone("small_cnn", 5, (8, 8, 1)).save(os.path.join(tmp, "teacher5.keras"))
    build_backbone("small_cnn", 10, (16, 16, 1)).save(os.path.join(tmp, "teacher16.keras"))
    finished = os.path.join(tmp, "finished")
    clean_texts = make_texts(os.path.join(tmp, "clean_texts"))
    texts = make_texts(os.path.join(tmp, "texts"), binary=True)
    missing = os.path.join(tmp, "missing")
    os.makedirs(missing)
    with open(os.path.join(missing, "train.txt"), "w") as f:
        f.write("a/0.jpg 0\na/1.jpg 1\n")
    with open(os.path.join(missing, "test.txt"), "w") as f:
        f.write("a/0.jpg 0\n")
    resumes = make_unfinished_runs(tmp, good)
    cases = [
        ("unknown dataset", ["--dataset=imagenet"]),
        ("unknown backbone", ["--backbone=resnet1000"]),
        ("unknown method", ["--method=focall"]),
        ("unknown strategy", ["--strategy=tpu"]),
        ("imbalance ratio < 1", ["--imbalance_ratio=0.5"]),
        ("a class left with zero images", ["--imbalance_ratio=1000"]),
        ("data directory does not exist", ["--dataset=folder", "--data_dir=/no/such/dir"]),
        ("data directory without images", ["--dataset=folder", f"--data_dir={tmp}"]),
        ("class folder with no image", ["--dataset=folder", f"--data_dir={make_tree(os.path.join(tmp, 'e'), empty_class=True)}"]),
        ("corrupt image", ["--dataset=folder", f"--data_dir={make_tree(os.path.join(tmp, 'c'), corrupt=True)}",
                           "--imbalance_type=none"]),
        ("list file with a bad line", ["--dataset=list", f"--data_dir={good}", "--imbalance_type=none"]),
        ("teacher with another class count", [f"--teacher={tmp}/teacher5.keras", "--stage=student"]),
        ("teacher with another input shape", [f"--teacher={tmp}/teacher16.keras", "--stage=student"]),
        ("TFDS dataset not downloaded (download off)", ["--dataset=cifar10", f"--data_dir={tmp}/tfds",
                                                        "--notfds_download"]),
        ("batch size larger than the dataset", ["--batch_size=100000"]),
        ("temperature <= 0", ["--temperature=0"]),
        ("beta outside [0, 1]", ["--beta=1.5"]),
        ("finished run without --overwrite", [f"--output_dir={finished}", "--epochs=1"]),
        # Text, scale-out and precision options.
        ("image backbone on text data", ["--dataset=text_folder", f"--data_dir={texts}", "--backbone=resnet32"]),
        ("mixup asked for on text", ["--dataset=text_folder", f"--data_dir={texts}", "--backbone=textcnn",
                                     "--mixup_alpha=1"]),
        ("binary file among the texts", ["--dataset=text_folder", f"--data_dir={texts}", "--backbone=textcnn",
                                         "--mixup_alpha=0", "--imbalance_type=none"]),
        ("word vectors file missing", ["--dataset=text_folder", f"--data_dir={clean_texts}", "--backbone=textcnn",
                                       "--mixup_alpha=0", "--imbalance_type=none", "--embeddings=/no/glove.txt",
                                       "--batch_size=4"]),
        ("listed image file missing", ["--dataset=list", f"--data_dir={missing}", "--imbalance_type=none",
                                       "--augmentation=resized_crop", "--backbone=resnet10"]),
        ("multi_worker without TF_CONFIG", ["--strategy=multi_worker"]),
        ("a method's setting <= 0", ["--method=la", "--la_tau=-1"]),
        ("deferred switch outside the schedule", ["--bkd_start_fraction=1.5"]),
        ("--pretrained on a backbone without weights", ["--pretrained=imagenet"]),
        # Teachers of another kind.
        ("unknown teacher backbone", ["--teacher_backbone=resnet1000"]),
        ("teacher preset folder missing", ["--dataset=text_folder", f"--data_dir={clean_texts}",
                                           "--backbone=textcnn", "--mixup_alpha=0", "--imbalance_type=none",
                                           f"--teacher_preset={tmp}/nope"]),
        ("teacher preset with another class count", ["--dataset=text_folder", f"--data_dir={clean_texts}",
                                                     "--backbone=textcnn", "--mixup_alpha=0", "--embeddings=random",
                                                     "--imbalance_type=none", "--batch_size=4",
                                                     f"--teacher_preset={_bert_preset(tmp, 3)}"]),
        ("hub handle offline", ["--dataset=text_folder", f"--data_dir={clean_texts}", "--backbone=textcnn",
                                "--mixup_alpha=0", "--embeddings=random", "--imbalance_type=none",
                                "--batch_size=4", "--teacher_preset=bert_tiny_en_uncased"]),
        # Resuming an unfinished run (folders prepared by make_unfinished_runs).
        ("negative --save_every_steps", ["--save_every_steps=-1"]),
        ("resume with changed data", resumes["data"]),
        ("resume with a replaced teacher", resumes["teacher"]),
        ("resume with both backups broken", resumes["backups"]),
    ]
    subprocess.run([sys.executable, "-m", "bkd_keras.train", f"--output_dir={finished}", "--epochs=1",
                    "--verbose=0"], capture_output=True, check=True)
    rows = ["| bad input | flags | exit | seconds | message |", "|---|---|---|---|---|"]
    for name, args in cases:
        if not any(a.startswith("--output_dir") for a in args):
            args = args + [f"--output_dir={tmp}/out-{len(rows)}"]
        start = time.time()
        r = subprocess.run([sys.executable, "-m", "bkd_keras.train", *args, "--verbose=0"],
                           capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        lines = [l for l in r.stderr.splitlines() if l.startswith("error:") or "FATAL" in l]
        message = (lines[-1] if lines else r.stderr.strip().splitlines()[-1]).replace(tmp, "TMP")
        shown = " ".join(a.replace(tmp, "TMP") for a in args if not a.startswith(f"--output_dir={tmp}/out"))
        rows.append(f"| {name} | `{shown}` | {r.returncode} | {time.time() - start:.1f} | {message.replace('|', '/')} |")
        print(rows[-1], flush=True)
    with open("benchmarks/bad_inputs.md", "w") as f:
        f.write("# Bad inputs and the message each gets\n\nGenerated by `python -m benchmarks.bad_inputs` "
                "(seconds include ~5 s of TensorFlow start-up; no training starts in any case).\n\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
