"""LiteRT files of finished image models beside the Keras model: size, single-thread latency, top-1
and agreement with Keras on the whole test split (docs/usage.md "Deploying with LiteRT").

    python -m benchmarks.studies.litert_export --name=cifar10_lt100_resnet32_bkd_e200 \
        --run=benchmarks/models/cifar10_lt100_resnet32_bkd_e200 --data_dir=/tmp/data/cifar10-jpeg

For the run (or shipped model) folder: its stock-Keras classifier (uint8 in, bkd_keras/run/stock_model.py)
and the LiteRT files of --kinds (bkd_keras/run/litert.py; int8 calibrated on --calibration training
images). Each is timed on one thread, one image at a time (median of --latency_images calls after
a warm-up; Keras: `predict_on_batch`; each file also on TensorFlow's deprecated tf.lite.Interpreter),
and run over every test image; agreement is the fraction of
test images whose top class equals the Keras model's. --pause_pids are stopped while timing.
Writes the rows under --name into --output (JSON) and prints a Markdown table.
"""

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from benchmarks.speed_lab import machine  # noqa: E402
from benchmarks.speed_lab.pausing import paused  # noqa: E402

flags.DEFINE_string("run", None, "A finished run folder or a shipped model's folder (benchmarks/models/NAME).")
flags.DEFINE_string("name", None, "Key of this comparison in --output.")
flags.DEFINE_string("data_dir", None, "The data tree, when it is not where the run found it.")
flags.DEFINE_list("kinds", ["fp32", "fp16", "int8"], "LiteRT kinds to export and measure.")
flags.DEFINE_integer("calibration", 256, "Training images that calibrate int8's activation ranges.")
flags.DEFINE_integer("latency_images", 300, "Single-image calls timed per model (the median is reported).")
flags.DEFINE_list("pause_pids", [], "Processes to SIGSTOP while timing (e.g. a long run's trainer).")
flags.DEFINE_string("output", "benchmarks/results/litert_results.json", "Results file (entries keyed by --name).")
flags.mark_flags_as_required(["run", "name"])
FLAGS = flags.FLAGS


def median_latency_ms(call, images):
    """Median milliseconds of `call(image[None])` over `images` (after one warm-up call)."""
    call(images[:1])
    times = []
    for i in range(len(images)):
        start = time.perf_counter()
        call(images[i:i + 1])
        times.append(time.perf_counter() - start)
    return 1000.0 * float(sorted(times)[len(times) // 2])


def _row(kind, size, latency, logits, labels, reference):
    return {"model": kind, "size_mb": size / 1e6, "latency_ms": latency,
            "top1": 100.0 * float((logits.argmax(1) == labels).mean()),
            "agreement": 100.0 * float((logits.argmax(1) == reference).mean())}


def main(argv):
    del argv
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from bkd_keras.run import litert
    from bkd_keras.run.io_utils import update_json_entry
    from bkd_keras.run.run_records import load_run
    from bkd_keras.run.stock_model import stock_classifier

    _, dataset, model = load_run(FLAGS.run, data_dir=FLAGS.data_dir)
    images, labels = dataset.test.images, dataset.test.labels
    stock = stock_classifier(model, dataset.mean, dataset.std, strict=False)
    timed = images[:FLAGS.latency_images]
    with tempfile.TemporaryDirectory() as tmp:
        keras_path = os.path.join(tmp, "model.keras")
        stock.save(keras_path)
        paths = litert.export_litert(stock, tmp, FLAGS.kinds, litert.calibration_images(dataset, FLAGS.calibration))
        reference_logits = stock.predict(images, batch_size=500, verbose=0)
        reference = reference_logits.argmax(1)
        with paused(FLAGS.pause_pids):
            rows = [_row("keras", os.path.getsize(keras_path), median_latency_ms(stock.predict_on_batch, timed),
                         reference_logits, labels, reference)]
            for kind, path in paths.items():
                runner = litert.LiteRTClassifier(path, threads=1)
                latency = median_latency_ms(runner.predict, timed)
                rows.append(_row(f"litert {kind}", os.path.getsize(path), latency,
                                 runner.predict(images, batch_size=100), labels, reference))
                # the same file on TensorFlow's deprecated tf.lite.Interpreter, for the choice of runtime
                rows[-1]["latency_ms_tf_lite"] = median_latency_ms(
                    litert.LiteRTClassifier(path, threads=1, runtime="tf.lite").predict, timed)
    entry = {"machine": machine.describe(), "run": FLAGS.run, "test_images": int(len(labels)),
             "calibration_images": FLAGS.calibration, "threads": 1, "rows": rows}
    update_json_entry(FLAGS.output, FLAGS.name, entry)
    print(f"| {FLAGS.name} | size MB | latency ms (1 thread, 1 image) | same on tf.lite | top-1 % | agrees with Keras % |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        tf_lite = f"{r['latency_ms_tf_lite']:.2f}" if "latency_ms_tf_lite" in r else ""
        print(f"| {r['model']} | {r['size_mb']:.2f} | {r['latency_ms']:.2f} | {tf_lite} | {r['top1']:.2f} | "
              f"{r['agreement']:.2f} |")


if __name__ == "__main__":
    app.run(main)
