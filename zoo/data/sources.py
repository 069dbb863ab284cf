"""Finding and reading dataset files: IDX (MNIST-style), Keras's `.npz` cache, tfds (CIFAR-10's batches: cifar.py).

Every reader validates what it reads (magic number, dimensions, counts, label
range) and raises `DataError` with the file's path, so a bad file is a one-line
message instead of a traceback from deep inside numpy or tfds.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.resources
import os
import struct
import zlib
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from zoo.data.types import Noted
from zoo.errors import DataError, UsageError, first_line

VALIDATION_SPLIT_SEED = 20240229  # fixed on purpose: the validation set never depends on --seed
OWN_DATA_SUMMARY = "data_summary.json"  # what a user's own folder or file gave a run (folders.py, tables.py)
HOLD_OUT_FRACTION = 0.2  # of each class held out for test when the user's data has no test split

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test

_IDX_DTYPES = {0x08: np.uint8}
_IDX_NAMES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _read_bytes(path: Path, plain: bool = False) -> bytes:
    """A file's bytes, gunzipped if it is gzip (unless `plain`); a missing or damaged file is a DataError."""
    if not path.is_file():
        raise DataError(f"{path} is missing; the dataset's folder is incomplete")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b" and not plain:
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"cannot read {path}: {e} (the file is damaged; replace it)") from None


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) holding uint8 data of `ndim` dimensions."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype_code, nd = data[2], data[3]
    if dtype_code not in _IDX_DTYPES:
        raise DataError(f"{path}: IDX data type 0x{dtype_code:02x} is not supported (expected 0x08, unsigned byte)")
    if nd != ndim:
        raise DataError(f"{path}: expected {ndim}-dimensional IDX data, the header says {nd}")
    header = 4 + 4 * nd
    if len(data) < header:
        raise DataError(f"{path} is truncated (header cut short)")
    dims = struct.unpack(">" + "I" * nd, data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != expected:
        raise DataError(
            f"{path}: header promises {'x'.join(map(str, dims))} = {expected} values, "
            f"file holds {len(data) - header} (truncated or padded file)"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def check_arrays(
    arrays: Arrays, image_shape: Sequence[int], num_classes: int, where: str
) -> Arrays:
    """Validate shapes, counts and label range; add the channel axis to grayscale images."""
    x_train, y_train, x_test, y_test = arrays
    out = []
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x = np.asarray(x)
        y = np.asarray(y).reshape(-1)
        if x.ndim == len(image_shape) and image_shape[-1] == 1:
            x = x[..., None]
        if tuple(x.shape[1:]) != tuple(image_shape):
            raise DataError(f"{where}: {split} images have shape {x.shape[1:]}, expected {tuple(image_shape)}")
        if len(x) != len(y):
            raise DataError(f"{where}: {len(x)} {split} images but {len(y)} labels; the files do not belong together")
        if len(x) == 0:
            raise DataError(f"{where}: the {split} split is empty")
        if x.dtype != np.uint8:
            raise DataError(f"{where}: {split} images are {x.dtype}, expected uint8 pixels")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= num_classes:
            raise DataError(
                f"{where}: {split} labels must be integers in 0..{num_classes - 1}, "
                f"found {y.min()}..{y.max()}"
            )
        out += [x, y.astype(np.int32)]
    return tuple(out)  # type: ignore[return-value]


def find_idx_files(folder: Path) -> Optional[dict[str, Path]]:
    """The four IDX files in `folder` (plain or .gz), or None if any is missing."""
    found = {}
    for key, stems in _IDX_NAMES.items():
        for stem in stems:
            for suffix in (".gz", ""):
                p = folder / (stem + suffix)
                if p.is_file():
                    found[key] = p
                    break
            if key in found:
                break
        if key not in found:
            return None
    return found


def read_idx_folder(folder: Path) -> Arrays:
    files = find_idx_files(folder)
    assert files is not None
    return (
        read_idx(files["x_train"], 3),
        read_idx(files["y_train"], 1),
        read_idx(files["x_test"], 3),
        read_idx(files["y_test"], 1),
    )


def read_npz(path: str | os.PathLike) -> Arrays:
    """Read Keras's cache format: an .npz with x_train, y_train, x_test, y_test."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
            if missing:
                raise DataError(f"{path} lacks arrays {sorted(missing)} (expected x_train, y_train, x_test, y_test)")
            return f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile/numpy raise many types for damaged files
        raise DataError(f"cannot read {path}: {e} (the file is damaged; replace it)") from None


@dataclasses.dataclass(frozen=True)
class Source:
    """One place a dataset may be: `probe()` returns a loader if the files are there."""

    description: str
    probe: Callable[[], Optional[Callable[[], Arrays]]]


def folder_source(folder: Path, npz_names: Sequence[str] = ()) -> Source:
    def probe():
        if find_idx_files(folder):
            return lambda: read_idx_folder(folder)
        for name in npz_names:
            if (folder / name).is_file():
                return lambda name=name: read_npz(folder / name)
        return None

    kinds = "IDX files" + (f" or {'/'.join(npz_names)}" if npz_names else "")
    return Source(f"{folder} ({kinds})", probe)


def bundled_folder(name: str) -> Path:
    return Path(str(importlib.resources.files("zoo.data") / "files" / name))


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def tfds_source(tfds_name: str) -> Source:
    errors: list[str] = []

    def load() -> Arrays:
        try:
            import tensorflow_datasets as tfds

            train, test = tfds.load(tfds_name, split=["train", "test"], as_supervised=True, batch_size=-1)
            return (*tfds.as_numpy(train), *tfds.as_numpy(test))  # type: ignore[return-value]
        except Exception as e:  # noqa: BLE001 - offline, missing package, quota...
            errors.append(first_line(e))
            raise _TfdsFailed(errors[-1]) from None

    return Source(f"tensorflow-datasets '{tfds_name}' (downloads when online)", lambda: load)


class _TfdsFailed(Exception):
    pass


def load_first(sources: Sequence[Source], dataset: str, how_to: str) -> tuple[Arrays, str]:
    """Load from the first source that has the files; otherwise one error listing every place tried."""
    tried = []
    for source in sources:
        loader = source.probe()
        if loader is None:
            tried.append(f"{source.description}: not found")
            continue
        try:
            loaded = loader()
        except _TfdsFailed as e:
            tried.append(f"{source.description}: failed ({e})")
            continue
        if isinstance(loaded, Noted):
            return loaded.arrays, f"{source.description}; {loaded.note}"
        return loaded, source.description
    raise DataError(f"{dataset} not found. Looked in: " + "; ".join(tried) + f". {how_to}")


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float):
    """Carve a fixed validation set from the training arrays (the same examples for every seed)."""
    n_val = int(round(len(x) * fraction))
    if not 0 < n_val < len(x):
        raise UsageError(
            f"validation_fraction={fraction} leaves {n_val} of {len(x)} training examples for validation; "
            "pick a fraction that keeps both sides non-empty"
        )
    order = np.random.default_rng(VALIDATION_SPLIT_SEED).permutation(len(x))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[train], y[train]), (x[val], y[val])


def hold_out(labels, fraction: float, name_of) -> tuple[list[int], list[int]]:
    """(train, test) indices of a fixed, seed-independent split that holds out `fraction` of each class (at least
    one example); a class with a single example is a DataError naming it by `name_of(label)`."""
    rng = np.random.default_rng(VALIDATION_SPLIT_SEED)
    train, test = [], []
    for label in sorted(set(labels)):
        mine = [i for i, y in enumerate(labels) if y == label]
        if len(mine) < 2:
            raise DataError(f"{name_of(label)} has a single example; a class needs at least two (one is held out for "
                            "test): add more or remove the class")
        order = rng.permutation(len(mine))
        n_test = max(1, int(round(len(mine) * fraction)))
        test += [mine[i] for i in order[:n_test]]
        train += [mine[i] for i in order[n_test:]]
    return sorted(train), sorted(test)


def array_pipeline(x, y, *, batch_size: int, training: bool, seed: int, dtype=None, augment=None):
    """In-memory arrays -> batched tf.data pipeline (training: shuffled each epoch with `seed`); inputs are cast to
    `dtype` after batching (uint8 pixels -> float32 0..255); `augment(inputs, key)` runs on train batches only,
    `key` being a stateless seed (two int64) drawn per batch from `seed`.

    Training shuffles indices and gathers each batch from the arrays: refilling a buffer of 54,000 scalars per epoch
    is cheaper than one of 54,000 image tensors (MNIST's training pipeline alone: 0.25 s per epoch instead of
    1.2 s on a 2-core CPU, time taken from the model's cores)."""
    import tensorflow as tf

    inputs, labels = tf.nest.map_structure(tf.constant, x), tf.constant(y)  # x: an array or a tuple of arrays
    ds = tf.data.Dataset.range(len(y))
    if training:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda i: (tf.nest.map_structure(lambda a: tf.gather(a, i), inputs),
                                             tf.gather(labels, i)), num_parallel_calls=tf.data.AUTOTUNE)
    return _augmented(ds, training=training, seed=seed, dtype=dtype, augment=augment)


def dataset_pipeline(paths, labels, decode, *, batch_size: int, training: bool, seed: int, augment=None):
    """Files -> the same batched pipeline as `array_pipeline`: `decode(path)` (a TensorFlow function) runs in
    parallel once per file, the decoded uint8 images are cached in memory, then shuffled, batched, cast to float32
    and augmented like arrays."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((list(paths), labels))
    ds = ds.map(lambda p, y: (decode(p), y), num_parallel_calls=tf.data.AUTOTUNE).cache()
    return _batched(ds, len(labels), batch_size=batch_size, training=training, seed=seed, dtype="float32",
                    augment=augment)


def _batched(ds, n: int, *, batch_size: int, training: bool, seed: int, dtype=None, augment=None):
    if training:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return _augmented(ds.batch(batch_size), training=training, seed=seed, dtype=dtype, augment=augment)


def _augmented(ds, *, training: bool, seed: int, dtype=None, augment=None):
    """Batches -> cast to `dtype`, augmented (training only), prefetched."""
    import tensorflow as tf

    if dtype is not None:
        ds = ds.map(lambda a, b: (tf.cast(a, dtype), b), num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment is not None:
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, keys).map(lambda batch, key: (augment(batch[0], key), batch[1]),
                                               num_parallel_calls=tf.data.AUTOTUNE)
    # No tf.data autotuning: its thread sleeps up to 10 s between rounds and deleting an iterator (Keras does at
    # every epoch's end) waits for it to wake, which held some epochs' first batch 8-10 s on 2-core CPUs (cnn_mnist:
    # 20 s epochs instead of 11). Without it, parallel maps use one call per core, which keeps these in-memory
    # pipelines many times ahead of the model (benchmarks/pipeline.py).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)
