"""Recurrent sentiment classifiers on IMDB reviews: LSTM, GRU and bidirectional LSTM.

    python -m zoo.train lstm_imdb
    python -m zoo.train bilstm_imdb --set units=32 --set sequence_length=200
    python -m zoo.predict runs/lstm_imdb/<run> "A gripping film, superbly acted."

Token ids -> embedding -> `layers` recurrent layers (the padding at the end of each review
masked out, so the state after the last real token is what the classifier sees) ->
dropout -> softmax over negative / positive. Training uses Keras's own loop. Export
rebuilds the model with `loop=True` and the same weights: each recurrent layer runs its
Keras cell in one `keras.ops.fori_loop` over the fixed length (`run_loop`), which
converts to a TFLite WHILE op with builtin ops only. Keras's own loop keeps its outputs
in a TensorArray, which needs TensorFlow (flex) ops; `unroll=True` converts too, but
copies every op 400 times (33k tensors for bilstm_imdb, a float32 file twice as large).
"""

import keras

from zoo import data
from zoo.models.layers import classifier_head, kernel_regularizer
from zoo.models.text import TEXT_DEFAULTS, TEXT_SPACE, TokenEmbedding, padding_mask
from zoo.registry import recipe

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@keras.saving.register_keras_serializable(package="zoo")
class RecurrentClassifier(keras.Model):
    """Embedding -> `depth` x [Bidirectional] LSTM/GRU(`units`) -> Dropout -> softmax."""

    def __init__(self, num_classes, vocab_size, sequence_length, cell="lstm", embed_dim=64, units=64, depth=1,
                 bidirectional=False, dropout=0.3, l1=0.0, l2=0.0, unroll=False, loop=False, **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if loop not in (False, True, "unrolled"):
            raise ValueError(f"loop must be False (Keras's layers), True (one WHILE loop each) or 'unrolled', "
                             f"got {loop!r}")
        self.num_classes, self.vocab_size, self.sequence_length = num_classes, vocab_size, sequence_length
        self.cell, self.embed_dim, self.units, self.depth = cell, embed_dim, units, depth
        self.bidirectional, self.dropout, self.l1, self.l2, self.unroll = bidirectional, dropout, l1, l2, unroll
        self.loop = loop
        self.embed = TokenEmbedding(vocab_size, sequence_length, embed_dim, positions="none", name="embedding")
        self.recurrent = []
        for i in range(depth):
            rnn = CELLS[cell](units, return_sequences=i < depth - 1, unroll=unroll, name=f"{cell}_{i + 1}",
                              kernel_regularizer=kernel_regularizer(l1, l2))
            if bidirectional:
                rnn = keras.layers.Bidirectional(rnn, name=f"bi{cell}_{i + 1}")
                if unroll:
                    # Keras 3.15's unrolled loop zeroes masked steps of a go_backwards layer with the mask
                    # un-reversed, corrupting valid steps of padded reviews; the steps it should zero come
                    # first when reversed and stay zero without it, so switch the zeroing off.
                    rnn.backward_layer.zero_output_for_mask = False
            self.recurrent.append(rnn)
        self.drop = keras.layers.Dropout(dropout)
        self.logits, self.softmax = classifier_head(num_classes, regularizer=kernel_regularizer(l1, l2))

    def call(self, ids, training=False):
        mask = padding_mask(ids)
        x = self.embed(ids)
        for rnn in self.recurrent:
            x = run_loop(rnn, x, mask, self.loop == "unrolled") if self.loop else rnn(x, mask=mask, training=training)
        return self.softmax(self.logits(self.drop(x, training=training)))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "vocab_size": self.vocab_size,
                "sequence_length": self.sequence_length, "cell": self.cell, "embed_dim": self.embed_dim,
                "units": self.units, "depth": self.depth, "bidirectional": self.bidirectional,
                "dropout": self.dropout, "l1": self.l1, "l2": self.l2, "unroll": self.unroll,
                "loop": self.loop}

    def export_config(self):
        """The export twin: one loop body over the fixed length (builtin TFLite ops only), same weights."""
        return {**self.get_config(), "loop": True}

    def one_graph_config(self):
        """The export twin with no control flow: each loop unrolled over the fixed length, same weights. MediaPipe's
        text tasks take one-subgraph models only, and each WHILE body is a subgraph of its own."""
        return {**self.get_config(), "loop": "unrolled"}


