"""One process of tests/test_multi_worker.py: trains the distiller a few steps, saves the weights.

    python tests/multi_worker_worker.py OUT.npz multi_worker|single
With multi_worker the cluster comes from TF_CONFIG (set by the test).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bkd_keras.run.strategies import is_chief, make_strategy  # noqa: E402


def main(out, mode):
    strategy = make_strategy("multi_worker" if mode == "multi_worker" else "default")
    import keras

    from bkd_keras import BalancedKDLoss, CoupledSGD, Distiller

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    weights = np.array([0.2, 1.0, 1.8], np.float32)

    def net(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((6,))
        h = keras.layers.Dense(16, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(h))

    with strategy.scope():
        distiller = Distiller(student=net(1), teacher=net(2), distillation_loss=BalancedKDLoss(weights, 2.0), mixup_alpha=0.0)
        distiller.compile(optimizer=CoupledSGD(0.1, momentum=0.9, l2=1e-3))
        distiller(x[:1])
        distiller.optimizer.build(distiller.trainable_variables)
    # Global batch 16: every step's batch is the same 16 examples in both setups.
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    distiller.fit(data, epochs=2, verbose=0, shuffle=False)
    # What each process gets of a global batch when the strategy distributes the dataset (as fit does).
    local = [int(strategy.experimental_local_results(b[0])[0].shape[0])
             for b in strategy.experimental_distribute_dataset(data)]
    if is_chief(strategy) or mode == "multi_worker":
        task = os.environ.get("TASK_INDEX", "0")
        np.savez(out.replace(".npz", f"-{task}.npz"), *distiller.student.get_weights(), local_batches=local,
                 chief=is_chief(strategy))


if __name__ == "__main__":
    main(*sys.argv[1:])
