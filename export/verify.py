"""Run TFLite files with the LiteRT interpreter (`ai_edge_litert`), the runtime a phone uses.

Inputs are quantized and outputs dequantized with the file's own scale and zero
point, so float and integer variants are compared on the same float numbers.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

# Reading a tensor's size at run time: the root of every shape computation a dynamic batch leaves in a graph
# (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE). Those other ops also do real work (an unrolled GRU slices its
# gates, an embedding is a GATHER), so only SHAPE itself marks a graph that computes shapes.
SHAPE_OPS = {"SHAPE"}


def interpreter(content: bytes, threads: Optional[int] = None, delegates: bool = True):
    """A LiteRT interpreter; `delegates=False` keeps the plain graph (no XNNPACK DELEGATE node) for listing ops."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = Interpreter(model_content=content, num_threads=threads, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    return interp


class Runner:
    """Feeds inputs (float32 pixels, int32 token ids) to a TFLite model batch by batch and returns float32
    outputs."""

    def __init__(self, content: bytes, threads: Optional[int] = None):
        self.interp = interpreter(content, threads)
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.batch = int(self.inp["shape"][0])

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.inp["dtype"]
        scale, zero = self.inp["quantization"]
        if dtype == np.float32 or not scale:  # float, or integer ids that are not quantized values
            return x.astype(dtype)
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        if self.out["dtype"] == np.float32:
            return y
        scale, zero = self.out["quantization"]
        return (y.astype(np.float32) - zero) * scale

    def invoke(self, x: np.ndarray) -> np.ndarray:
        self.interp.set_tensor(self.inp["index"], self._quantize(x))
        self.interp.invoke()
        return self._dequantize(self.interp.get_tensor(self.out["index"]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs for any number of examples (the last partial batch is padded)."""
        outs = []
        for i in range(0, len(x), self.batch):
            chunk = x[i : i + self.batch]
            pad = self.batch - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            outs.append(self.invoke(chunk)[: self.batch - pad])
        return np.concatenate(outs)


def latency_ms(content: bytes, example: np.ndarray, threads: Optional[int], runs: int = 200) -> dict:
    """Single-invocation latency: mean / p50 / p90 over `runs` timed runs after warm-up."""
    r = Runner(content, threads)
    q = r._quantize(example[: r.batch])
    for _ in range(10):
        r.interp.set_tensor(r.inp["index"], q)
        r.interp.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        r.interp.set_tensor(r.inp["index"], q)
        r.interp.invoke()
        times.append((time.perf_counter() - start) * 1000)
    t = np.array(times)
    return {"mean": float(t.mean()), "p50": float(np.percentile(t, 50)), "p90": float(np.percentile(t, 90)),
            "runs": runs}


def op_names(content: bytes) -> list[str]:
    """Sorted distinct builtin (or custom/flex) op names in the graph."""
    interp = interpreter(content, delegates=False)
    return sorted({d["op_name"] for d in interp._get_ops_details()})


def _describe(d, name=None) -> dict:
    scale, zero = d["quantization"]
    return {"name": name or d["name"], "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
            "quantization": {"scale": float(scale), "zero_point": int(zero)} if scale else None}


def io_details(content: bytes) -> dict:
    """Inputs and outputs of the file's main graph; a file with several signatures (a decoder's prefill and step)
    adds `signatures`: each one's inputs and outputs by the names the signature gives them."""
    interp = interpreter(content, delegates=False)
    io = {"inputs": [_describe(d) for d in interp.get_input_details()],
          "outputs": [_describe(d) for d in interp.get_output_details()],
          "tensors": len(interp.get_tensor_details())}
    names = list(interp.get_signature_list())
    if len(names) > 1:
        runners = {name: interp.get_signature_runner(name) for name in names}
        io["signatures"] = {name: {side: [_describe(d, k) for k, d in sorted(details.items())]
                                   for side, details in (("inputs", r.get_input_details()),
                                                         ("outputs", r.get_output_details()))}
                            for name, r in runners.items()}
    return io
