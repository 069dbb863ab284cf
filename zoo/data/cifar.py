"""CIFAR-10's "python version" files: five training batches and a test batch, each a pickled dict.

Read from `cifar-10-batches-py/` (as `cifar-10-python.tar.gz` extracts), from the batch
files themselves, or from the archive in memory. Pickles can run any code they name, so
a restricted unpickler accepts only what a CIFAR batch holds; every batch is validated
and a bad one is named in a one-line `DataError`.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from zoo.data.sources import Arrays, Source, _read_bytes
from zoo.data.types import Noted
from zoo.errors import DataError

CIFAR_TRAIN = tuple(f"data_batch_{k}" for k in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_DIR = "cifar-10-batches-py"
JPEG_COPY = ("a JPEG-lossy copy: its batches name .jpg files, where the official release's name .png, so its "
             "pixels were re-encoded and accuracies on it are not comparable with published CIFAR-10 numbers")
CIFAR_ARCHIVES = ("cifar-10-python.tar.gz", "cifar-10-batches-py.tar.gz")  # the official name, Keras's cache name


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches only: dicts, lists, strings and numpy arrays. A pickle can run any code it
    names, so every other global is refused (Keras's own CIFAR reader is restricted the same way)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
               ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")}  # the last three: Python 3 pickles

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never holds")
        return super().find_class(module, name)


def read_cifar_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch (a pickled dict with `data` (N, 3072) uint8 and `labels`) -> NHWC uint8, labels."""
    return _arrays(_unpickle(raw, where), where)


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 - truncated, not a pickle, foreign objects
        raise DataError(f"{where} is not a CIFAR-10 python batch ({type(e).__name__}: {e}); replace it") from None
    if not isinstance(batch, dict):
        raise DataError(f"{where} is not a CIFAR-10 python batch (holds {type(batch).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _arrays(batch: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{where} lacks 'data' or 'labels'; it is not a CIFAR-10 python batch")
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(f"{where}: 'data' must be uint8 of shape (N, 3072), found {shape} "
                        f"{getattr(data, 'dtype', type(data).__name__)}")
    if labels.shape != (len(data),):
        raise DataError(f"{where}: {len(data)} images but {labels.size} labels")
    if len(labels) and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels must be integers in 0..9, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def jpeg_named(batch: dict) -> bool:
    """Whether a batch names its images as .jpg files: the official batches name .png files; a copy that names
    .jpg ones was re-encoded with a lossy codec, pixels included."""
    names = batch.get("filenames") or []
    return any((n.decode("latin1") if isinstance(n, bytes) else str(n)).lower().endswith((".jpg", ".jpeg"))
               for n in names[:100])


def _cifar_reader(folder: Path) -> Optional[Callable[[], Arrays]]:
    """A loader for CIFAR-10 in `folder` (its batches, `cifar-10-batches-py/`, or the .tar.gz), or None."""
    for batches in (folder / CIFAR_DIR, folder):
        if any((batches / n).is_file() for n in (*CIFAR_TRAIN, CIFAR_TEST)):
            return lambda: _read_cifar(lambda name: _read_bytes(batches / name, plain=True), str(batches))
    for name in CIFAR_ARCHIVES:
        if (folder / name).is_file():
            return lambda name=name: _read_cifar_archive(folder / name)
    return None


def _read_cifar(read: Callable[[str], bytes], where: str):
    parts = [read_cifar_batch(read(name), f"{where}/{name}") for name in CIFAR_TRAIN]
    test = _unpickle(read(CIFAR_TEST), f"{where}/{CIFAR_TEST}")
    x_test, y_test = _arrays(test, f"{where}/{CIFAR_TEST}")
    arrays = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), x_test, y_test
    return Noted(arrays, JPEG_COPY) if jpeg_named(test) else arrays


def _read_cifar_archive(path: Path) -> Arrays:
    try:
        with tarfile.open(path, "r:gz") as tar:
            def read(name):
                member = f"{CIFAR_DIR}/{name}"
                try:
                    return tar.extractfile(member).read()  # read in memory: nothing is unpacked to disk
                except KeyError:
                    raise DataError(f"{path} lacks {member}; the archive is incomplete") from None

            return _read_cifar(read, f"{path}:{CIFAR_DIR}")
    except (OSError, EOFError, tarfile.TarError, zlib.error) as e:
        raise DataError(f"cannot read {path}: {e} (the archive is damaged; replace it)") from None


def cifar_source(folder: Path) -> Source:
    return Source(f"{folder} ({CIFAR_DIR}/ or {CIFAR_ARCHIVES[0]})", lambda: _cifar_reader(folder))
