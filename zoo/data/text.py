"""IMDB movie-review sentiment as fixed-length token ids: reading the reviews, tokenising, pipelines.

Where the reviews are looked for, in order:
1. `--data-dir DIR`, or else `$ZOO_DATA_DIR`: `DIR/imdb_reviews/`, `DIR/imdb/`, then `DIR/`, holding
   - `imdb_train.jsonl.gz` and `imdb_test.jsonl.gz` (or `imdb_train.jsonl` / `imdb_test.jsonl`): one JSON object
     per line with `text` (the review) and `label` (0 negative, 1 positive);
   - or the original tree `aclImdb/{train,test}/{pos,neg}/*.txt` (or those folders directly);
   - or the archive `aclImdb_v1.tar.gz` itself (read in memory, not extracted).
   An explicit `--data-dir` is the only place looked at.
2. Keras's cache, `~/.keras/datasets/aclImdb` (where keras-io's text examples extract it).
3. `tensorflow_datasets.load("imdb_reviews")`, which downloads when the machine is online.

Tokenisation is `keras.layers.TextVectorization`, adapted on the training split only
(after the fixed validation slice is taken out). With `tokenizer=keras` (the default): lowercase,
`<br />` to a space, ASCII punctuation deleted, split on whitespace. With `tokenizer=regex`: split
wherever DELIMITER matches, case kept (the rule MediaPipe's TextClassifier runs on the device, so
an app computes exactly the ids training saw; it keeps a review's first tokens, so it needs
`truncating=post`). Then the `vocab_size` most frequent tokens, id 0 for padding and 1 for
out-of-vocabulary; each review truncated or padded at the end to `sequence_length` ids. It
runs in the data pipeline, so a model takes int32 ids of a fixed length: exactly what a phone
app feeds. The vocabulary is kept in the run folder
as `vocab.txt` (line i = the token of id i) and reused by everything that encodes text
for that run (resume, evaluate, export, `zoo.predict`).
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from zoo.data import tables
from zoo.data.types import DataInfo, Datasets
from zoo.data.reviews import IMDB, TextDataset, load_splits  # the reading half
from zoo.data.sources import array_pipeline, split_validation
from zoo.errors import DataError, UsageError

VOCAB_FILE = "vocab.txt"
PAD_ID, OOV_ID = 0, 1
TRUNCATING = ("post", "pre")  # as keras.utils.pad_sequences: cut the end of a long text, or its start
PUNCTUATION = string.punctuation  # !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
TOKENIZERS = ("keras", "regex")
# tokenizer=regex: a token is a run of ASCII letters and digits; '<br />' and every other character split. RE2
# syntax (TensorFlow's regex_replace and MediaPipe's RegexTokenizer both run RE2), which Python and JavaScript read
# the same way.
DELIMITER = "(?:<br />|[^A-Za-z0-9])+"
STANDARDIZE = {
    "keras": (
        "lowercase (Unicode)",
        "replace each '<br />' with a space",
        f"delete these ASCII punctuation characters: {PUNCTUATION}",
        "split on whitespace",
    ),
    "regex": (f"split wherever the delimiter regex {DELIMITER} matches (case kept)",),
}
# -- tokenising ---------------------------------------------------------------
def standardize(texts):
    """tokenizer=keras's clean-up before splitting (see STANDARDIZE); a TensorFlow function on string tensors."""
    import tensorflow as tf

    x = tf.strings.lower(texts, encoding="utf-8")
    x = tf.strings.regex_replace(x, "<br />", " ")
    return tf.strings.regex_replace(x, "[" + re.escape(PUNCTUATION) + "]", "")


def delimit(texts):
    """tokenizer=regex: every DELIMITER match becomes one space, so splitting on whitespace gives its tokens."""
    import tensorflow as tf

    return tf.strings.regex_replace(texts, DELIMITER, " ")


def vectorizer(vocab_size: Optional[int] = None, vocabulary=None, tokenizer: str = "keras"):
    """A TextVectorization layer (texts -> ragged ids): to `adapt` (vocab_size tokens at most) or with a saved
    `vocabulary`. `encode` cuts and pads its output to the model's length."""
    import keras

    if tokenizer not in TOKENIZERS:
        raise UsageError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
    return keras.layers.TextVectorization(
        max_tokens=None if vocabulary is not None else vocab_size,
        standardize=standardize if tokenizer == "keras" else delimit, split="whitespace",
        output_mode="int", ragged=True, vocabulary=vocabulary)


def saved_vectorizer(files: Mapping[str, str], where: str = "the run folder", tokenizer: str = "keras"):
    """A run's vectorizer: its saved vocabulary (`files`, as `runs.read_data_files` gives them) and tokenizer, never
    adapted again; training's resume, evaluate, export and predict all encode through it."""
    if not files or VOCAB_FILE not in files:
        raise DataError(f"{where} has no {VOCAB_FILE}; it is needed to encode text for this run")
    return vectorizer(vocabulary=parse_vocab(files[VOCAB_FILE], f"{where}/{VOCAB_FILE}"), tokenizer=tokenizer)


def encode(layer, texts, sequence_length: int, truncating: str = "post") -> np.ndarray:
    """Texts -> int32 ids of shape (n, sequence_length): looked up through a tf.data pipeline, then cut and padded
    by `keras.utils.pad_sequences` (padding after the text; a longer text keeps its first tokens with
    `truncating="post"`, its last ones with "pre")."""
    import keras
    import tensorflow as tf

    if truncating not in TRUNCATING:
        raise ValueError(f"truncating must be one of {TRUNCATING}, got {truncating!r}")
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object).astype(str)).batch(1024)
    ds = ds.map(layer, num_parallel_calls=tf.data.AUTOTUNE)
    rows = [row for batch in ds for row in np.split(batch.flat_values.numpy(), batch.row_splits.numpy()[1:-1])]
    return keras.utils.pad_sequences(rows, maxlen=sequence_length, dtype="int32", padding="post",
                                     truncating=truncating, value=PAD_ID)


