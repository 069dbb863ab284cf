"""A miniature GPT on IMDB reviews: a decoder-only Transformer that predicts each next word from the words before it.

    python -m zoo.train gpt_imdb --data-dir ../shared/data/imdb
    python -m zoo.generate runs/gpt_imdb/<run> --prompt "This movie was" --max-tokens 40 --temperature 0.8 --top-k 40

Token ids (`<s>` then the review's words; `zoo/data/language.py`) -> token + position embedding
-> `blocks` pre-LayerNorm decoder blocks (x + causal self-attention(LayerNorm(x)), then
x + feed-forward(LayerNorm(x)), GELU) -> LayerNorm -> softmax over the vocabulary against the
embedding's own matrix (`TiedSoftmax`). The causal mask lets position t attend to positions
0..t only, so its output is the distribution of word t + 1 and padding (always after the
words) is never seen by a real position. As keras-io's "text generation with a miniature GPT",
written as a recipe.
"""

import math

import keras

from zoo import data
from zoo.models.text import (LM_DEFAULTS, LM_SPACE, MASKED_SCORE, POSITIONS, MaskedAttention, TiedSoftmax,
                             TokenEmbedding)
from zoo.registry import recipe


@keras.saving.register_keras_serializable(package="zoo")
class CausalBlock(keras.layers.Layer):
    """One pre-LayerNorm decoder block: causal multi-head self-attention and a GELU feed-forward, each added back."""

    def __init__(self, dim, heads=2, ff_dim=256, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads, self.ff_dim, self.dropout = dim, heads, ff_dim, dropout
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5, name="norm1")
        self.attention = MaskedAttention(heads, key_dim=dim // heads, dropout=dropout, name="attention")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5, name="norm2")
        self.ff1 = keras.layers.Dense(ff_dim, activation="gelu", name="ff1")
        self.ff2 = keras.layers.Dense(dim, name="ff2")
        self.drop1 = keras.layers.Dropout(dropout)
        self.drop2 = keras.layers.Dropout(dropout)

    def call(self, x, training=False):
        h = self.norm1(x)
        x = x + self.drop1(self.attention(h, h, use_causal_mask=True, training=training), training=training)
        return x + self.drop2(self.ff2(self.ff1(self.norm2(x))), training=training)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "ff_dim": self.ff_dim,
                "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="zoo")
class MiniGPT(keras.Model):
    """TokenEmbedding (with positions) -> `blocks` x CausalBlock -> LayerNorm -> tied softmax."""

    def __init__(self, vocab_size, sequence_length, embed_dim=128, heads=2, ff_dim=256, blocks=2, dropout=0.1,
                 positions="learned", **kwargs):
        super().__init__(**kwargs)
        if embed_dim % heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be a multiple of heads ({heads})")
        self.vocab_size, self.sequence_length, self.embed_dim = vocab_size, sequence_length, embed_dim
        self.heads, self.ff_dim, self.blocks, self.dropout, self.positions = heads, ff_dim, blocks, dropout, positions
        self.embed = TokenEmbedding(vocab_size, sequence_length, embed_dim, positions=positions, name="embedding")
        self.drop = keras.layers.Dropout(dropout)
        self.decoders = [CausalBlock(embed_dim, heads, ff_dim, dropout, name=f"decoder_{i + 1}")
                         for i in range(blocks)]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.softmax = TiedSoftmax(vocab_size, name="probabilities")

    def call(self, ids, training=False):
        x = self.drop(self.embed(ids), training=training)
        for block in self.decoders:
            x = block(x, training=training)
        return self.softmax(self.norm(x), self.embed.tokens.embeddings)

    def prefill(self, ids, length):
        """What a device runs on the prompt first: ids (batch, L), 0-padded after the prompt's `length` (batch,) ids
        -> (the next token's probabilities (batch, V), as `call` gives them at position length - 1, and the attention
        cache {"keys", "values"}: (blocks, batch, L, heads, head_dim) each, of every position; those past the prompt
        are overwritten by `step` before they are seen)."""
        x = self.embed(ids)
        keys, values = [], []
        for block in self.decoders:
            h = block.norm1(x)
            keys.append(block.attention.key_dense(h))
            values.append(block.attention.value_dense(h))
            x = block(x)
        last = keras.ops.take_along_axis(x, keras.ops.reshape(length - 1, (-1, 1, 1)), axis=1)[:, 0]
        return (self.softmax(self.norm(last), self.embed.tokens.embeddings),
                {"keys": keras.ops.stack(keys), "values": keras.ops.stack(values)})

    def step(self, token, position, cache):
        """One decoding step with the attention cache passed in and out: token ids (batch,) at `position` (batch,)
        and the cache `prefill` or the last step returned -> (next-token probabilities (batch, V), the cache with
        that position written). Only cache positions <= `position` are attended to; shapes never change, so the
        graph converts with fixed shapes."""
        keys, values = cache["keys"], cache["values"]
        x = self.embed.tokens(token)
        if self.positions == "learned":
            x = x + self.embed.position(position)
        elif self.positions == "sine":
            x = x * math.sqrt(self.embed_dim) + keras.ops.take(keras.ops.cast(self.embed.sine, x.dtype), position, 0)
        x = keras.ops.expand_dims(x, 1)  # (batch, 1, dim)
        places = keras.ops.arange(self.sequence_length)[None]
        slot = keras.ops.cast(keras.ops.equal(places, position[:, None]), x.dtype)[:, :, None, None]
        visible = keras.ops.less_equal(places, position[:, None])[:, None, None, :]  # (batch, 1, 1, L)
        new_keys, new_values = [], []
        for i, block in enumerate(self.decoders):
            attention, h = block.attention, block.norm1(x)
            k = keys[i] * (1 - slot) + attention.key_dense(h) * slot
            v = values[i] * (1 - slot) + attention.value_dense(h) * slot
            q = attention.query_dense(h) / math.sqrt(self.embed_dim // self.heads)
            scores = keras.ops.einsum("bqhd,bkhd->bhqk", q, k)
            scores = keras.ops.where(visible, scores, keras.ops.cast(MASKED_SCORE, scores.dtype))
            attended = keras.ops.einsum("bhqk,bkhd->bqhd", keras.ops.softmax(scores, axis=-1), v)
            x = x + attention.output_dense(attended)
            x = x + block.ff2(block.ff1(block.norm2(x)))
            new_keys.append(k)
            new_values.append(v)
        probs = self.softmax(self.norm(x[:, 0]), self.embed.tokens.embeddings)
        return probs, {"keys": keras.ops.stack(new_keys), "values": keras.ops.stack(new_values)}

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "sequence_length": self.sequence_length,
                "embed_dim": self.embed_dim, "heads": self.heads, "ff_dim": self.ff_dim, "blocks": self.blocks,
                "dropout": self.dropout, "positions": self.positions}


@recipe(data=data.imdb_lm, task="generation",
        hparams={**LM_DEFAULTS, "heads": 2, "ff_dim": 256, "blocks": 2, "positions": "learned"},
        search_space={**LM_SPACE, "heads": {"type": "choice", "values": [1, 2, 4]},
                      "ff_dim": {"type": "choice", "values": [128, 256, 512]},
                      "blocks": {"type": "int", "min": 1, "max": 4},
                      "positions": {"type": "choice", "values": [p for p in POSITIONS if p != "none"]}})
def gpt_imdb(hp, info):
    """Miniature GPT (decoder-only Transformer, causal self-attention) language model on IMDB reviews.

    python -m zoo.train gpt_imdb
    """
    return MiniGPT(vocab_size=info.vocab_size, sequence_length=info.input_shape[0], embed_dim=hp["embed_dim"],
                   heads=hp["heads"], ff_dim=hp["ff_dim"], blocks=hp["blocks"], dropout=hp["dropout"],
                   positions=hp["positions"])
