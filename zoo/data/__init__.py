"""Datasets as `tf.data` pipelines, with what export and reports need to know about them.

A recipe's data function returns a `Datasets`: batched train / validation / test
pipelines plus a `DataInfo` describing the model input (shape, dtype, value
range, preprocessing) and the output (class names). The same description goes
into a run's `hparams.json` and an export's `signature.json`.
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


from zoo.data.images import cifar10, fashion_mnist, mnist  # noqa: E402  (re-exported for recipes)

__all__ = ["DataInfo", "Datasets", "mnist", "fashion_mnist", "cifar10"]
