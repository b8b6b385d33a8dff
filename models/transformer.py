"""A small transformer text classifier built from keras-hub layers (a larger teacher for TextCNN)."""

import warnings

import keras
from keras import layers, ops

from models.heads import classifier

# TokenAndPositionEmbedding hands its masked input to its position embedding, which ignores
# masks; Keras warns, but the layer returns the token mask itself, so the encoders and the
# pooling do see it (tests/test_transformer.py checks against an explicit padding mask).
warnings.filterwarnings("ignore", message="Layer 'position_embedding' .* mask")


@keras.saving.register_keras_serializable(package="bkd_keras")
class MaskedMeanPooling(layers.Layer):
    """(B, L, d) features and their (B, L) padding mask -> (B, d) mean over the real tokens.

    Unlike GlobalAveragePooling1D it returns zeros, not NaN, for an all-padding (empty) text.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        return ops.sum(inputs * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def check_size(num_layers, num_heads, width):
    """Raises ValueError for an encoder size that cannot build."""
    if min(num_layers, num_heads, width) < 1:
        raise ValueError("--transformer_layers, --transformer_heads and --transformer_width must be >= 1, got "
                         f"{num_layers}, {num_heads}, {width}.")
    if width % num_heads:
        raise ValueError(f"--transformer_width={width} must be a multiple of --transformer_heads={num_heads}.")


def transformer(num_classes, input_shape=(256,), vocabulary_size=20000, embedding_dim=50, embedding_matrix=None,
                num_layers=2, num_heads=4, width=64, dropout=0.1, head="linear", name="transformer"):
    """Token + position embedding -> [Dense to `width`] -> `num_layers` x TransformerEncoder -> masked mean -> head.

    Input int token ids (B, L) (0 = padding, masked in attention and pooling) -> logits
    (B, num_classes). The token embedding starts from `embedding_matrix` (V, d) (e.g. GloVe,
    fine-tuned as in TextCNN) and is projected to `width` when d differs; the encoders are
    post-norm with a 2 x `width` ReLU feed-forward (keras_hub.layers.TransformerEncoder).
    """
    # Imported here, not at the top: keras-hub (with tensorflow-text) adds about a second to
    # every process that imports `models`, and Keras imports it itself to load a saved model.
    import keras_hub

    if embedding_matrix is not None:
        vocabulary_size, embedding_dim = embedding_matrix.shape
    check_size(num_layers, num_heads, width)
    length = input_shape[0]
    inputs = keras.Input(shape=(length,), dtype="int64", name="tokens")
    embed = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size, length, embedding_dim, mask_zero=True,
                                                       embeddings_initializer=keras.initializers.RandomUniform(-0.05, 0.05),
                                                       name="embedding")
    x = embed(inputs)
    if embedding_matrix is not None:
        embed.token_embedding.embeddings.assign(embedding_matrix)
    if embedding_dim != width:
        x = layers.Dense(width, name="projection")(x)
    for i in range(num_layers):
        x = keras_hub.layers.TransformerEncoder(2 * width, num_heads, dropout=dropout, name=f"encoder{i}")(x)
    features = MaskedMeanPooling(name="pool")(x)
    features = layers.Dropout(dropout, name="dropout")(features)
    return keras.Model(inputs, classifier(features, num_classes, head), name=name)
