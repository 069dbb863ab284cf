"""Run folders: creating them, writing artifacts atomically, reading them back.

A run folder is self-describing. `hparams.json` names the recipe and holds the
final hyperparameters, so `zoo.evaluate` and `export` need only the folder:

    runs/cnn_mnist/20261122-213000/
      hparams.json          recipe, hyperparameters, precision, seed, versions, data source, command
      model.keras           best model (by validation metric); `keras.saving.load_model` after `import zoo`
      history.csv           one row per epoch
      metrics.json          test metrics (written last: its presence means the run finished)
      classification_report.txt, confusion_matrix.png, curves.png, misclassified.png (images),
      roc_curve.png (two classes), vocab.txt (text: the vocabulary its inputs are encoded with)
      tensorboard/          TensorBoard logs
      backup/               resumable training state (removed when the run finishes)
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Optional

from zoo.errors import RunDirError, first_line
from zoo.files import atomic_path, clean_temporaries, is_temporary, read_json, write_json, write_text  # noqa: F401

HPARAMS = "hparams.json"
MODEL = "model.keras"
METRICS = "metrics.json"
HISTORY = "history.csv"
BACKUP = "backup"


def new_run_dir(root: str | os.PathLike, recipe: str) -> Path:
    """`root/recipe/YYYYmmdd-HHMMSS` (with a suffix if that exists already), created."""
    base = Path(root) / recipe / time.strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def check_run_dir_free(path: str | os.PathLike) -> None:
    """Refuse an explicit `--run-dir` that already holds anything (nothing is ever overwritten)."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RunDirError(
            f"run folder {path} already exists; pass --resume to continue that run, or choose another --run-dir"
        )


def claim_run_dir(path: str | os.PathLike) -> Path:
    """Create an explicit `--run-dir` (empty or new)."""
    check_run_dir_free(path)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_run(path: str | os.PathLike, need_model: bool = True) -> dict[str, Any]:
    """Read a run folder's `hparams.json` (and check `model.keras` is there); clear errors otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path} is not a folder; give the run folder that `python -m zoo.train` printed")
    if not (path / HPARAMS).is_file():
        raise RunDirError(f"{path} is not a run folder (no {HPARAMS}); give the folder that `python -m zoo.train` printed")
    run = read_json(path / HPARAMS)
    check_record(path / HPARAMS, run)
    if need_model and not (path / MODEL).is_file():
        raise RunDirError(f"{path} has no {MODEL} yet (the run has not finished an epoch); train it first or pass --resume")
    return run


# What later commands read from hparams.json: key path -> (type, what it must be). A file from another version,
# cut short or edited by hand is refused naming the file and the key.
RECORD = {
    ("recipe",): (str, "a recipe name"),
    ("hparams",): (dict, "an object of hyperparameters"),
    ("data",): (dict, "an object describing the data"),
    ("data", "name"): (str, "the dataset's name"),
    ("data", "input_shape"): (list, "a list of whole numbers"),
}
OPTIONAL = {
    ("seed",): (int, "a whole number"),
    ("precision",): (str, "a precision policy name"),
    ("data", "class_names"): (list, "a list of class names"),
    ("data", "files"): (list, "a list of file names"),
    ("data", "input_kind"): (str, "image or tokens"),
}


def check_record(file: Path, run: Any) -> None:
    """Refuse a run record that lacks a key later commands read, or holds a value of the wrong type."""
    if not isinstance(run, dict):
        raise RunDirError(f"{file} is not a zoo run record (a JSON object); was it written by zoo?")
    for table, required in ((RECORD, True), (OPTIONAL, False)):
        for keys, (kind, what) in table.items():
            value, name = run, ".".join(keys)
            for key in keys:
                value = value.get(key, ...) if isinstance(value, dict) else ...
            if value is ...:
                if required:
                    raise RunDirError(f"{file} lacks the key {name!r}; it is incomplete or from another version "
                                      "of zoo: train the run again")
                continue
            if not isinstance(value, kind) or isinstance(value, bool) or (
                    keys[-1] == "input_shape" and not all(isinstance(d, int) and d > 0 for d in value)) or (
                    keys[-1] in ("class_names", "files") and not all(isinstance(d, str) for d in value)):
                raise RunDirError(f"{file}: {name!r} must be {what}, got {json.dumps(value)[:80]}; was the file "
                                  "edited by hand? Train the run again")


def read_data_files(path: str | os.PathLike, run: dict[str, Any]) -> Optional[dict[str, str]]:
    """The files the run's data pipeline derived from its training split (e.g. vocab.txt), or None if it has none."""
    names = run.get("data", {}).get("files") or []
    if not names:
        return None
    files = {}
    for name in names:
        f = Path(path) / name
        if not f.is_file():
            raise RunDirError(f"{f} is missing: the run needs it to encode its inputs as in training; retrain the run")
        files[name] = f.read_text(encoding="utf-8")
    return files


