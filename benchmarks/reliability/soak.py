"""Soak test of resuming: one run killed many times at fixed random steps, resumed after each.

    python -m benchmarks.reliability.soak                       # 20 kills (10 SIGKILL, 10 SIGTERM), digits
    python -m benchmarks.reliability.soak --overhead_data_dir=/tmp/data/cifar10-jpeg   # + backup overhead

Part 1: a deterministic digits run (CE teacher, then BKD student with mixup) backs up every
`--backup_every` steps; a copy of it is killed `--kills` times at steps drawn with
`--kill_seed` (alternating SIGKILL and SIGTERM) and rerun after each kill. Reported: whether its
final weights equal the uninterrupted run's, and the steps recomputed (done after the last
backup before a kill). Part 2 (optional): the wall time of one ResNet-32 CIFAR-10-LT teacher
epoch with backups every 50 and every 200 steps, as a ratio to per-epoch backups, in one run.
Writes benchmarks/results/soak_results.json and prints a Markdown table.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("kills", 20, "How many times the run is killed.")
flags.DEFINE_integer("kill_seed", 0, "Seed of the kill points.")
flags.DEFINE_integer("run_epochs", 6, "Epochs of each stage of the digits run.")
flags.DEFINE_integer("backup_every", 5, "Backup interval of the digits run.")
flags.DEFINE_string("overhead_data_dir", None, "cifar10-jpeg tree for the overhead measurement (skipped if unset).")
flags.DEFINE_string("output", "benchmarks/results/soak_results.json", "Where to write the results (parts not run "
                    "this time are kept from the file).")
flags.DEFINE_list("parts", ["kill", "overhead"], "kill: the kill-and-resume soak; overhead: backup cost "
                  "(needs --overhead_data_dir).")
flags.DEFINE_string("worker", None, "Internal: run the digits run in this folder, killing itself at --kill_at.")
flags.DEFINE_integer("kill_at", -1, "Internal: global step (over both stages) at which the worker is signalled.")
flags.DEFINE_string("kill_signal", "SIGKILL", "Internal: the signal the worker sends itself.")
FLAGS = flags.FLAGS

BATCH = 32


def digits_config(out):
    from bkd_keras.run.config import TrainConfig
    return TrainConfig.flat(dataset="digits", backbone="small_cnn", method="bkd", epochs=FLAGS.run_epochs,
                            batch_size=BATCH, imbalance_ratio=20.0, learning_rate=0.05, mixup_alpha=0.4,
                            eval_every=0, verbose=0, output_dir=out, seed=3,
                            save_every_steps=FLAGS.backup_every)


def run_worker():
    """The digits run in FLAGS.worker; signals itself at global step FLAGS.kill_at."""
    import keras
    import tensorflow as tf

    from bkd_keras.train import execute
    from data import load_dataset, steps_per_epoch
    tf.config.experimental.enable_op_determinism()
    steps = steps_per_epoch(load_dataset("digits", imbalance_ratio=20.0), BATCH)

    class KillAt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            stage_offset = 0 if self.model.teacher is None else FLAGS.run_epochs * steps
            done_in_epoch = steps - self.params["steps"] + batch     # a resumed epoch runs fewer steps
            if stage_offset + self.epoch * steps + done_in_epoch == FLAGS.kill_at:
                os.kill(os.getpid(), getattr(signal, FLAGS.kill_signal))

    return execute(lambda: digits_config(FLAGS.worker), extra_callbacks=[KillAt()])


def spawn(out, kill_at=-1, sig="SIGKILL"):
    return subprocess.run([sys.executable, "-m", "benchmarks.reliability.soak", f"--worker={out}", f"--kill_at={kill_at}",
                           f"--kill_signal={sig}", f"--run_epochs={FLAGS.run_epochs}",
                           f"--backup_every={FLAGS.backup_every}"],
                          capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def position(out, steps):
    """Global step of the run's latest backup (over both stages)."""
    for offset, stage in ((FLAGS.run_epochs * steps, "student"), (0, "teacher")):
        path = os.path.join(out, stage, "backup", "training_metadata.json")
        if os.path.exists(path):
            meta = json.load(open(path))
            return offset + meta["epoch"] * steps + meta.get("step", 0)
        if stage == "student" and os.path.exists(os.path.join(out, "teacher", "stage.json")):
            return FLAGS.run_epochs * steps
    return 0


