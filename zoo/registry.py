"""The recipe registry: one registered name = model + data + hyperparameters + search space.

A recipe is a function that builds the model, decorated with `@recipe(...)`;
its name is the function's name and its description the docstring's first line:

    @recipe(data=images.mnist, task="classification",
            hparams={...}, search_space={...})
    def cnn_mnist(hp, info):
        '''Small VGG-style CNN for MNIST digits.

        python -m zoo.train cnn_mnist
        '''
        return ConvNet(num_classes=info.num_classes, ...)

Hyperparameters are flat and scalar (int, float, bool, str) so that every one
can be set from the command line (`--set dropout=0.3`) and searched. Search
spaces are plain data; `tuning/` turns them into keras-tuner hyperparameters.
A space must contain the recipe's defaults: searches start from them.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable, Mapping

from zoo.errors import UsageError
from zoo.tasks import TASKS

SCALAR_TYPES = (bool, int, float, str)
SPACE_TYPES = {
    "float": {"min", "max", "sampling", "step"},
    "int": {"min", "max", "step", "sampling"},
    "choice": {"values"},
    "bool": set(),
}

_REGISTRY: dict[str, "Recipe"] = {}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything needed to train, tune and export one model on one dataset.

    name: registered name, used on the command line.
    description: one line for `--list`.
    task: task kind; decides loss, metrics, reports and export checks.
    build: `build(hp, info) -> keras.Model` (uncompiled, subclassed, serializable).
    data: `data(hp, data_dir=None, seed=0) -> zoo.data.Datasets`.
    hparams: default hyperparameters (flat, scalar).
    search_space: plain-data search space over a subset of `hparams`.
    """

    name: str
    description: str
    task: str
    build: Callable[..., Any]
    data: Callable[..., Any]
    hparams: Mapping[str, Any]
    search_space: Mapping[str, Mapping[str, Any]]
    doc: str = ""


def recipe(*, data, task, hparams, search_space):
    """Register the decorated model-building function as a recipe."""

    def decorate(build):
        doc = (build.__doc__ or "").strip()
        register(
            Recipe(
                name=build.__name__,
                description=doc.splitlines()[0] if doc else "",
                task=task,
                build=build,
                data=data,
                hparams=dict(hparams),
                search_space={k: dict(v) for k, v in search_space.items()},
                doc=doc,
            )
        )
        return build

    return decorate


def register(r: Recipe) -> Recipe:
    """Add a recipe; a duplicate name or a malformed recipe is an error."""
    if r.name in _REGISTRY:
        raise ValueError(f"recipe {r.name!r} is already registered")
    if not r.description:
        raise ValueError(f"recipe {r.name!r} needs a docstring (its first line describes it)")
    if r.task not in TASKS:
        raise ValueError(f"recipe {r.name!r}: unknown task {r.task!r}; known tasks: {', '.join(sorted(TASKS))}")
    for key, value in r.hparams.items():
        if not isinstance(value, SCALAR_TYPES):
            raise ValueError(
                f"recipe {r.name!r}: hyperparameter {key!r} must be int, float, bool or str, "
                f"not {type(value).__name__}"
            )
    for key, spec in r.search_space.items():
        _check_space_entry(r, key, spec)
    _REGISTRY[r.name] = r
    return r


def _check_space_entry(r: Recipe, key: str, spec: Mapping[str, Any]) -> None:
    where = f"recipe {r.name!r}, search space {key!r}"
    if key not in r.hparams:
        raise ValueError(f"{where}: not a hyperparameter of the recipe")
    kind = spec.get("type")
    if kind not in SPACE_TYPES:
        raise ValueError(f"{where}: type must be one of {sorted(SPACE_TYPES)}, not {kind!r}")
    extra = set(spec) - SPACE_TYPES[kind] - {"type"}
    if extra:
        raise ValueError(f"{where}: unknown fields {sorted(extra)}")
    default = r.hparams[key]
    if kind in ("float", "int"):
        if "min" not in spec or "max" not in spec or not spec["min"] < spec["max"]:
            raise ValueError(f"{where}: needs min < max")
        if spec.get("sampling", "linear") not in ("linear", "log", "reverse_log"):
            raise ValueError(f"{where}: sampling must be linear, log or reverse_log")
        if spec.get("sampling") == "log" and spec["min"] <= 0:
            raise ValueError(f"{where}: log sampling needs min > 0")
        allowed = (int,) if kind == "int" else (int, float)
        if isinstance(default, bool) or not isinstance(default, allowed):
            raise ValueError(f"{where}: default {default!r} is not {kind}")
        if not spec["min"] <= default <= spec["max"]:
            raise ValueError(f"{where}: default {default!r} lies outside [{spec['min']}, {spec['max']}] "
                             "(searches start from the defaults)")
    elif kind == "choice":
        values = spec.get("values")
        if not values or any(type(v) is not type(default) for v in values):
            raise ValueError(f"{where}: values must be a non-empty list of {type(default).__name__}")
        if default not in values:
            raise ValueError(f"{where}: the default {default!r} must be one of the values (searches start "
                             "from the defaults)")
    elif kind == "bool" and not isinstance(default, bool):
        raise ValueError(f"{where}: default {default!r} is not bool")


def get(name: str) -> Recipe:
    """The recipe called `name`; an unknown name lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(
            f"unknown recipe {name!r}.{hint} Known recipes: {', '.join(sorted(_REGISTRY))} "
            "(python -m zoo.train --list describes them)"
        ) from None


def list_recipes(task: str | None = None) -> list[str]:
    """Sorted names of the registered recipes, optionally of one task kind."""
    return sorted(n for n, r in _REGISTRY.items() if task is None or r.task == task)

