"""Where the time of a BKD student step goes, by TensorFlow's profiler: every op of real `fit` steps.

    python -m benchmarks.speed_lab.op_profile --precision=bfloat16 --pause_pids=PID

Trains the ResNet-32 BKD student stage (CIFAR-10-LT rho 100, batch 128, mixup, BKD on) with
`fit` and Keras' TensorBoard callback tracing --steps steps after --warmup (`profile_batch`).
The trace (`plugins/profile/*/*.xplane.pb`, TensorFlow's XSpace protobuf) holds one event per
executed op, "scope/name:OpType", on the executor's threads. Their durations are summed per
part of the step: the student's convolutions forward and backward, its BatchNorm forward and
backward, its other element-wise ops (ReLU, residual adds, casts), the frozen teacher's forward,
the optimizer update, and the rest (mixup, the losses, metrics, the finite-gradient check).
An op's time includes the intra-op threads it waits for; independent ops may overlap on the two
inter-op threads, so the parts can add up to more than the step's wall time, which is also given
(the profiled steps' span, per step), and the gap is per-step dispatch and waiting on `tf.data`.
Writes --output and prints a Markdown table.
"""

import collections
import glob
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks.speed_lab import machine  # noqa: E402
from benchmarks.speed_lab.pausing import paused  # noqa: E402
from benchmarks.speed_lab.student_stage import PRECISIONS, bkd_student_stage  # noqa: E402
from benchmarks.speed_lab.tf_trace import PARTS, classify, model_scopes, op_events  # noqa: E402
import bkd_keras  # noqa: E402,F401  (before TensorFlow: its CPU kernel setting, as in training)

flags.DEFINE_string("data_dir", "/tmp/data/cifar10-jpeg", "Extracted cifar10-jpeg tree (../shared/datasets).")
flags.DEFINE_enum("precision", "float32", list(PRECISIONS), "Student and teacher precision (bfloat16: mixed).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("warmup", 10, "Steps before the trace (tracing, oneDNN primitive caches).")
flags.DEFINE_integer("steps", 10, "Steps traced.")
flags.DEFINE_list("pause_pids", [], "Processes to SIGSTOP while profiling.")
flags.DEFINE_string("output", "benchmarks/results/op_profile.json", "Results file.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras

    from data import train_dataset

    if not os.path.isdir(FLAGS.data_dir):
        raise app.UsageError(f"{FLAGS.data_dir} not found: tar xzf ../shared/datasets/cifar10-jpeg.tar.gz -C /tmp/data")
    distiller, dataset = bkd_student_stage(FLAGS.data_dir, FLAGS.batch_size, precision=FLAGS.precision)
    batches = train_dataset(dataset, FLAGS.batch_size, seed=0, repeat=True, mixup_alpha=1.0)
    with tempfile.TemporaryDirectory() as logdir, paused(FLAGS.pause_pids):
        board = keras.callbacks.TensorBoard(logdir, write_graph=False, profile_batch=(
            FLAGS.warmup + 1, FLAGS.warmup + FLAGS.steps))
        distiller.fit(batches, epochs=1, steps_per_epoch=FLAGS.warmup + FLAGS.steps + 1, callbacks=[board], verbose=0)
        traces = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
        if not traces:
            raise RuntimeError(f"TensorFlow's profiler wrote no trace under {logdir}")
        events = op_events(traces[0])
    student, teacher = model_scopes(events, {distiller.student.name, distiller.teacher.name})
    if not student or not teacher:
        raise RuntimeError(f"could not tell the student's ops from the teacher's (scopes {student}, {teacher})")
    by_type = collections.defaultdict(collections.Counter)   # part -> op type -> ms per step
    for name, op_type, _, duration in events:
        by_type[classify(name, op_type, student, teacher, distiller.optimizer.name)][op_type] += \
            duration / 1e9 / FLAGS.steps
    ms = {part: sum(by_type[part].values()) for part in PARTS}
    span = (max(s + d for _, _, s, d in events) - min(s for _, _, s, _ in events)) / 1e9 / FLAGS.steps
    total = sum(ms.values())
    results = {part: {"ms_per_step": ms[part], "share_of_op_time": ms[part] / total,
                      "top_op_types": dict(by_type[part].most_common(6))} for part in PARTS}
    out = {"command": f"python -m benchmarks.speed_lab.op_profile --precision={FLAGS.precision} --steps={FLAGS.steps}",
           "machine": machine.describe(), "precision": FLAGS.precision, "batch_size": FLAGS.batch_size,
           "steps": FLAGS.steps, "op_time_ms_per_step": total, "wall_ms_per_step": span,
           "images_per_sec_while_traced": FLAGS.batch_size / span * 1000, "parts": results}
    with open(FLAGS.output, "w") as f:
        json.dump(out, f, indent=1)
    print(f"\n{out['machine']}, {FLAGS.precision}, TensorFlow's profiler, {FLAGS.steps} steps\n")
    print("| part of the BKD student step | op time, ms per batch of 128 | share | largest op types |\n|---|---|---|---|")
    for part, r in results.items():
        top = ", ".join(f"{t} {v:.0f}" for t, v in list(r["top_op_types"].items())[:3])
        print(f"| {part} | {r['ms_per_step']:.1f} | {100 * r['share_of_op_time']:.0f}% | {top} |")
    print(f"| all ops | {total:.1f} | 100% | |")
    print(f"| wall time per step (traced span) | {span:.1f} | | |")


if __name__ == "__main__":
    app.run(main)