def kill_part(tmp):
    import keras

    import models  # noqa: F401
    from data import load_dataset, steps_per_epoch
    steps = steps_per_epoch(load_dataset("digits", imbalance_ratio=20.0), BATCH)
    total = 2 * FLAGS.run_epochs * steps
    ref, soaked = os.path.join(tmp, "ref"), os.path.join(tmp, "soaked")
    start = time.time()
    if spawn(ref).returncode:
        raise SystemExit("the uninterrupted run failed")
    ref_seconds = time.time() - start
    rng = np.random.default_rng(FLAGS.kill_seed)
    points = sorted(rng.choice(np.arange(1, total), size=FLAGS.kills, replace=False).tolist())
    kills, start = [], time.time()
    for i, point in enumerate(points):
        sig = "SIGKILL" if i % 2 == 0 else "SIGTERM"
        r = spawn(soaked, point, sig)
        expected = -9 if sig == "SIGKILL" else 143
        if r.returncode != expected:
            raise SystemExit(f"kill {i + 1} at step {point} ({sig}) exited {r.returncode}:\n{r.stderr[-2000:]}")
        resumed = position(soaked, steps)
        # SIGKILL loses the steps done since the last backup; SIGTERM finishes its step and saves it.
        kills.append({"step": point, "signal": sig, "resumes_at": resumed,
                      "recomputed": point - resumed if sig == "SIGKILL" else point + 1 - resumed})
        print(f"kill {i + 1:2d}: {sig} at step {point}, resumes at {resumed}", flush=True)
    if spawn(soaked).returncode:
        raise SystemExit("the final resume failed")
    soaked_seconds = time.time() - start
    weights = [keras.saving.load_model(os.path.join(d, "export", "model.keras")).get_weights() for d in (ref, soaked)]
    equal = all(np.array_equal(a, b) for a, b in zip(*weights))
    return {"total_steps": total, "kills": kills, "final_weights_equal": bool(equal),
            "steps_recomputed": int(sum(k["recomputed"] for k in kills)),
            "uninterrupted_seconds": ref_seconds, "soaked_seconds_with_restarts": soaked_seconds}


def overhead_part(tmp):
    """Images/s of one ResNet-32 CIFAR-10-LT teacher epoch per backup interval, in one run
    (per-epoch backups first and last, to see the drift)."""
    rows = {}
    for every in (0, 50, 200, 0):
        out = os.path.join(tmp, f"cifar-{every}-{len(rows)}")
        subprocess.run([sys.executable, "-m", "bkd_keras.train", "--dataset=folder",
                        f"--data_dir={FLAGS.overhead_data_dir}", "--preset=cifar10_lt", "--stage=teacher",
                        "--epochs=1", "--eval_every=0", "--verbose=0", f"--save_every_steps={every}",
                        f"--output_dir={out}"], check=True, capture_output=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        rate = float(json.load(open(os.path.join(out, "teacher", "stage.json")))["images_per_sec"])
        rows.setdefault(every, []).append(rate)
        print(f"save_every_steps={every}: {rate:.1f} images/s", flush=True)
    base = float(np.mean(rows[0]))
    return {str(k): {"images_per_sec": float(np.mean(v)), "ratio_to_per_epoch": float(np.mean(v)) / base}
            for k, v in rows.items()}


def main(argv):
    del argv
    if FLAGS.worker:
        sys.exit(run_worker())
    result = json.load(open(FLAGS.output)) if os.path.exists(FLAGS.output) else {}
    command = "python -m benchmarks.reliability.soak " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        if "kill" in FLAGS.parts:
            result["kill"] = dict(kill_part(tmp), command=command)
        if "overhead" in FLAGS.parts and FLAGS.overhead_data_dir:
            result["overhead"] = dict(overhead_part(tmp), command=command)
    with open(FLAGS.output, "w") as f:
        json.dump(result, f, indent=1)
    k = result["kill"]
    print(f"\n| kills | SIGKILL / SIGTERM | steps in the run | steps recomputed | final weights equal |\n"
          f"|---|---|---|---|---|\n| {len(k['kills'])} | {sum(x['signal'] == 'SIGKILL' for x in k['kills'])} / "
          f"{sum(x['signal'] == 'SIGTERM' for x in k['kills'])} | {k['total_steps']} | {k['steps_recomputed']} | "
          f"{k['final_weights_equal']} |")
    for every, row in result.get("overhead", {}).items():
        if every == "command":
            continue
        print(f"save_every_steps={every}: {row['images_per_sec']:.1f} images/s, x{row['ratio_to_per_epoch']:.3f}")


if __name__ == "__main__":
    app.run(main)
