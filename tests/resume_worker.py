"""Subprocess body of test_resume: a small deterministic run, optionally SIGKILLed mid-epoch.

    python tests/resume_worker.py OUT_DIR [STAGE EPOCH BATCH [SIGNAL]]

sends itself SIGNAL (default SIGKILL: no cleanup; SIGINT: Ctrl-C; SIGTERM: preemption) at
that 1-based epoch / batch of stage teacher|student. BKD_SAVE_EVERY_STEPS sets
--save_every_steps. Exits with bkd_keras.train.execute's code.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from bkd_keras.run.config import TrainConfig  # noqa: E402
from bkd_keras.train import execute  # noqa: E402


class KillAt(keras.callbacks.Callback):
    def __init__(self, stage, epoch, batch, sig=signal.SIGKILL):
        super().__init__()
        self.stage, self.epoch, self.batch, self.sig = stage, epoch, batch, sig

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_begin(self, batch, logs=None):
        stage = "teacher" if self.model.teacher is None else "student"
        if (stage, self._epoch, batch + 1) == (self.stage, self.epoch, self.batch):
            os.kill(os.getpid(), self.sig)


if __name__ == "__main__":
    tf.config.experimental.enable_op_determinism()
    out = sys.argv[1]
    extra = []
    if len(sys.argv) > 2:
        sig = getattr(signal, sys.argv[5]) if len(sys.argv) > 5 else signal.SIGKILL
        # A shell's background job (e.g. a test run started with `&`) inherits SIGINT ignored;
        # restore Python's handler so the self-sent SIGINT is the terminal's Ctrl-C.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        extra = [KillAt(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sig)]
    config = TrainConfig.flat(dataset="digits", backbone="small_cnn", method="bkd", epochs=4, batch_size=32,
                              imbalance_ratio=20.0, learning_rate=0.05, warmup_epochs=1, mixup_alpha=0.4,
                         bkd_start_epoch=2, eval_every=2, verbose=0, output_dir=out, seed=7,
                         save_every_steps=int(os.environ.get("BKD_SAVE_EVERY_STEPS", "0")))
    sys.exit(execute(lambda: config, extra_callbacks=extra))
