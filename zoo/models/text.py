"""Pieces shared by the text families (rnn.py, transformer.py): token embedding, encoder block, defaults.

Text models take int32 token ids of a fixed length (0 = padding, 1 = out-of-vocabulary), as
`zoo.data.text` makes them, and compute their padding mask from the ids themselves, so an
exported model needs nothing but the ids.
"""

import math

import keras
import numpy as np

from zoo.models.layers import kernel_regularizer
from zoo.defaults import CLASSIFIER_DEFAULTS, CLASSIFIER_SPACE, TRAINING_DEFAULTS, TRAINING_SPACE

TEXT_DEFAULTS = {
    **CLASSIFIER_DEFAULTS,
    "epochs": 4,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "warmup_epochs": 0.25,
    "vocab_size": 20000,  # the most frequent training tokens kept, padding and [UNK] included
    # 400 tokens keep all of 88% of reviews (mean 234 words); a longer one keeps its end, where the verdict
    # usually is. On the IMDB copy, gru_imdb: 85.7% test with 256 first tokens, 87.6% with 400, 87.7% with the
    # last 400.
    "sequence_length": 400,  # reviews are cut or padded to this many tokens
    "truncating": "pre",  # a longer review keeps its last tokens ("pre") or its first ones ("post")
    # "keras": lowercase, drop punctuation, split on spaces; "regex": split as MediaPipe's TextClassifier does on
    # the device (case kept; needs truncating=post), so its answers equal zoo.predict's (zoo/data/text.py)
    "tokenizer": "keras",
    "text_column": "text",  # your own CSV / JSON Lines texts (zoo/data/tables.py): the column with the text
    "label_column": "label",  # ... and the one with the label
    "embed_dim": 64,
    "dropout": 0.3,
}
TEXT_SPACE = {
    **CLASSIFIER_SPACE,
    **{k: TRAINING_SPACE[k] for k in ("optimizer", "label_smoothing")},
    "batch_size": {"type": "choice", "values": [32, 64, 128]},
    "vocab_size": {"type": "choice", "values": [10000, 20000, 30000]},
    "sequence_length": {"type": "choice", "values": [128, 200, 256, 400]},
    "truncating": {"type": "choice", "values": ["post", "pre"]},
    "embed_dim": {"type": "choice", "values": [32, 64, 128]},
    "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
}


def padding_mask(ids):
    """True where a real token is (id != 0)."""
    return keras.ops.not_equal(ids, 0)


POSITIONS = ("learned", "sine", "none")


