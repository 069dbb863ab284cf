"""Datasets as `tf.data` pipelines, with what export and reports need to know about them.

A recipe's data function, `data(hp, data_dir=None, seed=0, files=None)`, returns a
`Datasets`: batched train / validation / test pipelines plus a `DataInfo` describing
the model input (kind, shape, dtype, value range, preprocessing) and the output (class
names). The same description goes into a run's `hparams.json` and an export's
`signature.json`.

Some pipelines derive files from the training split (a text vocabulary): they come
back in `Datasets.files`, training keeps them in the run folder, and everything that
later rebuilds the data for that run (resume, evaluate, export) passes them back as
`files`, so the run's inputs are encoded exactly as in training.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class DataInfo:
    name: str
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    num_train: int
    num_val: int
    num_test: int
    source: str
    input_dtype: str = "float32"
    input_range: tuple[float, float] = (0.0, 255.0)
    preprocessing: str = ""
    channel_mean: tuple[float, ...] = ()  # per-channel pixel mean / std of the training split (0..255 scale)
    channel_std: tuple[float, ...] = ()
    input_kind: str = "image"  # image: pixels (batch, height, width, channels); tokens: int32 ids (batch, length)
    vocab_size: int = 0  # tokens: ids are 0..vocab_size-1 (0 padding, 1 out-of-vocabulary)
    text: dict = dataclasses.field(default_factory=dict)  # tokens: how an app turns text into ids
    files: tuple[str, ...] = ()  # names of `Datasets.files`, kept in the run folder
    folder: str = ""  # the user's own data folder (folders.py): later commands on the run read it again

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["num_classes"] = self.num_classes
        return d


@dataclasses.dataclass(frozen=True)
class Datasets:
    train: Any  # tf.data.Dataset of (inputs, labels), batched, shuffled each epoch
    val: Any
    test: Any
    info: DataInfo
    files: dict = dataclasses.field(default_factory=dict)  # file name -> text, derived from the training split
    summary: str = ""  # what was read, printed by training (per-class counts and skipped files of a user's folder)


from zoo.data.images import binarized_mnist, cifar10, fashion_mnist, mnist  # noqa: E402  (for recipes)
from zoo.data.text import imdb_reviews  # noqa: E402

__all__ = ["DataInfo", "Datasets", "mnist", "binarized_mnist", "fashion_mnist", "cifar10", "imdb_reviews"]
