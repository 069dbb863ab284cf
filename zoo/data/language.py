"""IMDB reviews as word sequences for the language models (lstm_lm_imdb, gpt_imdb): each review's first tokens, to
be predicted one after the other.

    python -m zoo.train gpt_imdb --data-dir ../shared/data/imdb

The reviews are read as the text classifiers read them (`zoo/data/reviews.py`; labels are dropped) and
standardised the same way (`tokenizer=keras`: lowercase, `<br />` to a space, ASCII punctuation deleted, split on
whitespace). The vocabulary has `vocab_size` entries: id 0 padding, 1 `[UNK]` (any other word, predicted like a
word), 2 `<s>` (the start of a review), then the `vocab_size - 3` most frequent training words (after the fixed
validation slice is taken out). With L = `sequence_length`, a review's first tokens w1 .. wL are the labels and `<s>` w1 .. w(L-1)
the inputs (both 0-padded at the end of a shorter review): position t predicts w(t+1) from `<s>` and w1 .. wt.
The train split trains, a fixed slice of it validates, the test split gives test perplexity, over exactly the
labels that are not padding (`benchmarks/language.py` scores the Kneser-Ney baseline on the same tokens).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from zoo.data.reviews import IMDB, load_splits
from zoo.data.sources import array_pipeline, split_validation
from zoo.data.text import OOV_ID, PAD_ID, VOCAB_FILE, encode, parse_vocab, text_description, vectorizer, vocab_text
from zoo.data.types import DataInfo, Datasets

START, START_ID = "<s>", 2  # `<`, `>` are deleted by the standardisation, so no review token is ever `<s>`


def lm_vocabulary(layer, vocab_size: int) -> list[str]:
    """An adapted TextVectorization's tokens -> the language model's: padding, [UNK], <s>, then the most frequent."""
    adapted = layer.get_vocabulary()
    return ["", "[UNK]", START, *adapted[2: vocab_size - 1]]


def sequences(layer, texts, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Texts -> (inputs: <s> and the first length - 1 tokens, labels: those tokens; both (n, length), 0-padded)."""
    labels = encode(layer, texts, length, truncating="post")
    inputs = np.concatenate([np.full((len(labels), 1), START_ID, np.int32), labels[:, :-1]], axis=1)
    return inputs, labels


def prompt_ids(tokens: list[str], texts):
    """Prompts -> ([<s> + their token ids], the standardised words of each) through a run's vocabulary (`tokens`,
    line i of vocab.txt), the rule training used. No cutting: the caller judges a prompt's length."""
    import tensorflow as tf

    from zoo.data.text import standardize

    index = {t: i for i, t in enumerate(tokens) if i > OOV_ID}
    out = []
    for words in (w.numpy().decode("utf-8").split() for w in standardize(tf.constant(list(texts)))):
        out.append(([START_ID] + [index.get(w, OOV_ID) for w in words], words))
    return out


def imdb_lm(hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0, files=None) -> Datasets:
    """IMDB reviews (25k train incl. validation, 25k test) as next-token pipelines of (inputs, labels)."""
    ((x_train, y_train), (x_test, _)), where = load_splits(IMDB, data_dir)
    (x_tr, _), (x_val, _) = split_validation(x_train, y_train, hp["validation_fraction"])
    length = hp["sequence_length"]
    if files is not None:  # a run's own vocabulary, never adapted again
        tokens = parse_vocab(files[VOCAB_FILE], f"the run folder's {VOCAB_FILE}")
    else:
        import tensorflow as tf

        adapted = vectorizer(vocab_size=hp["vocab_size"])
        adapted.adapt(tf.data.Dataset.from_tensor_slices(x_tr.astype(str)).batch(1024))
        tokens = lm_vocabulary(adapted, hp["vocab_size"])
    layer = vectorizer(vocabulary=tokens)
    text = {**text_description(length, len(tokens), "post", "keras"), "start_id": START_ID,
            "prompt": f"standardise and split the prompt as `standardize` says, look each word up in {VOCAB_FILE} "
                      f"([UNK] for any other), put <s> (id {START_ID}) first; position t of the output predicts the "
                      f"token after input t"}
    info = DataInfo(
        name="imdb_reviews_lm", input_shape=(length,), class_names=(), num_train=len(x_tr), num_val=len(x_val),
        num_test=len(x_test), source=where, input_dtype="int32", input_range=(0.0, float(len(tokens) - 1)),
        preprocessing=f"int32 token ids, shape (batch, {length}): <s> then the review's first {length - 1} tokens, "
                      "0-padded at the end (signature.json's `text` says how)",
        input_kind="tokens", vocab_size=len(tokens), text=text, files=(VOCAB_FILE,))
    bs = hp["batch_size"]

    def pipeline(texts, training):
        inputs, labels = sequences(layer, texts, length)
        return array_pipeline(inputs, labels, batch_size=bs, training=training, seed=seed)

    return Datasets(train=pipeline(x_tr, True), val=pipeline(x_val, False), test=pipeline(x_test, False),
                    info=info, files={VOCAB_FILE: vocab_text(tokens)})


__all__ = ["imdb_lm", "START", "START_ID", "PAD_ID", "prompt_ids", "sequences"]