def sine_positions(length: int, dim: int) -> np.ndarray:
    """The fixed sinusoidal position code of Vaswani et al. (2017): (length, dim), float32."""
    position = np.arange(length)[:, None]
    rate = 1.0 / 10000 ** (2 * (np.arange(dim) // 2) / dim)
    angle = position * rate[None]
    return np.where(np.arange(dim) % 2 == 0, np.sin(angle), np.cos(angle)).astype("float32")


@keras.saving.register_keras_serializable(package="zoo")
class TokenEmbedding(keras.layers.Layer):
    """Token embedding plus, for Transformers (recurrent layers know the order already), a position code:
    "learned" (one trained vector per position), "sine" (the fixed sinusoidal code: no parameters, so
    nothing position-specific to overfit) or "none". With "sine" the token vectors are scaled by sqrt(dim), as
    Vaswani et al. do, so that the +-1 code does not drown them: unscaled, the small token part of the sum was
    what int8 export rounded away (its argmax agreement with Keras fell to 0.8 on a small model)."""

    def __init__(self, vocab_size, sequence_length, dim, positions="learned", **kwargs):
        super().__init__(**kwargs)
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        self.vocab_size, self.sequence_length, self.dim, self.positions = vocab_size, sequence_length, dim, positions
        self.tokens = keras.layers.Embedding(vocab_size, dim, name="tokens")
        self.position = keras.layers.Embedding(sequence_length, dim, name="positions") if positions == "learned" else None
        self.sine = sine_positions(sequence_length, dim) if positions == "sine" else None

    def call(self, ids):
        x = self.tokens(ids)
        if self.position is not None:
            x = x + self.position(keras.ops.arange(self.sequence_length))[None]
        elif self.sine is not None:
            x = x * math.sqrt(self.dim) + keras.ops.cast(self.sine, x.dtype)[None]
        return x

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "sequence_length": self.sequence_length,
                "dim": self.dim, "positions": self.positions}


MASKED_SCORE = -30.0  # what a padding key's attention score is set to; e^-30 of the weight, as good as -inf


@keras.saving.register_keras_serializable(package="zoo")
class MaskedAttention(keras.layers.MultiHeadAttention):
    """Keras's multi-head attention, but a masked score becomes `MASKED_SCORE` instead of Keras's -1e9. The weights
    are the same to float precision; an int8 graph, though, calibrates the scores' range including the masked value,
    and with -1e9 in that range every real score rounded to one level (transformer_imdb's int8 file lost 6 points;
    with -30 it keeps its accuracy)."""

    def _masked_softmax(self, attention_scores, attention_mask=None):
        if attention_mask is None:
            return super()._masked_softmax(attention_scores)
        mask = keras.ops.expand_dims(attention_mask, axis=-3)  # (batch, query, key) -> (batch, heads, query, key)
        scores = keras.ops.where(mask, attention_scores, keras.ops.cast(MASKED_SCORE, attention_scores.dtype))
        return keras.ops.where(mask, self._softmax(scores), keras.ops.cast(0.0, attention_scores.dtype))


@keras.saving.register_keras_serializable(package="zoo")
class TransformerEncoder(keras.layers.Layer):
    """One post-norm encoder block (Vaswani et al. 2017): multi-head self-attention over the real tokens,
    residual + LayerNorm, then a ReLU feed-forward of `ff_dim`, residual + LayerNorm."""

    def __init__(self, dim, heads=2, ff_dim=64, dropout=0.1, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads, self.ff_dim, self.dropout, self.l1, self.l2 = dim, heads, ff_dim, dropout, l1, l2
        self.attention = MaskedAttention(heads, key_dim=dim // heads, dropout=dropout, name="attention")
        self.ff1 = keras.layers.Dense(ff_dim, activation="relu", name="ff1",
                                      kernel_regularizer=kernel_regularizer(l1, l2))
        self.ff2 = keras.layers.Dense(dim, name="ff2", kernel_regularizer=kernel_regularizer(l1, l2))
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.drop1 = keras.layers.Dropout(dropout)
        self.drop2 = keras.layers.Dropout(dropout)

    def call(self, x, mask, training=False):
        attend = keras.ops.logical_and(mask[:, :, None], mask[:, None, :])  # (batch, query, key)
        a = self.attention(x, x, attention_mask=attend, training=training)
        x = self.norm1(x + self.drop1(a, training=training))
        return self.norm2(x + self.drop2(self.ff2(self.ff1(x)), training=training))

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "ff_dim": self.ff_dim,
                "dropout": self.dropout, "l1": self.l1, "l2": self.l2}


# Language models (lm.py, gpt.py): reviews' first `sequence_length` words, next-token cross-entropy.
LM_DEFAULTS = {
    **TRAINING_DEFAULTS,
    # two epochs of the 1.76M training words fit #32's 20 minutes on a 2-core AVX2 EPYC (float32)
    "epochs": 2,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "warmup_epochs": 0.1,
    "vocab_size": 10000,  # <s>, padding and [UNK] included; every other word is predicted as [UNK]
    "sequence_length": 80,  # <s> and a review's first 79 words in, its first 80 words to predict
    "embed_dim": 128,
    "dropout": 0.1,
    "steps_per_execution": 1,  # a step takes about a second: calls of 8 steps save nothing, and the bar moves each step
}
LM_SPACE = {
    "learning_rate": {"type": "float", "min": 5e-4, "max": 5e-3, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [32, 64, 128]},
    "embed_dim": {"type": "choice", "values": [64, 128, 256]},
    "dropout": {"type": "float", "min": 0.0, "max": 0.3, "step": 0.1},
}


@keras.saving.register_keras_serializable(package="zoo")
class TiedSoftmax(keras.layers.Layer):
    """Next-token probabilities scored against the token embedding's own matrix (x . E^T + b): the input and output
    word vectors are one table (Press & Wolf, 2017), half the parameters of a separate output layer and a lower
    perplexity on a corpus as small as IMDB's. Called with (features, embedding layer); float32 out."""

    def __init__(self, vocab_size, **kwargs):
        super().__init__(dtype=kwargs.pop("dtype", "float32"), **kwargs)
        self.vocab_size = vocab_size
        self.bias = self.add_weight(shape=(vocab_size,), initializer="zeros", name="bias")

    def call(self, x, table):
        logits = keras.ops.matmul(x, keras.ops.transpose(keras.ops.cast(table, x.dtype)))
        return keras.ops.softmax(keras.ops.cast(logits, "float32") + self.bias, axis=-1)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size}
