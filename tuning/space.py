"""Plain-data search spaces (as recipes declare them) -> keras-tuner hyperparameters.

    {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"}   -> hp.Float
    {"type": "int", "min": 1, "max": 4, "step": 1}                    -> hp.Int
    {"type": "choice", "values": [64, 128, 256]}                      -> hp.Choice
    {"type": "bool"}                                                  -> hp.Boolean
"""

from __future__ import annotations

from typing import Any, Mapping


def sample(hp, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Register every entry of `space` on the keras-tuner `hp` and return the values it picked."""
    values = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "float":
            values[name] = hp.Float(name, min_value=float(spec["min"]), max_value=float(spec["max"]),
                                    step=spec.get("step"), sampling=spec.get("sampling", "linear"))
        elif kind == "int":
            values[name] = hp.Int(name, min_value=int(spec["min"]), max_value=int(spec["max"]),
                                  step=spec.get("step"), sampling=spec.get("sampling", "linear"))
        elif kind == "choice":
            values[name] = hp.Choice(name, list(spec["values"]))
        elif kind == "bool":
            values[name] = hp.Boolean(name)
        else:  # the registry validates spaces, so this is a bug
            raise ValueError(f"unknown search-space type {kind!r} for {name!r}")
    return values


def restrict(space: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The space without the keys the user fixed with --set (they are not searched)."""
    return {k: dict(v) for k, v in space.items() if k not in fixed}
