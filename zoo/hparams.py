"""Hyperparameters: recipe defaults < config file < `--set key=value` overrides.

Every value is type-checked against the recipe's default (an int stays an int,
`true`/`false` for booleans); unknown keys are refused with the valid ones.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from typing import Any, Iterable, Mapping

from zoo.defaults import CHOICES
from zoo.errors import UsageError, first_line

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}

# Ranges that hold whatever the recipe: (low, high, low inclusive, high inclusive).
_RANGES = {
    "epochs": (1, math.inf, True, False),
    "batch_size": (1, math.inf, True, False),
    "learning_rate": (0.0, math.inf, False, False),
    "dropout": (0.0, 1.0, True, False),
    "weight_decay": (0.0, math.inf, True, False),
    "label_smoothing": (0.0, 1.0, True, False),
    "l1": (0.0, math.inf, True, False),
    "l2": (0.0, math.inf, True, False),
    "momentum": (0.0, 1.0, True, False),
    "ema": (0.0, 1.0, True, False),
    "base_convs": (0, math.inf, True, False),
    "warmup_epochs": (0.0, math.inf, True, False),
    "augment_translate": (0.0, 1.0, True, False),
    "augment_crop": (0, math.inf, True, False),
    "augment_cutout": (0, math.inf, True, False),
    "validation_examples": (1, math.inf, True, False),
    "early_stopping_patience": (0, math.inf, True, False),
    "steps_per_execution": (1, math.inf, True, False),
    "validation_fraction": (0.0, 1.0, False, False),
    "noise_std": (0.0, math.inf, True, False),
    "beta_1": (0.0, 1.0, True, False),
    "beta": (0.0, math.inf, False, False),
    "vocab_size": (3, math.inf, True, False),  # padding, [UNK] and at least one word
    # sizes and counts of the models and their data
    **{key: (1, math.inf, True, False) for key in (
        "code_dim", "filters", "sequence_length", "embed_dim", "units", "layers", "blocks",
        "convs_per_block", "dense_units", "noise_dim", "judge_epochs", "samples", "depth", "width", "heads", "ff_dim",
        "latent_dim", "iw_samples", "iw_examples")},
}


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """`["lr=0.1", "dropout=0.2"]` -> `{"lr": "0.1", "dropout": "0.2"}` (still strings)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r} (for example --set dropout=0.3)")
        out[key] = value.strip()
    return out


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON or YAML mapping of hyperparameters.

    A run folder's `hparams.json` and a search's `best_hparams.json` work too:
    their values sit under an `"hparams"` key, which is unwrapped.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse failure is the user's file
        raise UsageError(f"config file {path} is not valid {'YAML' if path.endswith(('.yaml', '.yml')) else 'JSON'}: "
                         f"{first_line(e)}") from None
    if isinstance(data, dict) and isinstance(data.get("hparams"), dict):
        data = data["hparams"]
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a mapping of hyperparameter names to values")
    return data


def coerce(key: str, value: Any, default: Any) -> Any:
    """Convert `value` (a string from the command line, or a parsed config value) to the type of `default`."""
    kind = type(default)
    bad = UsageError(f"hyperparameter {key!r} expects {kind.__name__} (default {default!r}), got {value!r}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise bad
    if kind is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    f = float(value)
                except ValueError:
                    raise bad from None
                if f.is_integer():
                    return int(f)
        raise bad
    if kind is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            result = float(value)
        elif isinstance(value, str):
            try:
                result = float(value)
            except ValueError:
                raise bad from None
        else:
            raise bad
        if not math.isfinite(result):
            raise bad
        return result
    if kind is str:
        if isinstance(value, str):
            return value
        raise bad
    raise bad


def resolve(
    recipe_name: str,
    defaults: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge defaults < config < overrides, refusing unknown keys and ill-typed values."""
    merged = dict(defaults)
    for source in (config or {}, overrides or {}):
        for key, value in source.items():
            if key not in defaults:
                close = difflib.get_close_matches(key, defaults, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise UsageError(
                    f"unknown hyperparameter {key!r} for {recipe_name}{hint}; "
                    f"valid keys: {', '.join(sorted(defaults))}"
                )
            merged[key] = coerce(key, value, defaults[key])
    check_ranges(merged)
    return merged


def check_ranges(hp: Mapping[str, Any]) -> None:
    for key, allowed in CHOICES.items():
        if key in hp and hp[key] not in allowed:
            raise UsageError(f"hyperparameter {key!r} must be one of {', '.join(allowed)}, got {hp[key]!r}")
    for key, (low, high, low_in, high_in) in _RANGES.items():
        if key not in hp:
            continue
        v = hp[key]
        ok = (v >= low if low_in else v > low) and (v <= high if high_in else v < high)
        if not ok:
            lo = "[" if low_in else "("
            hi = "]" if high_in else ")"
            raise UsageError(f"hyperparameter {key!r} must be in {lo}{low}, {high}{hi}, got {v!r}")
