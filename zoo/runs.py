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
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from zoo.errors import RunDirError

HPARAMS = "hparams.json"
MODEL = "model.keras"
METRICS = "metrics.json"
HISTORY = "history.csv"
BACKUP = "backup"


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    A killed or failing writer leaves the old file (or none), never a truncated one.
    The temporary name keeps the final suffix (Keras insists on `.keras` / `.weights.h5`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".weights.h5") else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as keras want to create the file themselves
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # disk full, quota, read-only: say so, keep what was there
        kept = "the previous version is kept" if path.exists() else "nothing was written"
        raise RunDirError(f"cannot write {path}: {e.strerror or e}; {kept}. Free space (or fix permissions) "
                          "and run again; training runs continue with --resume") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def is_temporary(path: Path) -> bool:
    """A leftover of an interrupted atomic write (`.NAME.XXXX.tmp...`, `.saved_model.XXXX`)."""
    return path.name.startswith(".") and (".tmp" in path.name or path.name.startswith(".saved_model"))


def clean_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove what killed writers left behind under `folder`; return what was removed."""
    import shutil

    removed = []
    for p in sorted(Path(folder).rglob(".*"), key=lambda p: len(p.parts), reverse=True):
        if is_temporary(p) and p.exists():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p)
    return removed


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing") from None
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path} is damaged ({e}); it is not valid JSON") from None


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
    if not isinstance(run, dict) or "recipe" not in run or "hparams" not in run:
        raise RunDirError(f"{path / HPARAMS} lacks 'recipe' or 'hparams'; was it written by zoo?")
    if need_model and not (path / MODEL).is_file():
        raise RunDirError(f"{path} has no {MODEL} yet (the run has not finished an epoch); train it first or pass --resume")
    return run


def load_run_recipe(path: str | os.PathLike):
    """(run, recipe, hparams) of a finished run folder: its hparams.json, the registered recipe it names,
    and the recipe's defaults updated with the run's values."""
    from zoo import registry
    from zoo.errors import ZooError

    run = load_run(path)
    try:
        recipe = registry.get(run["recipe"])
    except ZooError:
        raise RunDirError(f"{path} is a run of {run['recipe']!r}, which this version of zoo does not know") from None
    return run, recipe, dict(recipe.hparams, **run["hparams"])


def require_classifier(path, recipe, command: str) -> None:
    """Refuse a run whose model does not output class probabilities (an autoencoder) for `command`."""
    from zoo.errors import UsageError
    from zoo.tasks import get_task

    if not get_task(recipe.task).gives_labels:
        raise UsageError(f"{path} is a run of {recipe.name}, a {recipe.task} recipe; {command} works on classifiers")


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


def load_data(path: str | os.PathLike, run: dict[str, Any], recipe, hp: dict[str, Any], data_dir=None):
    """The recipe's datasets for a run folder, encoded with the run's own derived files (its vocabulary); a run
    trained on the user's own folder reads that folder again unless `data_dir` names another."""
    data_dir = data_dir or run.get("data", {}).get("folder") or None
    return recipe.data(hp, data_dir=data_dir, seed=run.get("seed", 0), files=read_data_files(path, run))


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
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RunDirError(
            f"cannot load {path}: {msg[:200]} (the file is damaged or not a Keras model; "
            "retrain, or resume the run if it has a backup/ folder)"
        ) from None
