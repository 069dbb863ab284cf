"""Image classification datasets: MNIST, Fashion-MNIST and CIFAR-10.

Where the files are looked for, in order:
1. `--data-dir DIR`, or else `$ZOO_DATA_DIR`: `DIR/<name>/` then `DIR/` itself, holding
   the dataset's standard files: the four IDX files (`train-images-idx3-ubyte.gz`, ...) or
   Keras's `<name>.npz` for MNIST-style sets; CIFAR-10's python batches (`cifar-10-batches-py/`
   as `cifar-10-python.tar.gz` extracts, or that archive itself).
   An explicit `--data-dir` is the only place looked at.
2. MNIST only: the copy bundled inside this package (works offline right after install).
3. Keras's cache, `~/.keras/datasets` (`mnist.npz`, `fashion-mnist/*.gz`, `cifar-10-batches-py/`).
4. Fashion-MNIST only: `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`).
5. `tensorflow_datasets.load`, which downloads when the machine is online.

The pipelines keep uint8 pixels in memory, shuffle with the run's seed, batch,
then cast to float32 in 0..255 (models rescale inside, so an exported model
takes raw pixels), augment training batches and prefetch. Augmentation is
vectorised over the batch (no per-example Python) and, apart from the
`augment_translate` layer, uses stateless random ops keyed by a per-batch seed
drawn from the run's seed, so it is reproducible however many threads run it.
Validation is a fixed, seed-independent slice of the training set, so runs with
different seeds are compared on the same images.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from zoo.data.types import DataInfo, Datasets
from zoo.data.sources import (
    Arrays,
    bundled_folder,
    check_arrays,
    folder_source,
    keras_cache_dir,
    array_pipeline,
    load_first,
    split_validation,
    tfds_source,
)
from zoo.data import folders
from zoo.data.cifar import cifar_source
from zoo.errors import DataError

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
    file_format: str = "idx"  # idx: IDX files or Keras's .npz; cifar: CIFAR's python batches

    def folder(self, d: Path):
        """The Source for this dataset's standard files in folder `d`."""
        if self.file_format == "cifar":
            return cifar_source(d)
        npz = list(dict.fromkeys([f"{self.name}.npz"] + ([self.keras_npz] if self.keras_npz else [])))
        return folder_source(d, npz)

    def sources(self, data_dir: Optional[str]):
        names = dict.fromkeys([self.name, self.name.replace("_", "-")])

        def in_dir(d: Path):
            return [self.folder(d / n) for n in names] + [self.folder(d)]

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
            out.append(self.folder(cache / self.keras_subdir))
        out += [folder_source(Path(d)) for d in self.system_dirs]
        out.append(tfds_source(self.tfds_name))
        return out

    def load_arrays(self, data_dir: Optional[str] = None) -> tuple[Arrays, str]:
        files = (
            "the python batches (cifar-10-batches-py/ as cifar-10-python.tar.gz extracts, or the archive itself)"
            if self.file_format == "cifar" else
            "the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
            f"t10k-labels-idx1-ubyte.gz) or {self.name}.npz"
        )
        how = f"Put {files} in a folder and pass --data-dir FOLDER (or set ZOO_DATA_DIR), or go online so tfds can " \
              "download it"
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


CIFAR10 = ImageDataset(
    name="cifar10",
    image_shape=(32, 32, 3),
    class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    tfds_name="cifar10",
    keras_subdir=".",  # ~/.keras/datasets/cifar-10-batches-py, where keras.datasets.cifar10 leaves it
    file_format="cifar",
)


def make_augment(hp: Mapping[str, Any], seed: int, fill=0.0):
    """Batch augmentation from the recipe's `augment_*` hyperparameters, or None when all are off:
    `augment_translate` (fraction, random shifts), `augment_crop` (pixels of zero padding, then a random crop
    back to size), `augment_flip` (horizontal), `augment_cutout` (side of one square erased per image, filled with
    `fill`, the mean pixel)."""
    import keras
    import tensorflow as tf

    shift = float(hp.get("augment_translate", 0.0))
    pad = int(hp.get("augment_crop", 0))
    flip = bool(hp.get("augment_flip", False))
    cutout = int(hp.get("augment_cutout", 0))
    translate = (keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed, dtype="float32")
                 if shift > 0 else None)
    if not (translate or pad or flip or cutout):
        return None

    def augment(images, key):
        keys = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), 4)
        if translate is not None:
            images = translate(images, training=True)
        if pad:
            images = random_crop(images, pad, keys[0])
        if flip:
            images = random_flip(images, keys[1])
        if cutout:
            images = random_cutout(images, cutout, fill, keys[2])
        return images

    return augment


def random_crop(images, pad: int, key):
    """Pad `pad` pixels of zeros on every side, then crop each image back to its size at its own random offset."""
    import tensorflow as tf

    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([n, 2], key, 0, 2 * pad + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(h)[None, :]
    cols = offsets[:, 1:] + tf.range(w)[None, :]
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def random_flip(images, key):
    """Mirror each image left-right with probability 1/2."""
    import tensorflow as tf

    flip = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], key) < 0.5
    return tf.where(flip, tf.reverse(images, axis=[2]), images)


