"""Runs the CLI on each bad input and records exit code, seconds and the message it prints.

    python -m benchmarks.reliability.bad_inputs      # writes benchmarks/results/bad_inputs.md

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


def _gray_first_tree(root):
    make_tree(root)
    _png(os.path.join(root, "train", "cat", "0.png"), (8, 8, 1))     # the first file the scan meets
    return root


def _lists(root, train, test):
    for name, lines in (("train.txt", train), ("test.txt", test)):
        with open(os.path.join(root, name), "w", encoding="utf-8-sig") as f:    # with a byte-order mark
            f.write("\n".join(lines) + "\n")
    return root


def _table(root, rows, test_rows):
    os.makedirs(root)
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(root, "test.csv"), "w") as f:
        f.write("\n".join(test_rows) + "\n")
    return root


def folder_and_data_cases(tmp, good, finished):
    """Cases of the run folder's safety and of data that must not quietly change shape:
    [(name, args, folder whose files must all survive or None)]."""
    lists = [f"train/{c}/{i}.png {n}" for n, c in enumerate(("cat", "dog")) for i in range(3)]
    tests = ["test/cat/0.png 0", "test/dog/0.png 1"]
    listed = lambda name, train, test=tests: _lists(make_tree(os.path.join(tmp, name)), train, test)  # noqa: E731
    rows = ["sports,goal", "Sports ,match", "SPORTS,win", "business,bank", "business,shares", "tech,chip", "tech,code"]
    mine = os.path.join(tmp, "mine")
    os.makedirs(mine)
    with open(os.path.join(mine, "thesis.tex"), "w") as f:
        f.write("years of work")
    broken_flags = os.path.join(tmp, "broken_flags")
    os.makedirs(broken_flags)
    with open(os.path.join(broken_flags, "flags.json"), "w") as f:
        f.write("{not json")
    with open(os.path.join(tmp, "junk.keras"), "wb") as f:
        f.write(b"PK\x03\x04 truncated")
    short = ["--epochs=3", "--warmup_epochs=0"]      # a schedule with all its stages: no schedule notes
    text = ["--dataset=text_table", "--backbone=textcnn", "--mixup_alpha=0", "--embeddings=random",
            "--imbalance_type=none", "--batch_size=2", *short]
    tree = ["--dataset=folder", "--imbalance_type=none", "--batch_size=2", *short]
    return [
        ("--overwrite of a finished run, --data_dir typo", ["--overwrite", f"--output_dir={finished}",
                                                            "--dataset=folder", f"--data_dir={tmp}/goood"], finished),
        ("--overwrite of a finished run, batch too large", ["--overwrite", f"--output_dir={finished}",
                                                            "--batch_size=100000"], finished),
        ("--overwrite with the data folder as --output_dir", [*tree, "--overwrite", f"--data_dir={good}",
                                                              f"--output_dir={good}"], good),
        ("--overwrite of a folder that is not a run", [*tree, "--overwrite", f"--data_dir={good}",
                                                       f"--output_dir={mine}"], mine),
        ("--output_dir is a file", [f"--output_dir={tmp}/junk.keras"], None),
        ("--output_dir under a file", [f"--output_dir={tmp}/junk.keras/run"], None),
        ("run folder in use by another process", ["--epochs=1", f"--output_dir={tmp}/locked"], None),
        ("invalid JSON in flags.json", [f"--output_dir={broken_flags}"], broken_flags),
        ("junk .keras as --teacher", ["--method=kd", "--stage=student", f"--teacher={tmp}/junk.keras"], None),
        ("first image grayscale in a colour tree (trains)", [*tree, f"--data_dir={_gray_first_tree(os.path.join(tmp, 'gray'))}"], None),
        ("a folder named x.png among the images (trains)",
         [*tree, f"--data_dir={_dir_named_like_an_image(make_tree(os.path.join(tmp, 'xdir')))}"], None),
        ("only one class", ["--dataset=folder", "--imbalance_type=none",
                            f"--data_dir={_one_class(os.path.join(tmp, 'one'))}"], None),
        ("list with a duplicate entry", ["--dataset=list", "--imbalance_type=none",
                                         f"--data_dir={listed('dup', lists + [lists[0]])}"], None),
        ("list with a test image in train", ["--dataset=list", "--imbalance_type=none",
                                             f"--data_dir={listed('leak', lists + ['test/cat/0.png 0'])}"], None),
        ("list with 1-based labels", ["--dataset=list", "--imbalance_type=none", f"--data_dir={listed('one_based', [l[:-1] + str(int(l[-1]) + 1) for l in lists], ['test/cat/0.png 1', 'test/dog/0.png 2'])}"], None),
        ("list with a BOM, train.txt also in the current directory (trains)",
         ["--dataset=list", "--imbalance_type=none", "--batch_size=2", *short,
          f"--data_dir={listed('bom', lists)}"], None),
        ("text table header 'category,text'", [*text, f"--data_dir={_table(os.path.join(tmp, 'hdr'), ['category,text'] + rows, ['tech,cpu'])}"], None),
        ("text table labels differing in case / spaces (trains)",
         [*text, f"--data_dir={_table(os.path.join(tmp, 'case'), rows, ['tech,cpu', 'sports,ball'])}"], None),
        ("5 epochs, no preset (trains)", ["--dataset=folder", "--imbalance_type=none", "--batch_size=2",
                                          f"--data_dir={good}", "--epochs=5"], None),
        ("2 epochs, no preset (trains)", ["--dataset=folder", "--imbalance_type=none", "--batch_size=2",
                                          f"--data_dir={good}", "--epochs=2"], None),
    ]


def _dir_named_like_an_image(root):
    os.makedirs(os.path.join(root, "train", "cat", "x.png"))
    return root


def _one_class(root):
    make_tree(root)
    for split in ("train", "test"):
        shutil.rmtree(os.path.join(root, split, "dog"))
    return root


def _files(folder):
    """{relative path: bytes} of every file under `folder`."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                out[os.path.relpath(os.path.join(root, name), folder)] = f.read()
    return out


