"""Shared fixtures: tiny synthetic datasets written in the real file formats.

Tests never touch real data (that is what `benchmarks/` and `pytest -m slow` are
for). Each dataset format has a writer here; a new data function needs one, and
`fake_data_dir` fails loudly until it has.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    data = header + array.tobytes()
    if compress:
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)


def synthetic_images(n: int, shape=(28, 28), num_classes: int = 10, seed: int = 0):
    """Learnable images: class k is a bright bar at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % num_classes
    rng.shuffle(y)
    h, w = shape[:2]
    x = rng.integers(0, 60, size=(n, *shape), dtype=np.int64)
    for i, k in enumerate(y):
        row = (k * h) // num_classes
        x[i, row : row + max(2, h // num_classes), :] += 180
        x[i, :, (k * 7) % w] += 60
        if len(shape) == 3:  # colour: the class also tints one channel
            x[i, ..., k % shape[2]] += 15
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8)


def write_mnist_like(folder, n_train: int = 320, n_test: int = 80, seed: int = 0, compress: bool = True):
    folder.mkdir(parents=True, exist_ok=True)
    x, y = synthetic_images(n_train + n_test, seed=seed)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", x[:n_train], compress)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", y[:n_train], compress)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", x[n_train:], compress)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", y[n_train:], compress)
    return folder


def cifar_batch(x: np.ndarray, y: np.ndarray, label: str = "batch") -> bytes:
    """A CIFAR-10 python batch as the official files hold it: bytes keys, (N, 3072) uint8 rows of R, G, B planes."""
    rows = np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), 3072), dtype=np.uint8)
    return pickle.dumps({b"batch_label": label.encode(), b"labels": [int(v) for v in y], b"data": rows,
                         b"filenames": [b"%d.png" % i for i in range(len(x))]}, protocol=2)


def write_cifar_like(folder, n_per_batch: int = 60, n_test: int = 80, seed: int = 0):
    """`folder/cifar-10-batches-py/` with five small training batches and a test batch of learnable images."""
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    x, y = synthetic_images(5 * n_per_batch + n_test, shape=(32, 32, 3), seed=seed)
    for k in range(5):
        part = slice(k * n_per_batch, (k + 1) * n_per_batch)
        (batches / f"data_batch_{k + 1}").write_bytes(cifar_batch(x[part], y[part], f"training batch {k + 1} of 5"))
    (batches / "test_batch").write_bytes(cifar_batch(x[5 * n_per_batch:], y[5 * n_per_batch:], "testing batch"))
    return folder


POSITIVE_WORDS = ("great", "superb", "moving", "brilliant", "loved", "funny", "beautiful", "best")
NEGATIVE_WORDS = ("awful", "boring", "dull", "worst", "hated", "mess", "weak", "waste")
FILLER_WORDS = ("the", "film", "movie", "a", "plot", "and", "actors", "was", "it", "story", "scene", "i")


def synthetic_reviews(n: int, seed: int = 0):
    """Learnable reviews: filler words with a few sentiment words of the label's side (punctuation, capitals and
    <br /> tags included, as real reviews have)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    texts = []
    for label in labels:
        words = list(rng.choice(FILLER_WORDS, size=int(rng.integers(6, 30))))
        for _ in range(3):
            words.insert(int(rng.integers(0, len(words) + 1)),
                         rng.choice(POSITIVE_WORDS if label else NEGATIVE_WORDS).capitalize() + "!")
        texts.append(" ".join(words[:8]) + "<br /><br />" + " ".join(words[8:]) + ".")
    return texts, labels.astype(int)


def write_jsonl(path, texts, labels) -> None:
    lines = "".join(json.dumps({"text": t, "label": int(y)}) + "\n" for t, y in zip(texts, labels))
    path.write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0) if path.suffix == ".gz" else lines.encode())


def write_imdb_like(folder, n_train: int = 240, n_test: int = 80, seed: int = 0):
    """`folder/imdb_train.jsonl.gz` and `imdb_test.jsonl.gz` as in the staged copy (text and label per line)."""
    folder.mkdir(parents=True, exist_ok=True)
    texts, labels = synthetic_reviews(n_train + n_test, seed)
    write_jsonl(folder / "imdb_train.jsonl.gz", texts[:n_train], labels[:n_train])
    write_jsonl(folder / "imdb_test.jsonl.gz", texts[n_train:], labels[n_train:])
    return folder


LM_SENTENCE = "a quiet film with every actor knowing why its story mattered so much to all of us".split()


def write_lm_like(folder, n_train: int = 240, n_test: int = 80, seed: int = 0):
    """IMDB-like files whose reviews a language model can learn: each one the same sentence of 17 different words,
    from a random word on and around again, so every word has one successor."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = len(LM_SENTENCE)
    texts = [" ".join(LM_SENTENCE[(start + i) % n] for i in range(int(rng.integers(8, 40))))
             for start in rng.integers(0, n, n_train + n_test)]
    labels = np.arange(n_train + n_test) % 2
    write_jsonl(folder / "imdb_train.jsonl.gz", texts[:n_train], labels[:n_train])
    write_jsonl(folder / "imdb_test.jsonl.gz", texts[n_train:], labels[n_train:])
    return folder


