"""Throughput at 224x224: the streamed image-file pipeline, and ResNet-50 training steps, on this CPU.

    python -m benchmarks.speed_lab.scale_speed --images=256 --steps=6

1. Writes `--images` synthetic JPEGs of ImageNet's typical size (375x500, smooth patterns with
   noise, quality 90) into a list-file dataset under --work_dir, then times the training
   pipeline (decode, random-resized-crop 224, flip, normalise, batch 64) and the evaluation
   pipeline (decode, resize, centre crop) over whole passes after a warm-up pass.
2. Times `--steps` training steps (after 2 warm-up steps) of ResNet-50 at 224: plain CE
   (the teacher stage) and teacher + student BKD, float32 and mixed bfloat16, batch 16, on
   in-memory tensors (so the pipeline does not limit them).
Writes benchmarks/results/scale_results.json and prints a table.
"""

import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("images", 256, "Synthetic JPEGs to write and read.")
flags.DEFINE_integer("passes", 3, "Timed passes over them (after one warm-up pass).")
flags.DEFINE_integer("steps", 6, "Timed ResNet-50 training steps per configuration.")
flags.DEFINE_integer("batch_size", 16, "Batch size of the ResNet-50 steps.")
flags.DEFINE_string("work_dir", "/tmp/bkd_scale_speed", "Where the synthetic images go.")
flags.DEFINE_string("output", "benchmarks/results/scale_results.json", "Result file.")
FLAGS = flags.FLAGS


def write_images(root, count):
    import numpy as np
    import tensorflow as tf
    rng = np.random.default_rng(0)
    lines = []
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    for i in range(count):
        path = os.path.join(root, "img", f"{i}.jpg")
        if not os.path.exists(path):
            coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
            smooth = tf.image.resize(coarse, (375, 500), method="bicubic").numpy()
            pixels = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
            tf.io.write_file(path, tf.io.encode_jpeg(pixels, quality=90))
        lines.append(f"img/{i}.jpg {i % 10}")
    for name in ("train.txt", "test.txt"):
        with open(os.path.join(root, name), "w") as f:
            f.write("\n".join(lines) + "\n")


def time_pipeline(make, passes):
    for _ in make():                                   # warm-up pass (tracing, file cache)
        pass
    start, count = time.perf_counter(), 0
    for _ in range(passes):
        for x, _ in make():
            count += int(x.shape[0])
    return count / (time.perf_counter() - start)


def time_steps(config_name, precision, with_teacher, steps, batch):
    import keras
    import numpy as np
    import tensorflow as tf

    from bkd_keras import BalancedKDLoss, CoupledSGD, Distiller
    from bkd_keras.run.precision import policy_scope, with_precision
    from models import build_backbone
    keras.utils.set_random_seed(0)
    with policy_scope(precision):
        student = build_backbone("resnet50", 1000, (224, 224, 3))
    teacher = None
    if with_teacher:
        teacher = with_precision(build_backbone("resnet50", 1000, (224, 224, 3)), precision)
    distiller = Distiller(student=student, teacher=teacher, distillation_loss=BalancedKDLoss(np.ones(1000, np.float32))
                          if with_teacher else None, mixup_alpha=1.0 if with_teacher else 0.0, seed=0)
    distiller.compile(optimizer=CoupledSGD(0.1))
    x = tf.random.normal((batch, 224, 224, 3))
    y = tf.random.uniform((batch,), 0, 1000, tf.int64)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    distiller.fit(data, steps_per_epoch=2, epochs=1, verbose=0)          # warm-up and tracing
    start = time.perf_counter()
    distiller.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    rate = steps * batch / (time.perf_counter() - start)
    print(f"{config_name}: {rate:.1f} images/s")
    return rate


def main(_):
    from data import eval_dataset, load_dataset, train_dataset
    write_images(FLAGS.work_dir, FLAGS.images)
    ds = load_dataset("list", data_dir=FLAGS.work_dir, imbalance_type="none", augmentation="resized_crop")
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "images": FLAGS.images, "image_size_on_disk": [375, 500], "pipeline_batch": 64}
    results["pipeline_train_images_per_sec"] = time_pipeline(lambda: train_dataset(ds, 64, seed=0), FLAGS.passes)
    results["pipeline_eval_images_per_sec"] = time_pipeline(lambda: eval_dataset(ds, 64), FLAGS.passes)
    print(f"train pipeline {results['pipeline_train_images_per_sec']:.0f} images/s, "
          f"eval pipeline {results['pipeline_eval_images_per_sec']:.0f} images/s")
    results["resnet50_batch"] = FLAGS.batch_size
    for name, precision, teacher in (("ce_fp32", "float32", False), ("bkd_fp32", "float32", True),
                                     ("ce_bf16", "bfloat16", False), ("bkd_bf16", "bfloat16", True)):
        results[f"resnet50_{name}_images_per_sec"] = time_steps(name, precision, teacher, FLAGS.steps,
                                                                 FLAGS.batch_size)
    cores = os.cpu_count() or 1
    per_core = results["pipeline_train_images_per_sec"] / cores
    # Published ResNet-50 training rates (NVIDIA's DeepLearningExamples, mixed precision): about
    # 1,400 images/s on one V100 and 2,700 on one A100; the teacher pass adds about a third.
    results["cores_to_feed"] = {gpu: round(rate / per_core) for gpu, rate in (("V100", 1400), ("A100", 2700))}
    with open(FLAGS.output, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    app.run(main)
