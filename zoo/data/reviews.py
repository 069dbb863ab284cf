"""Reading labelled texts (IMDB reviews, or a user's own): JSON lines, the original aclImdb tree or its archive,
Keras's cache, then tfds; `zoo.data.text` tokenises what these return. Where each is looked for is in
`zoo/data/text.py`'s docstring.

    python -m zoo.train lstm_imdb --data-dir ../shared/data/imdb
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tarfile
from pathlib import Path
from typing import Optional

import numpy as np

from zoo.data.sources import Source, _read_bytes, keras_cache_dir, load_first, tfds_source
from zoo.errors import DataError

SPLITS = ("train", "test")
_ACL_FILE = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_\d+\.txt$")

Split = tuple[np.ndarray, np.ndarray]  # texts (str objects), labels (int32 0/1)


@dataclasses.dataclass(frozen=True)
class TextDataset:
    name: str
    class_names: tuple[str, ...]
    tfds_name: str


IMDB = TextDataset(name="imdb_reviews", class_names=("negative", "positive"), tfds_name="imdb_reviews")


# -- reading ------------------------------------------------------------------
def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: not UTF-8 text (bad byte at offset {e.start}); re-save the file as UTF-8") from None


def read_jsonl(path: Path) -> Split:
    """One split from JSON Lines (optionally gzip): each line an object with `text` (str) and `label` (0 or 1)."""
    texts, labels = [], []
    for n, line in enumerate(_read_bytes(path).split(b"\n"), 1):
        if not line.strip():
            continue
        where = f"{path} line {n}"
        try:
            row = json.loads(_decode(line, where))
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not JSON ({e.msg}); each line must be one object with text and label") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object with text and label, got {type(row).__name__}")
        missing = [k for k in ("text", "label") if k not in row]
        if missing:
            raise DataError(f"{where}: missing field {' and '.join(map(repr, missing))}")
        if not isinstance(row["text"], str):
            raise DataError(f"{where}: text must be a string, got {type(row['text']).__name__}")
        if row["label"] not in (0, 1) or isinstance(row["label"], bool):
            raise DataError(f"{where}: label must be 0 (negative) or 1 (positive), got {row['label']!r}")
        texts.append(row["text"])
        labels.append(row["label"])
    if not texts:
        raise DataError(f"{path} holds no reviews")
    return np.array(texts, dtype=object), np.array(labels, dtype=np.int32)


def _jsonl_files(folder: Path) -> dict[str, Path]:
    found = {}
    for split in SPLITS:
        for stem in (f"imdb_{split}",):  # train.* / test.* are your own texts (tables.py)
            for suffix in (".jsonl.gz", ".jsonl"):
                if (folder / (stem + suffix)).is_file() and split not in found:
                    found[split] = folder / (stem + suffix)
    return found


def read_jsonl_folder(folder: Path) -> tuple[Split, Split]:
    files = _jsonl_files(folder)
    for split in SPLITS:
        if split not in files:
            raise DataError(f"{folder} has no {split} split: expected imdb_{split}.jsonl.gz (or .jsonl) "
                            f"beside {', '.join(p.name for p in files.values())}")
    return read_jsonl(files["train"]), read_jsonl(files["test"])


def _collect(items, where: str) -> tuple[Split, Split]:
    """(split, label, id, text) items -> the two splits, each ordered negative then positive, by id."""
    out = []
    for split in SPLITS:
        rows = sorted((label, rid, text) for s, label, rid, text in items if s == split)
        for label, folder in ((0, "neg"), (1, "pos")):
            if not any(r[0] == label for r in rows):
                raise DataError(f"{where}: {split}/{folder}/ is missing or empty; the aclImdb tree is incomplete")
        out.append((np.array([r[2] for r in rows], dtype=object), np.array([r[0] for r in rows], dtype=np.int32)))
    return out[0], out[1]


def read_acl_tree(root: Path) -> tuple[Split, Split]:
    """The original `aclImdb/` tree (`train|test/pos|neg/<id>_<rating>.txt`); `unsup/` is ignored."""
    items = []
    for split in SPLITS:
        for label, name in ((0, "neg"), (1, "pos")):
            for f in (root / split / name).glob("*.txt") if (root / split / name).is_dir() else ():
                rid = f.stem.split("_")[0]
                items.append((split, label, int(rid) if rid.isdigit() else -1, _decode(f.read_bytes(), str(f))))
    return _collect(items, str(root))


def read_acl_archive(path: Path) -> tuple[Split, Split]:
    """`aclImdb_v1.tar.gz`, read member by member without extracting it."""
    items = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                m = _ACL_FILE.search(member.name)
                if m and member.isfile():
                    raw = tar.extractfile(member).read()
                    items.append((m[1], int(m[2] == "pos"), int(m[3]), _decode(raw, f"{path}:{member.name}")))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e} (the archive is damaged; download it again)") from None
    return _collect(items, str(path))


def folder_source(folder: Path) -> Source:
    def probe():
        if _jsonl_files(folder):
            return lambda: read_jsonl_folder(folder)
        for root in (folder / "aclImdb", folder):
            if (root / "train").is_dir() or (root / "test").is_dir():
                return lambda root=root: read_acl_tree(root)
        if (folder / "aclImdb_v1.tar.gz").is_file():
            return lambda: read_acl_archive(folder / "aclImdb_v1.tar.gz")
        return None

    return Source(f"{folder} (imdb_*.jsonl.gz, aclImdb/ or aclImdb_v1.tar.gz)", probe)


def _tfds_texts(tfds_name: str) -> Source:
    source = tfds_source(tfds_name)

    def probe():
        load = source.probe()
        return lambda: _as_text_splits(load())

    return Source(source.description, probe)


def _as_text_splits(arrays) -> tuple[Split, Split]:
    x_train, y_train, x_test, y_test = arrays
    decode = np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else b, otypes=[object])
    return ((decode(x_train), np.asarray(y_train, np.int32)), (decode(x_test), np.asarray(y_test, np.int32)))


def sources(dataset: TextDataset, data_dir: Optional[str]) -> list[Source]:
    def in_dir(d: Path):
        return [folder_source(d / n) for n in dict.fromkeys([dataset.name, "imdb"])] + [folder_source(d)]

    if data_dir:
        return in_dir(Path(data_dir))
    out = in_dir(Path(os.environ["ZOO_DATA_DIR"])) if os.environ.get("ZOO_DATA_DIR") else []
    return out + [folder_source(keras_cache_dir()), _tfds_texts(dataset.tfds_name)]


def load_splits(dataset: TextDataset, data_dir: Optional[str] = None) -> tuple[tuple[Split, Split], str]:
    how = ("Put imdb_train.jsonl.gz and imdb_test.jsonl.gz (text and label per line), the aclImdb/ tree or "
           "aclImdb_v1.tar.gz in a folder and pass --data-dir FOLDER (or set ZOO_DATA_DIR), or go online so tfds "
           "can download it.")
    return load_first(sources(dataset, data_dir), dataset.name, how)
