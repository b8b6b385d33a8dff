"""Ship a finished run's trained model in the repo, checked against its reported accuracy.

    python -m bkd_keras.publish --run=benchmarks/runs/cifar10-exp100-e200-s0-ce \
        --name=cifar10_lt100_resnet32_ce_e200

writes benchmarks/models/NAME/:
  model.keras       image models: a classifier that loads in stock Keras (no import of this
                    project) and takes uint8 images, normalisation inside (bkd_keras/run/stock_model.py);
                    text models: the run's export/model.keras. Either works as --teacher=.../model.keras;
  vocabulary.txt    text models only, the token of each id (--teacher checks it);
  flags.json, results.json   the run's own files (its full settings and reports);
  published.json    {"top1": the run's reported last-epoch top-1 (%), "reproduced_top1", "data":
                    the data settings to rebuild its test split, "mean"/"std" used, "class_names",
                    "input", "loads_without_bkd_keras", "commit", "epochs", "method", "backbone",
                    "precision", "run"}.

The model is evaluated again on the test split before anything is written (and the stock copy on
the raw test images); publishing stops with an error if its top-1 differs from the reported one
by more than --tolerance points. --run may also be a shipped folder, to publish it again in the
current format. `bkd_keras.pretrained.load(NAME)` loads a shipped model;
tests/test_shipped_models.py repeats the checks, in a process that cannot import this project.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from bkd_keras.run.shipping import PublishError, publish  # noqa: E402

flags.DEFINE_string("run", None, "A finished run folder (with export/model.keras and results.json), or a "
                    "shipped model's folder to publish again.")
flags.DEFINE_string("name", None, "Folder name under --models_dir, e.g. cifar10_lt100_resnet32_ce_e200.")
flags.DEFINE_string("models_dir", "benchmarks/models", "Where shipped models live (committed).")
flags.DEFINE_string("data_dir", None, "The data tree, when it is not where the run found it.")
flags.DEFINE_float("tolerance", 0.05, "Largest accepted |re-evaluated - reported| top-1, in points.")
flags.DEFINE_bool("overwrite", False, "Replace an already published NAME.")
flags.mark_flags_as_required(["run", "name"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from bkd_keras.run.config import ConfigError
    try:
        publish(FLAGS.run, FLAGS.name, FLAGS.models_dir, FLAGS.data_dir, FLAGS.tolerance, FLAGS.overwrite)
    except (PublishError, ConfigError) as err:
        raise app.UsageError(str(err)) from None


if __name__ == "__main__":
    app.run(main)
