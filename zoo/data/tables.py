"""Your own texts: a CSV or JSON Lines file with a text column and a label column, for any text recipe.

    python -m zoo.train gru_imdb --data-dir tickets.csv                          # a test split is carved out
    python -m zoo.train gru_imdb --data-dir tickets/ --set text_column=body --set label_column=team
                                                   # tickets/ holds train.csv + test.csv (or .jsonl, .jsonl.gz)

Labels may be any strings or numbers, with any number of classes: class names are the distinct labels, sorted
(numerically when they all are numbers). Without a test file, 20% of each class is held out by a fixed draw. A
missing column, an empty text or label, a line that is not JSON or a file that is not UTF-8 is a one-line error
naming the file and line; a test label the training file lacks is an error too. The files' sha256 go into the
run's `data_summary.json`, so later commands refuse a file that changed after training.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from zoo.data.sources import HOLD_OUT_FRACTION, OWN_DATA_SUMMARY, _read_bytes, hold_out
from zoo.errors import DataError

SUFFIXES = (".csv", ".jsonl", ".jsonl.gz", ".csv.gz")
SUMMARY = OWN_DATA_SUMMARY
TEST_FRACTION = HOLD_OUT_FRACTION


def _suffix(path: Path) -> Optional[str]:
    return next((s for s in SUFFIXES if path.name.lower().endswith(s)), None)


def table_files(data_dir) -> Optional[dict[str, Path]]:
    """{"all": file} for one file, {"train": ..., "test": ...} for a folder holding train.* and test.*; else None."""
    path = Path(data_dir)
    if path.is_file() and _suffix(path):
        return {"all": path}
    if path.is_file():
        raise DataError(f"{path}: your own texts are read from {', '.join(SUFFIXES)} files; save it as CSV (a "
                        "header row naming the text and label columns) or JSON Lines")
    if path.is_dir():
        found = {split: f for split in ("train", "test") for f in sorted(path.iterdir())
                 if _suffix(f) and f.name[: -len(_suffix(f))] == split}
        if set(found) == {"train", "test"}:
            return found
        if found:
            (have, f), = found.items()
            lacking = "test" if have == "train" else "train"
            raise DataError(f"{path} has {f.name} but no {lacking} file: add {lacking}{_suffix(f)} with the same "
                            f"columns, or pass the file itself (--data-dir {f}) to hold out "
                            f"{TEST_FRACTION:.0%} of it for testing")
        other = sorted(f.name for f in path.iterdir()
                       if f.is_file() and f.name.split(".")[0] in ("train", "test") and not _suffix(f))
        if other:
            raise DataError(f"{path}: {', '.join(other)} cannot be read; your own texts are read from "
                            f"train and test files ending in {', '.join(SUFFIXES)} (save them as CSV or JSON Lines)")
    return None


def read_rows(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """(texts, labels as strings) of one CSV or JSON Lines file; a bad row is a DataError naming file and line."""
    raw = _read_bytes(path)
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {e.start}); re-save the file as UTF-8") from None
    if ".csv" in path.name.lower():
        reader = csv.DictReader(io.StringIO(content, newline=""))
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: no column {' or '.join(map(repr, missing))} (columns: "
                            f"{', '.join(reader.fieldnames or [])}); name yours with --set text_column=... "
                            "--set label_column=...")
        rows = ((reader.line_num, row) for row in reader)
    else:
        rows = ((n, _json_row(path, n, line)) for n, line in enumerate(content.split("\n"), 1) if line.strip())
    texts, labels = [], []
    for n, row in rows:
        text, label = row.get(text_column), row.get(label_column)
        for name, column, value in (("text", text_column, text), ("label", label_column, label)):
            if value is None or (isinstance(value, str) and not value.strip()):
                raise DataError(f"{path} line {n}: no {name} (column {column!r}); fill it in or remove the line")
        if not isinstance(text, str):
            raise DataError(f"{path} line {n}: the text must be a string, got {type(text).__name__}")
        texts.append(text)
        labels.append(str(label).strip())
    if not texts:
        raise DataError(f"{path} holds no rows")
    return texts, labels


def _json_row(path: Path, n: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{path} line {n}: not JSON ({e.msg}); each line must be one object") from None
    if not isinstance(row, dict):
        raise DataError(f"{path} line {n}: expected a JSON object, got {type(row).__name__}")
    return row


def _class_order(labels) -> list[str]:
    names = sorted(set(labels))
    try:
        return sorted(names, key=float)
    except ValueError:
        return names


def load_table(data_dir, hp: Mapping[str, Any], files: Optional[Mapping[str, str]] = None):
    """((train texts, labels), (test texts, labels)), class names, summary dict. With `files` (the run's saved
    summary) the files must be unchanged and the class names are the run's."""
    found = table_files(data_dir)
    columns = hp.get("text_column", "text"), hp.get("label_column", "label")
    saved = json.loads(files[SUMMARY]) if files and SUMMARY in files else None
    digests = {split: hashlib.sha256(path.read_bytes()).hexdigest() for split, path in found.items()}
    if saved and saved["sha256"] != digests:
        raise DataError(f"{data_dir} changed since the run was trained (its sha256 differs from data_summary.json); "
                        "train a new run on it")
    read = {split: read_rows(path, *columns) for split, path in found.items()}
    if "all" in read:
        read = _carve_test(*read["all"])
    classes = saved["classes"] if saved else _class_order(read["train"][1])
    if len(classes) < 2:
        raise DataError(f"{found['train' if 'train' in found else 'all']}: every label is {classes[0]!r}; a "
                        "classifier needs at least two classes")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(read["test"][1]) - set(index))
    if unknown:
        raise DataError(f"{found.get('test', found.get('all'))}: test labels {unknown[:5]} never occur in training; "
                        "add training rows for them or remove those rows")
    splits = [(np.array(t, dtype=object), np.array([index[y] for y in labels], np.int32))
              for t, labels in (read["train"], read["test"])]
    summary = {"source": {k: str(p.resolve()) for k, p in found.items()}, "sha256": digests,
               "columns": {"text": columns[0], "label": columns[1]}, "classes": classes,
               "split": "given (train, test files)" if "all" not in found else
               f"{TEST_FRACTION:.0%} of each class held out for test",
               "counts": {c: {s: int(np.sum(y == i)) for s, (_, y) in zip(("train", "test"), splits)}
                          for c, i in index.items()}}
    return splits, classes, summary


def _carve_test(texts, labels) -> dict[str, tuple[list, list]]:
    train, test = hold_out(labels, TEST_FRACTION, lambda label: f"label {label!r}")
    return {"train": ([texts[i] for i in train], [labels[i] for i in train]),
            "test": ([texts[i] for i in test], [labels[i] for i in test])}


def describe(summary: dict) -> str:
    lines = [f"{'class':<20} {'train':>7} {'test':>7}  (validation comes out of train)"]
    lines += [f"{c[:20]:<20} {n['train']:>7} {n['test']:>7}" for c, n in summary["counts"].items()]
    return "\n".join(lines)
