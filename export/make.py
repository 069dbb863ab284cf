"""The makers of the export variants: each turns the verified float32 file into one variant's file.

A row of `export/variants.py` names its maker here. A maker takes the variant and a
`Making` (what every variant of one graph shares) and returns (content, how it was
made, extra report fields).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from export import quantize, sensitivity, tflite, variants, verify


@dataclasses.dataclass
class Making:
    graph: object  # a zoo.tasks.graphs.ExportGraph
    fixed_sm: Path  # the fixed-batch SavedModel the float32 file was converted from
    float_content: bytes
    calibrated: quantize.Calibrated
    layer_inputs: list  # what the per-layer error tables are measured on
    sample: np.ndarray  # test inputs the agreement with Keras is measured on
    keras_out: np.ndarray
    scale: float  # agreement limits are relative to outputs larger than 1
    int8_io: str
    allow_flex: bool
    quantizer: str
    max_loss: float
    min_ratio: float
    latency_runs: int
    log: Callable
    general: Optional[dict] = None  # the file's general metadata (name, version, description); None: --no-metadata
    keep_float: tuple = ()  # output tensor names of the ops LiteRT Quantizer leaves float32 (graph.float_layers)


def float_ops(calibrated: quantize.Calibrated, variant: str) -> str:
    """What stayed float32 in a file that quantizes activations, and why."""
    if not variants.get(variant).quantizes_activations:
        return ""
    ops = sorted(calibrated.float_ops)
    refused = f"; {', '.join(ops)} kept float32: XNNPACK refuses them quantized" if ops else ""
    for op in sorted(set(quantize.APP_FLOAT_OPS) & set(verify.op_names(calibrated.float_content))):
        refused += f"; {op} kept float32: {quantize.APP_FLOAT_OPS[op]}"
    loops = "; WHILE loops (recurrent layers) kept float32: LiteRT Quantizer cannot calibrate inside them"
    return refused + (loops if calibrated.has_loops else "")


def layer_tensors(content: bytes, layers) -> tuple:
    """The output tensor names of the ops of the Keras `layers` (by name) in a converted file."""
    import re

    if not layers:
        return ()
    inside = re.compile(r"(^|/)(" + "|".join(map(re.escape, layers)) + r")(_\d+)?/")
    return tuple(sorted({op["tensor"] for op in sensitivity.op_outputs(content) if inside.search(op["tensor"])}))


def make_float32(variant: str, m: Making):
    return m.float_content, "TFLite converter", {}


def make_with_converter(variant: str, m: Making):
    if variants.get(variant).quantizes_activations and m.calibrated.has_loops:  # tested: SIGSEGV in calibration
        raise ValueError("the TFLite converter's int8 calibration crashes on WHILE loops (recurrent layers): make "
                         "int8 with LiteRT Quantizer (no --quantizer converter, --int8-io int8 or float32)")
    content = tflite.convert(m.fixed_sm, variant, m.graph.calibration, int8_io=m.int8_io, allow_flex=m.allow_flex,
                             input_dtype=m.graph.input_dtype)
    why = "" if m.quantizer == "converter" else ": LiteRT Quantizer writes no uint8 I/O"
    return content, f"TFLite converter (legacy post-training quantization{why})", {}


def _litert_io(m: Making) -> str:
    return "float32" if m.int8_io == "float32" else "int8"


def make_litert(variant: str, m: Making):
    if m.quantizer == "converter" or (variants.get(variant).uint8_io and m.int8_io == "uint8"):
        return make_with_converter(variant, m)
    content = m.calibrated.quantize(variant, _litert_io(m), keep_float=m.keep_float)
    kept = f"; layer {', '.join(m.graph.float_layers)} kept float32" if m.keep_float else ""
    return content, f"LiteRT Quantizer ({variants.recipe_name(variant)}{float_ops(m.calibrated, variant)}{kept})", {}


def make_auto(variant: str, m: Making):
    graph = m.graph
    if graph.val_loss is not None:
        unit, limit = graph.loss_unit, m.max_loss

        def loss_of(c):
            return graph.val_loss(verify.Runner(c).predict)
    else:
        unit, limit = graph.loss_unit, graph.mean_abs.get("int8") or 0.01

        def loss_of(c):
            return float(np.mean(np.abs(verify.Runner(c).predict(m.sample) - m.keras_out[: len(m.sample)]))) / m.scale
    found = quantize.auto_select(m.calibrated, _litert_io(m), loss_of, limit, m.min_ratio,
                                 lambda c: sensitivity.layer_errors(m.float_content, c, m.layer_inputs), m.log)
    if not found.reached:
        m.log(f"  warning: auto kept {len(found.kept_float)} layer(s) in float32 and still loses {found.loss:.3f} "
              f"{unit} (limit {limit}); the size budget ({m.min_ratio}x) stopped it")
    full = found.rounds[0]
    how = f"LiteRT Quantizer ({variants.recipe_name(variant)}, selective{float_ops(m.calibrated, variant)})"
    return found.content, how, {"auto": {
        "loss": found.loss, "limit": limit, "unit": unit, "reached": found.reached,
        "kept_float": found.kept_float, "rounds": found.rounds, "float32_bytes": len(m.float_content),
        "full_int8_bytes": full["bytes"],
        "full_int8_loss": full["loss"],
        "full_int8_latency_ms_1_thread": verify.latency_ms(found.full_int8, m.sample, 1, m.latency_runs)}}


MAKERS = {"float32": make_float32, "litert": make_litert, "auto": make_auto}


def make(variant: str, m: Making):
    """(content, how it was made, extra report fields) of one variant."""
    return MAKERS[variants.get(variant).maker](variant, m)
