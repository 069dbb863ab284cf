"""Where a quantized file loses: every layer's output against the float32 file's (SNR in dB and cosine similarity),
so the report shows which layers lose accuracy and `auto` knows which to keep in float32."""

from __future__ import annotations

import math
from typing import Iterable, Optional

import numpy as np

from export.flatbuffer import operators

SNR_CAP_DB = 60.0


def op_outputs(content: bytes) -> list[dict]:
    """The float32 file's ops of its first graph with one output each, in graph order: `op` (its name), `tensor`
    (its output's name) and `reads` (the activations it reads)."""
    return [o for o in operators(content) if o["graph"] == 0 and o["outputs"] == 1]


def _activations(content: bytes, inputs: Iterable[np.ndarray]) -> list[dict]:
    """Every readable tensor of the graph per input, dequantized to float32 (constants left out)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=content, num_threads=1, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    details = [d for d in interp.get_tensor_details() if d["name"]]
    inp = interp.get_input_details()[0]
    scale, zero = inp["quantization"]
    runs = []
    for x in inputs:
        if scale and np.dtype(inp["dtype"]).kind in "iu":
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        interp.set_tensor(inp["index"], np.asarray(x).astype(inp["dtype"]))
        interp.invoke()
        values = {}
        for d in details:
            try:
                v = interp.get_tensor(d["index"])
            except ValueError:  # a tensor the runtime never filled (constants folded away, unused slots)
                continue
            s, z = d["quantization"]
            values[d["name"]] = (v.astype(np.float32) - z) * s if s and v.dtype.kind in "iu" else v.astype(np.float32)
        runs.append(values)
    return runs


def layer_errors(float_content: bytes, quant_content: bytes, inputs: Iterable[np.ndarray]) -> list[dict]:
    """Each op's output in the quantized file against the float32 file's, on `inputs` (one batch each): SNR in
    dB (signal power over error power, capped at 60) and cosine similarity, averaged over the inputs; plus
    `drop_db`, how much SNR this op itself loses against the worst of the tensors it reads (its own
    sensitivity, not the error it inherits). Tensors are matched by name (the quantizer keeps them). Our own
    loop rather than LiteRT Quantizer's validator: that one reads every tensor and fails on unrolled LSTMs, and
    builds two interpreters per input."""
    inputs = list(inputs)
    ref, got = _activations(float_content, inputs), _activations(quant_content, inputs)

    def stats(name):
        snrs, coss = [], []
        for a, b in zip(ref, got):
            if name not in a or name not in b or a[name].shape != b[name].shape:
                return None
            x, y = a[name].ravel().astype(np.float64), b[name].ravel().astype(np.float64)
            noise, power = float(np.mean((y - x) ** 2)), float(np.mean(x ** 2))
            snrs.append(SNR_CAP_DB if noise <= power * 10 ** (-SNR_CAP_DB / 10) else  # zero in float32, not here:
                        10 * math.log10(power / noise) if power else -SNR_CAP_DB)  # no signal left (masked steps)
            norm = float(np.linalg.norm(x) * np.linalg.norm(y))
            coss.append(float(np.dot(x, y) / norm) if norm else float(np.array_equal(x, y)))
        return (float(np.mean(snrs)), float(np.mean(coss))) if snrs else None

    measured = {}
    rows = []
    for op in op_outputs(float_content):
        for name in op["reads"]:
            if name not in measured and name in ref[0]:
                measured[name] = stats(name)
        out = stats(op["tensor"])
        measured[op["tensor"]] = out
        if out is None:
            continue
        ins = [measured[n][0] for n in op["reads"] if measured.get(n)]
        rows.append({"layer": op["tensor"], "op": op["op"], "snr_db": out[0], "cosine": out[1],
                     "drop_db": max(0.0, min(ins, default=SNR_CAP_DB) - out[0])})
    return rows


def worst_layers(rows: list[dict], limit: int) -> list[dict]:
    """The `limit` rows that lose most on their own, kept in graph order."""
    worst = sorted(range(len(rows)), key=lambda i: -rows[i]["drop_db"])[:limit]
    return [rows[i] for i in sorted(worst)]


def markdown_table(rows: list[dict], limit: Optional[int] = 12) -> str:
    """The `limit` layers that lose most on their own (all when None), in graph order."""
    shown = rows if limit is None else worst_layers(rows, limit)
    lines = ["| layer | op | SNR dB | own drop dB | cosine |", "|---|---|---|---|---|"]
    for r in shown:
        lines.append(f"| {r['layer']} | {r['op']} | {r['snr_db']:.1f} | {r['drop_db']:.1f} | {r['cosine']:.5f} |")
    return "\n".join(lines)
