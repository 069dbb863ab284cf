"""Image classification datasets: MNIST and Fashion-MNIST (CIFAR-10 joins here).

Where the files are looked for, in order:
1. `--data-dir DIR`, or else `$ZOO_DATA_DIR`: `DIR/<name>/` then `DIR/` itself, holding
   the four standard IDX files (`train-images-idx3-ubyte.gz`, ...) or Keras's `<name>.npz`.
   An explicit `--data-dir` is the only place looked at.
2. MNIST only: the copy bundled inside this package (works offline right after install).
3. Keras's cache, `~/.keras/datasets` (`mnist.npz`, `fashion-mnist/*.gz`).
4. Fashion-MNIST only: `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`).
5. `tensorflow_datasets.load`, which downloads when the machine is online.

The pipelines keep uint8 pixels in memory, shuffle with the run's seed, batch,
then cast to float32 in 0..255 (models rescale inside, so an exported model
takes raw pixels) and prefetch. Validation is a fixed, seed-independent slice
of the training set, so runs with different seeds are compared on the same images.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from zoo.data import DataInfo, Datasets
from zoo.data.sources import (
    Arrays,
    bundled_folder,
    check_arrays,
    folder_source,
    keras_cache_dir,
    load_first,
    tfds_source,
)
from zoo.errors import DataError, UsageError

VALIDATION_SPLIT_SEED = 20240229  # fixed on purpose: the validation set never depends on --seed


@dataclasses.dataclass(frozen=True)
class ImageDataset:
    name: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    tfds_name: str
    bundled: bool = False
    keras_npz: Optional[str] = None
    keras_subdir: Optional[str] = None
    system_dirs: tuple[str, ...] = ()

    def sources(self, data_dir: Optional[str]):
        names = dict.fromkeys([self.name, self.name.replace("_", "-")])
        npz = [f"{self.name}.npz"] + ([self.keras_npz] if self.keras_npz else [])
        npz = list(dict.fromkeys(npz))

        def in_dir(d: Path):
            return [folder_source(d / n, npz) for n in names] + [folder_source(d, npz)]

        if data_dir:
            return in_dir(Path(data_dir))
        out = []
        if os.environ.get("ZOO_DATA_DIR"):
            out += in_dir(Path(os.environ["ZOO_DATA_DIR"]))
        if self.bundled:
            out.append(folder_source(bundled_folder(self.name)))
        cache = keras_cache_dir()
        if self.keras_npz:
            out.append(folder_source(cache, [self.keras_npz]))
        if self.keras_subdir:
            out.append(folder_source(cache / self.keras_subdir))
        out += [folder_source(Path(d)) for d in self.system_dirs]
        out.append(tfds_source(self.tfds_name))
        return out

    def load_arrays(self, data_dir: Optional[str] = None) -> tuple[Arrays, str]:
        how = (
            f"Put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) or {self.name}.npz in a folder "
            f"and pass --data-dir FOLDER (or set ZOO_DATA_DIR), or go online so tfds can download it"
        )
        if self.system_dirs:
            how += f", or install the Debian package dataset-{self.name.replace('_', '-')}"
        arrays, where = load_first(self.sources(data_dir), self.name, how + ".")
        return check_arrays(arrays, self.image_shape, len(self.class_names), where), where


MNIST = ImageDataset(
    name="mnist",
    image_shape=(28, 28, 1),
    class_names=tuple(str(i) for i in range(10)),
    tfds_name="mnist",
    bundled=True,
    keras_npz="mnist.npz",
)

FASHION_MNIST = ImageDataset(
    name="fashion_mnist",
    image_shape=(28, 28, 1),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    tfds_name="fashion_mnist",
    keras_subdir="fashion-mnist",
    system_dirs=("/usr/share/datasets/fashion-mnist",),
)


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float):
    """Carve a fixed validation set from the training arrays (same images for every seed)."""
    n_val = int(round(len(x) * fraction))
    if not 0 < n_val < len(x):
        raise UsageError(
            f"validation_fraction={fraction} leaves {n_val} of {len(x)} training examples for validation; "
            "pick a fraction that keeps both sides non-empty"
        )
    order = np.random.default_rng(VALIDATION_SPLIT_SEED).permutation(len(x))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[train], y[train]), (x[val], y[val])


def image_pipeline(x, y, *, batch_size: int, training: bool, seed: int, augment=None):
    """uint8 arrays -> batched float32 (0..255) tf.data pipeline; `augment` runs on train batches only."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment is not None:
        ds = ds.map(lambda a, b: (augment(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_augment(hp: Mapping[str, Any], seed: int):
    """Batch augmentation from the recipe's `augment_*` hyperparameters (None when all are off)."""
    import keras

    layers = []
    shift = float(hp.get("augment_translate", 0.0))
    if shift > 0:
        layers.append(keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed, dtype="float32"))
    if hp.get("augment_flip", False):
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 1, dtype="float32"))
    if not layers:
        return None

    def augment(batch):
        for layer in layers:
            batch = layer(batch, training=True)
        return batch

    return augment


def load_image_classification(
    dataset: ImageDataset, hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0
) -> Datasets:
    (x_train, y_train, x_test, y_test), where = dataset.load_arrays(data_dir)
    (x_tr, y_tr), (x_val, y_val) = split_validation(x_train, y_train, hp.get("validation_fraction", 0.1))
    bs = hp["batch_size"]
    info = DataInfo(
        name=dataset.name,
        input_shape=dataset.image_shape,
        class_names=dataset.class_names,
        num_train=len(x_tr),
        num_val=len(x_val),
        num_test=len(x_test),
        source=where,
        input_dtype="float32",
        input_range=(0.0, 255.0),
        preprocessing="raw pixel values 0..255 as float32, shape (batch, height, width, channels); "
        "the model rescales inside",
    )
    return Datasets(
        train=image_pipeline(x_tr, y_tr, batch_size=bs, training=True, seed=seed, augment=make_augment(hp, seed)),
        val=image_pipeline(x_val, y_val, batch_size=bs, training=False, seed=seed),
        test=image_pipeline(x_test, y_test, batch_size=bs, training=False, seed=seed),
        info=info,
    )


def mnist(hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0) -> Datasets:
    """MNIST handwritten digits, 28x28x1, 10 classes (60k train incl. validation, 10k test)."""
    return load_image_classification(MNIST, hp, data_dir, seed)


def fashion_mnist(hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0) -> Datasets:
    """Fashion-MNIST clothing images, 28x28x1, 10 classes (60k train incl. validation, 10k test)."""
    return load_image_classification(FASHION_MNIST, hp, data_dir, seed)


__all__ = ["mnist", "fashion_mnist", "MNIST", "FASHION_MNIST", "DataError"]