# data function name -> writer of a small synthetic copy in the dataset's standard format
FAKE_WRITERS = {"mnist": write_mnist_like, "binarized_mnist": write_mnist_like, "fashion_mnist": write_mnist_like,
                "cifar10": write_cifar_like,
                "imdb_reviews": write_imdb_like, "imdb_lm": write_lm_like,
                "written_dates": lambda folder: None}  # generated from a seed: no folder to read


def fake_data_dir(recipe, folder):
    """A folder of synthetic data in the layout `recipe` reads, or None where the recipe generates its data."""
    name = recipe.data.__name__
    if name not in FAKE_WRITERS:
        raise AssertionError(f"no synthetic-data writer for data function {name!r}: add one to tests/conftest.py")
    return FAKE_WRITERS[name](folder)


# Hyperparameters that make any recipe small and quick in tests (only keys a recipe has are applied).
TINY = {
    "epochs": 2,
    "batch_size": 32,
    "train_examples": 600,  # seq2seq_dates's generated corpus
    "val_examples": 100,
    "test_examples": 200,
    "filters": 8,
    "units": 32,
    "dense_units": 16,
    "validation_fraction": 0.2,
    "augment_translate": 0.0,
    "augment_crop": 0,
    "augment_cutout": 0,
    "width": 4,
    "vocab_size": 300,
    "sequence_length": 16,
    "embed_dim": 16,
    "ff_dim": 16,
    "judge_epochs": 1,
    # a few epochs on a hundred images: the resnets' default L2 keeps such a model unsure, and int8 rounding then
    # flips near-ties (resnet56's int8 argmax agreement fell to 0.91); L2 itself is tested in test_optim.py
    "l2": 0.0,
    "samples": 200,
}


# Recipes that cost minutes on 2 cores even when tiny; the default run covers their family through a smaller sibling.
HEAVY = {
    "resnet56_cifar10": "resnet20_cifar10 covers the family in the default run",
    "gru_imdb": "lstm_imdb covers RecurrentClassifier in the default run",
    "bilstm_imdb": "lstm_imdb covers RecurrentClassifier in the default run",
    "lstm_lm_imdb": "gpt_imdb covers the language models' data, task and sampling, lstm_imdb the LSTM layer",
}


def data_arg(folder):
    """`data_dir` for a folder from `fake_data_dir` (None stays None)."""
    return None if folder is None else str(folder)


def recipe_params(names, also=()):
    """pytest parameters over recipe names, the heavy ones (and `also`) marked slow (run with `pytest -m slow`)."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY or n in also else n for n in names]


QUIET_TRAIN = dict(precision="float32", verbose=0, log=lambda s: None)  # train.train(...) without output


def tiny_overrides(recipe, **more):
    return {k: v for k, v in {**TINY, **more}.items() if k in recipe.hparams}


@pytest.fixture
def mnist_dir(tmp_path):
    return write_mnist_like(tmp_path / "mnist")


@pytest.fixture(autouse=True)
def _float32_policy():
    """Tests that switch to mixed precision must not leak the policy into others."""
    yield
    import keras

    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(autouse=True)
def _isolated_sources(tmp_path, monkeypatch):
    """Keep tests away from the user's ZOO_DATA_DIR and Keras cache."""
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


def _missing():
    """Why the browser tests cannot run here (Chromium, its driver, selenium or LiteRT.js missing), or None."""
    from export import web
    from export.web import browser
    from zoo.errors import UsageError

    why = browser.missing()
    try:
        web.litertjs_dir()
    except UsageError as e:
        why = why or str(e)
    return why


MISSING = _missing()
needs_browser = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"), reason=f"no browser: {MISSING}")