def _message(result, tmp, schedule=False):
    """The error line, else the run's warning and note lines (with `schedule`, also the teacher's LR
    table), else that it trained."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:") or "FATAL" in line]
    warnings = [line.strip() for line in result.stdout.splitlines() if "WARNING" in line or "note:" in line
                or (schedule and line.startswith("[teacher] LR by epoch"))]
    if errors:
        message = errors[-1]
    elif warnings:
        message = " / ".join(warnings)
    elif result.returncode == 0:
        message = "(trained; no message)"
    else:
        message = result.stderr.strip().splitlines()[-1]
    return message.replace(tmp, "TMP")


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
                                           f"--teacher_hub_preset={tmp}/nope"]),
        ("teacher preset with another class count", ["--dataset=text_folder", f"--data_dir={clean_texts}",
                                                     "--backbone=textcnn", "--mixup_alpha=0", "--embeddings=random",
                                                     "--imbalance_type=none", "--batch_size=4",
                                                     f"--teacher_hub_preset={_bert_preset(tmp, 3)}"]),
        ("hub handle offline", ["--dataset=text_folder", f"--data_dir={clean_texts}", "--backbone=textcnn",
                                "--mixup_alpha=0", "--embeddings=random", "--imbalance_type=none",
                                "--batch_size=4", "--teacher_hub_preset=bert_tiny_en_uncased"]),
        # Resuming an unfinished run (folders prepared by make_unfinished_runs).
        ("negative --save_every_steps", ["--save_every_steps=-1"]),
        ("resume with changed data", resumes["data"]),
        ("resume with a replaced teacher", resumes["teacher"]),
        ("resume with both backups broken", resumes["backups"]),
    ]
    subprocess.run([sys.executable, "-m", "bkd_keras.train", f"--output_dir={finished}", "--epochs=1",
                    "--verbose=0"], capture_output=True, check=True)
    cases = [(name, args, None) for name, args in cases] + folder_and_data_cases(tmp, good, finished)
    # A process holding the lock of TMP/locked for the "in use" case.
    holder = subprocess.Popen([sys.executable, "-c", "import time; from bkd_keras.run.config import TrainConfig; "
                               "from bkd_keras.run.run_folder import RunFolder; "
                               f"f = RunFolder(TrainConfig.flat(output_dir='{tmp}/locked')); f._acquire(); "
                               "print('locked', flush=True); time.sleep(3600)"], stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    stray = os.path.join(tmp, "cwd")      # a train.txt in the current directory must not be read
    os.makedirs(stray)
    with open(os.path.join(stray, "train.txt"), "w") as f:
        f.write("nothing/here.png 0\n")
    rows = ["| bad input | flags | exit | seconds | message |", "|---|---|---|---|---|"]
    for name, args, keep in cases:
        if not any(a.startswith("--output_dir") for a in args):
            args = args + [f"--output_dir={tmp}/out-{len(rows)}"]
        before = _files(keep) if keep else None
        start = time.time()
        r = subprocess.run([sys.executable, "-m", "bkd_keras.train", *args, "--verbose=0"], cwd=stray,
                           capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                                                                    PYTHONPATH=os.getcwd()))
        message = _message(r, tmp, schedule="epochs, no preset" in name)
        if keep:
            after = _files(keep)
            kept = sum(after.get(path) == data for path, data in before.items())
            message += f" ({kept} of {len(before)} files in {keep.replace(tmp, 'TMP')} unchanged)"
        shown = " ".join(a.replace(tmp, "TMP") for a in args if not a.startswith(f"--output_dir={tmp}/out"))
        rows.append(f"| {name} | `{shown}` | {r.returncode} | {time.time() - start:.1f} | {message.replace('|', '/')} |")
        print(rows[-1], flush=True)
    holder.kill()
    with open("benchmarks/results/bad_inputs.md", "w") as f:
        f.write("# Bad inputs and the message each gets\n\nGenerated by `python -m benchmarks.reliability.bad_inputs` "
                "(seconds include ~5 s of TensorFlow start-up). Rows marked \"(trains)\" are inputs that are "
                "accepted and corrected, with the warning shown; every other row is refused before training "
                "starts. For cases run on an existing folder, the count of its files left unchanged is given.\n\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