def check_data_matches(path, run: dict[str, Any], info) -> None:
    """Refuse data that is not what the run was trained on (input shape, classes), saying what differs."""
    saved = run["data"]
    shape = tuple(saved["input_shape"])
    if tuple(info.input_shape) != shape:
        raise RunDirError(f"{path} was trained on inputs of shape {shape}, the data has {tuple(info.input_shape)}")
    classes = saved.get("class_names")
    if classes is not None and info.class_names and list(info.class_names) != list(classes):
        def names(found):
            return ", ".join(map(repr, found[:4])) + (", ..." if len(found) > 4 else "")

        new, lacking = sorted(set(info.class_names) - set(classes)), sorted(set(classes) - set(info.class_names))
        what = "; ".join(([f"the data has {names(new)}, which the run never saw"] if new else []) +
                         ([f"it lacks {names(lacking)}"] if lacking else [])) or "the same classes in another order"
        raise RunDirError(f"{path} was trained on {len(classes)} classes, the data has {len(info.class_names)}: "
                          f"{what}; give the --data-dir the run was trained on")


def load_data(path: str | os.PathLike, run: dict[str, Any], recipe, hp: dict[str, Any], data_dir=None):
    """The recipe's datasets for a run folder, encoded with the run's own derived files (its vocabulary), checked
    against what the run was trained on; a run trained on the user's own folder reads that folder again unless
    `data_dir` names another."""
    data_dir = data_dir or run.get("data", {}).get("folder") or None
    data = recipe.data(hp, data_dir=data_dir, seed=run.get("seed", 0), files=read_data_files(path, run))
    check_data_matches(path, run, data.info)
    return data


def latest_unfinished(root: str | os.PathLike, recipe: str) -> Path:
    """The newest run of `recipe` under `root` that has no metrics.json (for `--resume` without `--run-dir`)."""
    folder = Path(root) / recipe
    candidates = sorted(
        (p for p in folder.glob("*") if (p / HPARAMS).is_file() and not (p / METRICS).exists()),
        key=lambda p: p.stat().st_mtime,
    )
    if not candidates:
        raise RunDirError(f"no unfinished run of {recipe} under {folder} to resume; pass --run-dir DIR")
    return candidates[-1]


def load_model(path: str | os.PathLike):
    """`keras.saving.load_model` with a clear error for a missing, truncated or foreign file."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing")
    try:
        with warnings.catch_warnings():
            # A run trained with freeze_backbone saved an optimizer for its head only; the rebuilt model's is for
            # every layer, so Keras skips the (finished run's, unused) optimizer state with a warning
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path)
    except Exception as e:  # noqa: BLE001 - zip, h5 and deserialisation errors all mean "damaged"
        raise RunDirError(
            f"cannot load {path}: {first_line(e, 200)} (the file is damaged or not a Keras model; "
            "retrain, or resume the run if it has a backup/ folder)"
        ) from None
