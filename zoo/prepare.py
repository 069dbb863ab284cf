"""One way to get a recipe ready to fit: seed -> data -> model -> compile, with the steps per epoch the learning-rate
schedule is laid out for. Training, tuning, the GAN judge and the benchmarks all go through `prepare`, so a trial,
a judge and a training run with the same values start from the same weights and see the same batches.

    from zoo.prepare import prepare
    ready = prepare(zoo.get("cnn_mnist"), hp, seed=0)
    ready.model.fit(ready.data.train, validation_data=ready.data.val, epochs=hp["epochs"])
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from zoo import runtime
from zoo.data.types import Datasets
from zoo.tasks import get_task


@dataclasses.dataclass
class Prepared:
    data: Datasets
    model: Any  # a compiled keras.Model with its variables built
    steps_per_epoch: int


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    """Optimizer steps in one pass over `num_train` examples (the last batch may be short)."""
    return max(1, math.ceil(num_train / batch_size))


def build_model(recipe, hp: Mapping[str, Any], info):
    """The recipe's model with its variables built (called once on a zero input)."""
    model = recipe.build(hp, info)
    model(np.zeros((1, *info.input_shape), dtype=info.input_dtype))
    return model


def prepare(recipe, hp: Mapping[str, Any], *, seed: Optional[int] = 0, deterministic: bool = False,
            data: Union[Datasets, Callable[[], Datasets], None] = None, data_dir: Optional[str] = None,
            scope: Callable[[], Any] = contextlib.nullcontext, adjust: Optional[Callable[[Any], Any]] = None,
            compile_hp: Optional[Mapping[str, Any]] = None) -> Prepared:
    """Seed (unless `seed` is None: the caller's process is seeded already), load the data (`data`: given, or a
    function that loads it, else the recipe's own pipeline from `data_dir`), build the model inside `scope()` (a
    distribution strategy's), let `adjust(model)` change it (copy weights, freeze layers) and compile it with the
    recipe's task (`compile_hp`: hyperparameters that differ for compiling only, such as steps_per_execution)."""
    if seed is not None:
        runtime.seed_everything(seed, deterministic)
    if callable(data):
        data = data()
    elif data is None:
        data = recipe.data(hp, data_dir=data_dir, seed=seed or 0)
    steps = steps_per_epoch(data.info.num_train, hp["batch_size"])
    with scope():
        model = build_model(recipe, hp, data.info)
        if adjust is not None:
            adjust(model)
        get_task(recipe.task).compile(model, compile_hp or hp, steps)
    return Prepared(data, model, steps)