def vocab_text(vocabulary) -> str:
    return "".join(f"{token}\n" for token in vocabulary)


def parse_vocab(content: str, where: str = VOCAB_FILE) -> list[str]:
    """vocab.txt -> tokens (line i = id i); the first two lines must be the padding ("") and OOV ("[UNK]") tokens."""
    tokens = content.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if len(tokens) < 3 or tokens[PAD_ID] != "" or tokens[OOV_ID] != "[UNK]":
        raise DataError(f"{where} is not a zoo vocabulary (line 1 must be empty for padding, line 2 [UNK]); "
                        "it was changed or damaged: retrain the run")
    return tokens


def text_description(sequence_length: int, vocab_size: int, truncating: str = "post",
                     tokenizer: str = "keras") -> dict[str, Any]:
    """What an app needs to turn a review into the model's ids (goes into signature.json)."""
    return {
        "tokenizer": tokenizer,
        **({"delimiter": DELIMITER} if tokenizer == "regex" else {}),
        "vocabulary": VOCAB_FILE,
        "vocabulary_format": "UTF-8, one token per line; line i (from 0) is the token of id i; line 0 is empty "
                             "(padding), line 1 is [UNK]",
        "vocab_size": vocab_size,
        "standardize": list(STANDARDIZE[tokenizer]),
        "pad_id": PAD_ID,
        "oov_id": OOV_ID,
        "sequence_length": sequence_length,
        "truncating": truncating,
        "truncate": f"keep the {'first' if truncating == 'post' else 'last'} {sequence_length} tokens",
        "pad": f"append pad_id up to {sequence_length} ids",
    }


def load_text_classification(dataset: TextDataset, hp: Mapping[str, Any], data_dir: Optional[str] = None,
                             seed: int = 0, files: Optional[Mapping[str, str]] = None) -> Datasets:
    summary, name, folder, class_names = None, dataset.name, "", dataset.class_names
    if data_dir and tables.table_files(data_dir):  # the user's own CSV / JSON Lines texts
        ((x_train, y_train), (x_test, y_test)), class_names, summary = tables.load_table(data_dir, hp, files)
        where = f"{', '.join(summary['source'].values())} ({len(class_names)} classes, split {summary['split']})"
        name, folder = f"table:{Path(data_dir).name}", str(Path(data_dir).resolve())
    else:
        ((x_train, y_train), (x_test, y_test)), where = load_splits(dataset, data_dir)
    (x_tr, y_tr), (x_val, y_val) = split_validation(x_train, y_train, hp["validation_fraction"])
    length, truncating, tokenizer = hp["sequence_length"], hp["truncating"], hp["tokenizer"]
    if tokenizer == "regex" and truncating != "post":
        raise UsageError("tokenizer=regex keeps a text's first tokens, as MediaPipe's TextClassifier does: add "
                         "--set truncating=post")
    if files is not None:  # a run's own vocabulary, never adapted again
        layer = saved_vectorizer(files, tokenizer=tokenizer)
    else:
        import tensorflow as tf

        layer = vectorizer(vocab_size=hp["vocab_size"], tokenizer=tokenizer)
        layer.adapt(tf.data.Dataset.from_tensor_slices(x_tr.astype(str)).batch(1024))
    vocabulary = layer.get_vocabulary()
    info = DataInfo(
        name=name,
        input_shape=(length,),
        class_names=tuple(class_names),
        num_train=len(x_tr),
        num_val=len(x_val),
        num_test=len(x_test),
        source=where,
        input_dtype="int32",
        input_range=(0.0, float(len(vocabulary) - 1)),
        preprocessing=f"int32 token ids, shape (batch, {length}): the review standardised, split, looked up in "
                      f"{VOCAB_FILE} and cut or padded to {length} (signature.json's `text` says how)",
        input_kind="tokens",
        vocab_size=len(vocabulary),
        text=text_description(length, len(vocabulary), truncating, tokenizer),
        files=(VOCAB_FILE,) + ((tables.SUMMARY,) if summary else ()),
        folder=folder,
    )
    bs = hp["batch_size"]

    def ids(texts):
        return encode(layer, texts, length, truncating)

    return Datasets(
        train=array_pipeline(ids(x_tr), y_tr, batch_size=bs, training=True, seed=seed),
        val=array_pipeline(ids(x_val), y_val, batch_size=bs, training=False, seed=seed),
        test=array_pipeline(ids(x_test), y_test, batch_size=bs, training=False, seed=seed),
        info=info,
        files={VOCAB_FILE: vocab_text(vocabulary),
               **({tables.SUMMARY: json.dumps(summary, indent=1)} if summary else {})},
        summary=tables.describe(summary) if summary else "",
    )


def imdb_reviews(hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0, files=None) -> Datasets:
    """IMDB movie reviews, positive or negative (25k train incl. validation, 25k test), as token ids."""
    return load_text_classification(IMDB, hp, data_dir, seed, files)


__all__ = ["imdb_reviews", "IMDB", "standardize", "delimit", "vectorizer", "encode", "parse_vocab", "VOCAB_FILE",
           "TOKENIZERS", "DELIMITER"]
