"""Train a CE teacher, then a BKD (or other method's) student: `python -m bkd_keras.train`.

With no flags: the offline quickstart (long-tailed 8x8 digits, small CNN). The paper's
CIFAR-10-LT setting: `--dataset=cifar10 --imbalance_type=exp --imbalance_ratio=100
--backbone=resnet32` (TFDS) or `--dataset=folder --data_dir=PATH --preset=cifar10_lt`.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags as absl_flags  # noqa: E402
from absl import logging  # noqa: E402

from flags import definitions  # noqa: E402  (defines the flags)

FLAGS = absl_flags.FLAGS
absl_flags.adopt_module_key_flags(definitions)  # so --help lists them


def execute(make_config, extra_callbacks=()):
    """Runs `make_config()`'s run; returns the exit code.

    A user error (bad flag or data, NaN loss) prints one line and returns 2; Ctrl-C
    returns 130 after saying what is saved; SIGTERM (preemption) finishes the current step,
    writes its backup and returns 143. Other exceptions are bugs and propagate.
    """
    from bkd_keras.run.backup import Preempted
    from bkd_keras.run.config import ConfigError
    from data.spec import DataError
    try:
        config = make_config()
        from bkd_keras.run.runner import run
        run(config, extra_callbacks=extra_callbacks)
    except (ConfigError, DataError, FloatingPointError) as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"\n{err or 'interrupted'}", file=sys.stderr)
        return 130
    except Preempted as err:
        print(f"\n{err}", file=sys.stderr)
        return 143
    return 0


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])} (flags are --name=value).")
    logging.set_verbosity(logging.WARNING)  # TF's INFO lines drown the progress bars

    def make_config():
        config = definitions.resolve(FLAGS)
        from bkd_keras.run.strategies import set_threads
        set_threads(config.run.threads)      # before any TensorFlow op
        if FLAGS.cpu_replicas > 1:
            from bkd_keras.run.strategies import split_cpu
            split_cpu(FLAGS.cpu_replicas)
        if FLAGS.deterministic:
            import tensorflow as tf
            tf.config.experimental.enable_op_determinism()
        return config

    sys.exit(execute(make_config))


if __name__ == "__main__":
    app.run(main)
