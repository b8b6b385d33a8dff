"""TextCNN (Kim 2014): the one-layer CNN over word vectors of the paper's text experiment."""

import keras
from keras import layers

from models.heads import classifier


def text_cnn(num_classes, input_shape=(256,), vocabulary_size=20000, embedding_dim=50, embedding_matrix=None,
             window_sizes=(3, 4, 5), filters=100, dropout=0.5, max_norm=3.0, head="linear", name="textcnn"):
    """Embedding -> parallel Conv1D (one per window size, ReLU) -> max over time -> dropout -> dense.

    As in Kim 2014, each class's weight vector of the dense head is kept at L2 norm <= `max_norm`
    (3); without it SGD at the paper's LR 0.1 diverges within a few epochs.

    Input int token ids (B, L) (0 = padding) -> logits (B, num_classes). The embedding is
    initialised from `embedding_matrix` (V, d), e.g. GloVe, and fine-tuned (Kim's
    "non-static" variant); without it, `vocabulary_size` x `embedding_dim` uniform.
    """
    if embedding_matrix is not None:
        vocabulary_size, embedding_dim = embedding_matrix.shape
        init = keras.initializers.Constant(embedding_matrix)
    else:
        init = keras.initializers.RandomUniform(-0.25, 0.25)
    length = input_shape[0]
    if length < max(window_sizes):
        raise ValueError(f"TextCNN windows up to {max(window_sizes)} tokens need sequences at least that long, "
                         f"got {length}; raise --sequence_length.")
    inputs = keras.Input(shape=(length,), dtype="int64", name="tokens")
    x = layers.Embedding(vocabulary_size, embedding_dim, embeddings_initializer=init, name="embedding")(inputs)
    pooled = []
    for size in window_sizes:
        h = layers.Conv1D(filters, size, activation="relu", name=f"conv{size}")(x)
        pooled.append(layers.GlobalMaxPooling1D(name=f"pool{size}")(h))
    features = layers.Concatenate(name="features")(pooled) if len(pooled) > 1 else pooled[0]
    features = layers.Dropout(dropout, name="dropout")(features)
    constraint = keras.constraints.MaxNorm(max_norm, axis=0) if max_norm else None
    return keras.Model(inputs, classifier(features, num_classes, head, kernel_constraint=constraint), name=name)