def random_cutout(images, size: int, fill, key):
    """Erase one `size` x `size` square per image (centre uniform over the image, clipped at the borders)."""
    import tensorflow as tf

    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    centre = tf.random.stateless_uniform([n, 2], key, 0, max(h, w), dtype=tf.int32)
    rows = tf.abs(tf.range(h)[None, :] - centre[:, :1]) <= (size - 1) // 2
    cols = tf.abs(tf.range(w)[None, :] - centre[:, 1:]) <= (size - 1) // 2
    hole = tf.logical_and(rows[:, :, None], cols[:, None, :])[..., None]
    return tf.where(hole, tf.cast(tf.constant(fill), images.dtype) * tf.ones_like(images), images)


def load_image_classification(
    dataset: ImageDataset, hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0, files=None
) -> Datasets:
    if data_dir and folders.is_image_folder(data_dir):  # the user's own images, one subfolder per class
        return folders.load_image_folder(dataset.image_shape, hp, data_dir, seed, files,
                                         augment_for=lambda info: make_augment(hp, seed, list(info.channel_mean)))
    (x_train, y_train, x_test, y_test), where = dataset.load_arrays(data_dir)
    (x_tr, y_tr), (x_val, y_val) = split_validation(x_train, y_train, hp["validation_fraction"])
    bs = hp["batch_size"]
    mean = x_tr.mean(axis=(0, 1, 2), dtype=np.float64)
    std = x_tr.std(axis=(0, 1, 2), dtype=np.float64)
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
        channel_mean=tuple(round(float(m), 4) for m in mean),
        channel_std=tuple(round(float(s), 4) for s in std),
    )
    augment = make_augment(hp, seed, fill=list(info.channel_mean))
    return Datasets(
        train=array_pipeline(x_tr, y_tr, batch_size=bs, training=True, seed=seed, dtype="float32", augment=augment),
        val=array_pipeline(x_val, y_val, batch_size=bs, training=False, seed=seed, dtype="float32"),
        test=array_pipeline(x_test, y_test, batch_size=bs, training=False, seed=seed, dtype="float32"),
        info=info,
    )


BINARIZE_SEED = 20240229  # the fixed draw that binarises validation and test images: the same on every machine


def binarize(images, key):
    """Dynamic binarisation of a batch of 0..255 pixels: each pixel becomes 255 with probability pixel / 255, else
    0, a fresh draw every time (a TensorFlow function for the training pipeline; `key`: a stateless seed)."""
    import tensorflow as tf

    return tf.where(tf.random.stateless_uniform(tf.shape(images), key) < images / 255.0, 255.0, 0.0)


def load_binarized(dataset: ImageDataset, hp: Mapping[str, Any], data_dir: Optional[str] = None,
                   seed: int = 0) -> Datasets:
    """Binarised images, as published VAE likelihoods are measured: training images are binarised afresh every
    epoch (dynamic binarisation), validation and test images once, by a fixed draw (`BINARIZE_SEED`)."""
    (x_train, y_train, x_test, y_test), where = dataset.load_arrays(data_dir)
    (x_tr, y_tr), (x_val, y_val) = split_validation(x_train, y_train, hp["validation_fraction"])
    rng = np.random.default_rng(BINARIZE_SEED)
    x_val, x_test = ((rng.random(x.shape) < x / 255.0).astype(np.uint8) * 255 for x in (x_val, x_test))
    info = DataInfo(
        name=f"binarized_{dataset.name}", input_shape=dataset.image_shape, class_names=dataset.class_names,
        num_train=len(x_tr), num_val=len(x_val), num_test=len(x_test), source=where, input_range=(0.0, 255.0),
        preprocessing="binary pixels, 0 or 255 as float32, shape (batch, height, width, channels) (a pixel is 255 "
        f"with probability pixel / 255: afresh every epoch in training, a fixed draw with numpy seed {BINARIZE_SEED} "
        "for validation and test); the model rescales inside")
    bs = hp["batch_size"]
    return Datasets(
        train=array_pipeline(x_tr, y_tr, batch_size=bs, training=True, seed=seed, dtype="float32", augment=binarize),
        val=array_pipeline(x_val, y_val, batch_size=bs, training=False, seed=seed, dtype="float32"),
        test=array_pipeline(x_test, y_test, batch_size=bs, training=False, seed=seed, dtype="float32"),
        info=info,
    )


def mnist(hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0, files=None) -> Datasets:
    """MNIST handwritten digits, 28x28x1, 10 classes (60k train incl. validation, 10k test)."""
    return load_image_classification(MNIST, hp, data_dir, seed, files)


def fashion_mnist(hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0, files=None) -> Datasets:
    """Fashion-MNIST clothing images, 28x28x1, 10 classes (60k train incl. validation, 10k test)."""
    return load_image_classification(FASHION_MNIST, hp, data_dir, seed, files)


def cifar10(hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0, files=None) -> Datasets:
    """CIFAR-10 colour images, 32x32x3, 10 classes (50k train incl. validation, 10k test)."""
    return load_image_classification(CIFAR10, hp, data_dir, seed, files)


def binarized_mnist(hp: Mapping[str, Any], data_dir: Optional[str] = None, seed: int = 0, files=None) -> Datasets:
    """MNIST digits binarised (dynamically in training, a fixed draw for validation and test): the VAE benchmark."""
    return load_binarized(MNIST, hp, data_dir, seed)


__all__ = ["mnist", "binarized_mnist", "fashion_mnist", "cifar10", "MNIST", "FASHION_MNIST", "CIFAR10", "DataError"]