def run_loop(rnn, x, mask, unrolled=False):
    """What a Keras LSTM / GRU layer (or a Bidirectional one, outputs concatenated) computes on `x` with `mask`,
    as one `keras.ops.fori_loop` over the fixed time axis calling the layer's own cell: a masked step keeps the
    state, and its output is zero or the previous one, as the layer's `zero_output_for_mask` says. Inference
    only (no dropout). `unrolled`: the step is written out once per time step instead, a graph with no control flow
    (one subgraph, which MediaPipe's text tasks require)."""
    if not rnn.built:
        rnn.build(tuple(x.shape))
    if isinstance(rnn, keras.layers.Bidirectional):
        if rnn.merge_mode != "concat":
            raise ValueError(f"run_loop joins Bidirectional outputs by concatenation, not {rnn.merge_mode!r}")
        forward = run_loop(rnn.forward_layer, x, mask, unrolled)
        backward = run_loop(rnn.backward_layer, x, mask, unrolled)
        if rnn.backward_layer.return_sequences:
            backward = keras.ops.flip(backward, axis=1)  # back in reading order, as Bidirectional returns it
        return keras.ops.concatenate([forward, backward], axis=-1)
    cell, steps = rnn.cell, x.shape[1]
    keep = keras.ops.expand_dims(keras.ops.cast(mask, x.dtype), -1)  # (batch, steps, 1): 1 on real tokens
    if rnn.go_backwards:
        x, keep = keras.ops.flip(x, axis=1), keras.ops.flip(keep, axis=1)
    batch = keras.ops.shape(x)[0]
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    states = [keras.ops.zeros((batch, size), x.dtype) for size in sizes]
    shape = (batch, steps, cell.units) if rnn.return_sequences else (batch, cell.units)
    outputs = keras.ops.zeros(shape, x.dtype)

    def step(t, carry):
        outputs, states = carry
        on = keras.ops.take(keep, t, axis=1)
        output, new = cell(keras.ops.take(x, t, axis=1), states)
        new = new if isinstance(new, (list, tuple)) else [new]
        states = [on * n + (1 - on) * s for n, s in zip(new, states)]
        previous = keras.ops.take(outputs, keras.ops.maximum(t - 1, 0), axis=1) if rnn.return_sequences else outputs
        output = on * output + (1 - on) * (0.0 if rnn.zero_output_for_mask else previous)
        if not rnn.return_sequences:  # only the last output (the state after the last real token)
            return output, states
        return keras.ops.slice_update(outputs, (0, t, 0), keras.ops.expand_dims(output, 1)), states

    if not unrolled:
        return keras.ops.fori_loop(0, steps, step, (outputs, states))[0]
    carry = (outputs, states)
    for t in range(steps):  # the same step, copied once per time step: no control flow left in the graph
        carry = step(t, carry)
    return carry[0]


def _recurrent(hp, info, cell, bidirectional):
    return RecurrentClassifier(num_classes=info.num_classes, vocab_size=info.vocab_size,
                               sequence_length=info.input_shape[0], cell=cell, embed_dim=hp["embed_dim"],
                               units=hp["units"], depth=hp["layers"], bidirectional=bidirectional,
                               dropout=hp["dropout"], l1=hp["l1"], l2=hp["l2"])


RNN_DEFAULTS = {**TEXT_DEFAULTS, "units": 64, "layers": 1}
RNN_SPACE = {**TEXT_SPACE, "units": {"type": "choice", "values": [32, 64, 128]},
             "layers": {"type": "int", "min": 1, "max": 2}}


@recipe(data=data.imdb_reviews, task="classification", hparams=RNN_DEFAULTS, search_space=RNN_SPACE)
def lstm_imdb(hp, info):
    """LSTM sentiment classifier on IMDB reviews (token ids in, positive/negative out).

    python -m zoo.train lstm_imdb
    """
    return _recurrent(hp, info, "lstm", bidirectional=False)


@recipe(data=data.imdb_reviews, task="classification", hparams=RNN_DEFAULTS, search_space=RNN_SPACE)
def gru_imdb(hp, info):
    """GRU sentiment classifier on IMDB reviews: the LSTM's lighter sibling.

    python -m zoo.train gru_imdb
    """
    return _recurrent(hp, info, "gru", bidirectional=False)


@recipe(data=data.imdb_reviews, task="classification", hparams={**RNN_DEFAULTS, "layers": 2},
        search_space=RNN_SPACE)
def bilstm_imdb(hp, info):
    """Two stacked bidirectional LSTMs on IMDB reviews (keras-io's bidirectional LSTM example, as a recipe).

    python -m zoo.train bilstm_imdb
    """
    return _recurrent(hp, info, "lstm", bidirectional=True)
