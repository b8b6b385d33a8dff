"""Per-stage random streams derived from the run's `--seed`.

The authors' code draws the teacher and the student independently: with one
`set_random_seed(seed)` per stage the student would start from the teacher's exact
initial weights and see the same batches and augmentations. Each stage therefore gets
its own seed. The teacher keeps `seed` itself, so teachers trained before this rule
(and their stored results) are unchanged.
"""

import numpy as np

# Index of each stage in the derivation; a new stage gets a new, never reused, number.
_STAGE_STREAM = {"teacher": 0, "student": 1}


def stage_seed(seed, stage):
    """The int seed (< 2**31) of `stage` ("teacher" or "student") for run seed `seed`.

    Drives the stage's weight initialisation, its data order and augmentation, and mixup.
    """
    if stage not in _STAGE_STREAM:
        raise ValueError(f"Unknown stage {stage!r}; known: {', '.join(_STAGE_STREAM)}.")
    stream = _STAGE_STREAM[stage]
    if stream == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1)[0] % (2 ** 31 - 1))
