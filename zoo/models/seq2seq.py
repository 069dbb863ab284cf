"""An encoder-decoder with additive (Bahdanau) attention that rewrites human-written dates as ISO dates.

    python -m zoo.train seq2seq_dates
    python -m zoo.predict runs/seq2seq_dates/<run> "3rd of March 2021" "03/03/21" "Mar 3, 2021"

Characters -> embedding -> bidirectional GRU (the encoder: one vector per character). The
decoder writes one character per step: from its previous state it scores every encoder
vector with v . tanh(W_k h + W_q s) (Bahdanau et al., 2015: `keras.layers.AdditiveAttention`
on projected keys and query), takes their softmax-weighted sum (the context), feeds the
context and the previous character to a GRU cell, and predicts the next character from the
new state and the context. Training feeds the true previous character (teacher forcing);
`greedy` feeds back its own argmax. The attention weights of each step are what
attention.png in the run folder draws.
"""

import keras

from zoo import data
from zoo.data import dates
from zoo.defaults import TRAINING_DEFAULTS
from zoo.registry import recipe


@keras.saving.register_keras_serializable(package="zoo")
class AttentionSeq2Seq(keras.Model):
    """(source ids, previous target ids) -> next-character probabilities; `greedy(source)` decodes on its own."""

    def __init__(self, source_vocab, target_vocab, source_length, target_length, start_id, embed_dim=32, units=128,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.source_vocab, self.target_vocab = source_vocab, target_vocab
        self.source_length, self.target_length, self.start_id = source_length, target_length, start_id
        self.embed_dim, self.units, self.dropout = embed_dim, units, dropout
        self.source_embed = keras.layers.Embedding(source_vocab, embed_dim, name="source_embedding")
        self.encoder = keras.layers.Bidirectional(keras.layers.GRU(units, return_sequences=True), name="encoder")
        self.bridge = keras.layers.Dense(units, activation="tanh", name="bridge")  # mean encoding -> first state
        self.keys = keras.layers.Dense(units, use_bias=False, name="attention_keys")  # W_k h
        self.query = keras.layers.Dense(units, name="attention_query")  # W_q s
        self.attention = keras.layers.AdditiveAttention(use_scale=True, name="attention")  # v . tanh(q + k)
        self.target_embed = keras.layers.Embedding(target_vocab, embed_dim, name="target_embedding")
        self.cell = keras.layers.GRUCell(units, name="decoder")
        self.drop = keras.layers.Dropout(dropout)
        self.logits = keras.layers.Dense(target_vocab, name="logits")
        self.softmax = keras.layers.Activation("softmax", dtype="float32", name="probabilities")

    def encode(self, source, training=False):
        """Source ids -> (encoder vectors, attention keys, padding mask, the decoder's first state)."""
        mask = keras.ops.not_equal(source, 0)
        vectors = self.encoder(self.source_embed(source), mask=mask, training=training)
        keep = keras.ops.expand_dims(keras.ops.cast(mask, vectors.dtype), -1)
        mean = keras.ops.sum(vectors * keep, axis=1) / keras.ops.maximum(keras.ops.sum(keep, axis=1), 1.0)
        return vectors, self.keys(vectors), mask, self.bridge(mean)

    def attend(self, previous, state, vectors, keys, mask, training=False):
        """One decoding step: previous character ids (batch,) and state -> (probabilities, new state, attention
        weights over the source characters)."""
        query = keras.ops.expand_dims(self.query(state), 1)
        context, weights = self.attention([query, vectors, keys], mask=[None, mask], return_attention_scores=True,
                                          training=training)
        context, weights = context[:, 0], weights[:, 0]
        inputs = keras.ops.concatenate([self.target_embed(previous), context], axis=-1)
        output, new = self.cell(inputs, [state], training=training)
        features = self.drop(keras.ops.concatenate([output, context], axis=-1), training=training)
        return self.softmax(self.logits(features)), new[0], weights

    def call(self, inputs, training=False):
        """(source ids, target ids shifted right behind <start>) -> next-character probabilities per step (teacher
        forcing, training); source ids alone -> the probabilities of greedy decoding's steps."""
        if not isinstance(inputs, (tuple, list)):
            return self.decode(inputs)[0]
        source, previous = inputs
        vectors, keys, mask, state = self.encode(source, training)
        steps = []
        for t in range(previous.shape[1]):
            probs, state, _ = self.attend(previous[:, t], state, vectors, keys, mask, training)
            steps.append(probs)
        return keras.ops.stack(steps, axis=1)

    def decode(self, source, steps=None):
        """Greedy decoding, each step fed the previous step's argmax: source ids -> (probabilities (batch, steps,
        target vocabulary), attention weights (batch, steps, source length))."""
        vectors, keys, mask, state = self.encode(source)
        previous = keras.ops.full((keras.ops.shape(source)[0],), self.start_id, "int32")
        probs, maps = [], []
        for _ in range(steps or self.target_length):
            p, state, weights = self.attend(previous, state, vectors, keys, mask)
            # top_k, not argmax: Keras's TensorFlow argmax uses BitwiseAnd (for -0.0), which TFLite has no kernel for
            previous = keras.ops.cast(keras.ops.top_k(p, 1)[1][:, 0], "int32")
            probs.append(p)
            maps.append(weights)
        return keras.ops.stack(probs, axis=1), keras.ops.stack(maps, axis=1)

    def prefill(self, source):
        """What a device runs first: source ids (batch, source length) -> (the first output character's
        probabilities, the cache: the decoder's `state` and the encoding it attends to, `vectors`, `keys` and `mask`
        (1 for a character, 0 for padding))."""
        vectors, keys, mask, state = self.encode(source)
        start = keras.ops.full((keras.ops.shape(source)[0],), self.start_id, "int32")
        probs, state, _ = self.attend(start, state, vectors, keys, mask)
        return probs, {"state": state, "vectors": vectors, "keys": keys, "mask": keras.ops.cast(mask, vectors.dtype)}

    def step(self, token, position, cache):
        """One decoding step on the device: the character just written (batch,) and the cache -> (the next one's
        probabilities, {"state": the new state}; the encoding stays prefill's). `position` is not needed: the state
        carries it."""
        mask = keras.ops.greater(cache["mask"], 0.5)
        probs, state, _ = self.attend(token, cache["state"], cache["vectors"], cache["keys"], mask)
        return probs, {"state": state}

    def greedy(self, source, steps=None):
        """Greedy decoding: source ids -> (target ids (batch, steps), attention weights (batch, steps, source))."""
        probs, maps = self.decode(source, steps)
        return keras.ops.cast(keras.ops.argmax(probs, axis=-1), "int32"), maps

    def get_config(self):
        return {**super().get_config(), "source_vocab": self.source_vocab, "target_vocab": self.target_vocab,
                "source_length": self.source_length, "target_length": self.target_length,
                "start_id": self.start_id, "embed_dim": self.embed_dim, "units": self.units,
                "dropout": self.dropout}


@recipe(data=data.written_dates, task="generation",
        # 4 epochs of 40,000 dates: on an AVX2 EPYC (2 cores, float32, other work running) validation perplexity
        # was 1.0008 after one epoch of that corpus and 1.0002 after two
        hparams={**TRAINING_DEFAULTS, "epochs": 4, "batch_size": 128, "learning_rate": 3e-3, "optimizer": "adam",
                 "embed_dim": 32, "units": 128, "dropout": 0.0, "train_examples": 40000, "val_examples": 5000,
                 "test_examples": 10000, "corpus_seed": 0},
        search_space={"units": {"type": "choice", "values": [64, 128, 256]},
                      "embed_dim": {"type": "choice", "values": [16, 32, 64]},
                      "learning_rate": {"type": "float", "min": 1e-3, "max": 1e-2, "sampling": "log"}})
def seq2seq_dates(hp, info):
    """GRU encoder-decoder with Bahdanau attention: human-written dates -> ISO YYYY-MM-DD.

    python -m zoo.train seq2seq_dates
    """
    return AttentionSeq2Seq(source_vocab=len(dates.SOURCE_TOKENS), target_vocab=len(dates.TARGET_TOKENS),
                            source_length=info.input_shape[0], target_length=dates.TARGET_LENGTH,
                            start_id=dates.TARGET_IDS[dates.START], embed_dim=hp["embed_dim"], units=hp["units"],
                            dropout=hp["dropout"])
