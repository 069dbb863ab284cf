"""A word-level LSTM language model on IMDB reviews: it reads a review word by word and predicts the next word.

    python -m zoo.train lstm_lm_imdb --data-dir ../shared/data/imdb
    python -m zoo.generate runs/lstm_lm_imdb/<run> --prompt "This movie was" --max-tokens 40 --temperature 0.8

Token ids (`<s>` then the review's words; `zoo/data/language.py`) -> embedding -> dropout ->
`layers` LSTMs (or GRUs) over the sequence -> dropout -> a projection back to `embed_dim` ->
softmax over the vocabulary against the embedding's own matrix (`TiedSoftmax`). Position t's
output is the distribution of word t + 1; padding only ever follows the words, so no mask
is needed: a real position never sees it, and the loss skips padded labels.
"""

import keras

from zoo import data
from zoo.models.text import LM_DEFAULTS, LM_SPACE, TiedSoftmax
from zoo.registry import recipe

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@keras.saving.register_keras_serializable(package="zoo")
class RecurrentLM(keras.Model):
    """Embedding -> `depth` x LSTM/GRU(`units`) -> Dense(`embed_dim`) -> tied softmax: next-token probabilities."""

    def __init__(self, vocab_size, sequence_length, cell="lstm", embed_dim=128, units=256, depth=1, dropout=0.1,
                 **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.vocab_size, self.sequence_length, self.cell = vocab_size, sequence_length, cell
        self.embed_dim, self.units, self.depth, self.dropout = embed_dim, units, depth, dropout
        self.embed = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
        self.recurrent = [CELLS[cell](units, return_sequences=True, name=f"{cell}_{i + 1}") for i in range(depth)]
        self.drop = keras.layers.Dropout(dropout)
        self.project = keras.layers.Dense(embed_dim, name="project")
        self.softmax = TiedSoftmax(vocab_size, name="probabilities")

    def call(self, ids, training=False):
        x = self.drop(self.embed(ids), training=training)
        for rnn in self.recurrent:
            x = rnn(x, training=training)
        return self.softmax(self.project(self.drop(x, training=training)), self.embed.embeddings)

    def prefill(self, ids, length):
        """What a device runs on the prompt first: ids (batch, L), 0-padded after the prompt's `length` (batch,) ids
        -> (the next token's probabilities (batch, V), the cache {"state": (depth, 2 for an LSTM's h and c / 1 for a
        GRU's h, batch, units)} after the prompt's last id). The padding is masked, so the state stops there."""
        mask = keras.ops.less(keras.ops.arange(self.sequence_length)[None], length[:, None])
        x, states = self.embed(ids), []
        for rnn in self.recurrent:  # the layer's own cell (its weights), run to also give the final state
            x, *state = keras.layers.RNN(rnn.cell, return_sequences=True, return_state=True)(x, mask=mask)
            states.append(keras.ops.stack(state))
        last = keras.ops.take_along_axis(x, keras.ops.reshape(length - 1, (-1, 1, 1)), axis=1)[:, 0]
        return self.softmax(self.project(last), self.embed.embeddings), {"state": keras.ops.stack(states)}

    def step(self, token, position, cache):
        """One decoding step with the recurrent state passed in and out: token ids (batch,) (`position` is not
        needed: the state carries it) and the cache `prefill` or the last step returned -> (next-token
        probabilities (batch, V), the new cache)."""
        x, new = self.embed(token), []
        for i, rnn in enumerate(self.recurrent):
            state = [cache["state"][i, j] for j in range(cache["state"].shape[1])]
            x, state = rnn.cell(x, state if len(state) > 1 else state[0])
            new.append(keras.ops.stack(state if isinstance(state, (list, tuple)) else [state]))
        return self.softmax(self.project(x), self.embed.embeddings), {"state": keras.ops.stack(new)}

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "sequence_length": self.sequence_length,
                "cell": self.cell, "embed_dim": self.embed_dim, "units": self.units, "depth": self.depth,
                "dropout": self.dropout}


@recipe(data=data.imdb_lm, task="generation", hparams={**LM_DEFAULTS, "units": 256, "layers": 1},
        search_space={**LM_SPACE, "units": {"type": "choice", "values": [128, 256, 512]},
                      "layers": {"type": "int", "min": 1, "max": 2}})
def lstm_lm_imdb(hp, info):
    """Word-level LSTM language model on IMDB reviews (next-word prediction, sampling with zoo.generate).

    python -m zoo.train lstm_lm_imdb
    """
    return RecurrentLM(vocab_size=info.vocab_size, sequence_length=info.input_shape[0], cell="lstm",
                       embed_dim=hp["embed_dim"], units=hp["units"], depth=hp["layers"], dropout=hp["dropout"])
