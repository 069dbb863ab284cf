"""The two types every data function returns: `DataInfo` (what the model input and output are) and `Datasets`
(the pipelines). In a module of their own so the data modules import them without importing the package."""

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


@dataclasses.dataclass(frozen=True)
class Noted:
    """What a loader returns when the copy it read has a caveat (a lossy re-encoding, say): the arrays and the note,
    which joins the source's description (the run records it; the model card shows it)."""

    arrays: Any  # sources.Arrays: x_train, y_train, x_test, y_test
    note: str
