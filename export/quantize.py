"""Quantization with LiteRT Quantizer (`litert-quantizer`, formerly AI Edge Quantizer).

LiteRT calls the converter's own post-training quantization legacy and moves it to a separate step: convert once to
float32, then quantize that `.tflite` file by recipe. Every quantized variant is made from the float32 file that
already passed its checks, by the LiteRT Quantizer recipe its row in `export/variants.py` names.

Control flow stays float32 where activations are quantized: LiteRT Quantizer cannot calibrate the inputs of a WHILE
loop's body (a recurrent layer's export form, see zoo/models/rnn.py), so in the variants that quantize activations
the WHILE ops and every op inside them keep float32 weights and compute, while the rest of the graph (embedding,
classifier head) is quantized. The weight-only and dynamic recipes quantize inside loops too.

In those variants the ops around an attention mask stay float32 too (a calibrated range of 1e6 or more, `MASKING`:
Keras's -1e9 on padding leaves no int8 step for the real scores), and so does a CONCATENATION that reads a constant
(LiteRT Quantizer fails on it; export/flatbuffer.py, which also mends the signature outputs it re-points).

Ops the runtimes apps ship cannot run quantized stay float32 too (APP_FLOAT_OPS): MediaPipe 0.10.21's TFLite runs
DIV on float32, int32 and uint8 only, so an int8 DIV (the transformer's mean over tokens) failed the whole file.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Callable, Iterable, Optional

import numpy as np

from export import variants
from export.flatbuffer import constant_concatenations, loop_tensors, mend_signature_outputs, operators

SIGNATURE, INPUT = "serving_default", "input"
MASKING = 1e6  # a calibrated range this wide is a mask, not a signal (see Calibrated._masking)
APP_FLOAT_OPS = {"DIV": "MediaPipe's TFLite runtime (0.10.21) has no int8 DIV"}  # see the module docstring


def _quiet():
    """LiteRT Quantizer logs a line per op it leaves alone, and its interpreters warn that keeping every tensor
    (which the calibration and the layer comparison need) is for debugging; the export prints its own lines."""
    import warnings

    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors.*")


def _refused_op(content: bytes) -> Optional[str]:
    """The op type XNNPACK failed to prepare in this file, if any (it then cannot run on LiteRT's CPU runtime)."""
    from export import verify

    try:
        verify.interpreter(content)
    except Exception as e:  # noqa: BLE001
        found = re.search(r"failed to delegate (\w+) node", str(e))
        if found is None:
            raise
        return found.group(1)
    return None


def _quantizer(float_content: bytes, variant: str, int8_io: str, keep_float: Iterable[str] = (),
               float_ops: Iterable[str] = (), inside_loops: Iterable[str] = ()):
    from litert_quantizer import Quantizer, qtyping, recipe

    q = Quantizer(bytearray(float_content))
    recipe_function = variants.get(variant).recipe
    if recipe_function is None:  # float16: cast the weights
        q.update_quantization_recipe(
            regex=".*", operation_name="*", algorithm_key="float_casting",
            op_config=qtyping.OpQuantizationConfig(
                weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
                compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True))
    else:
        q.load_quantization_recipe(getattr(recipe, recipe_function)())
    for name in keep_float:  # an op's scope is its output tensors' names, each followed by ';'
        q.update_quantization_recipe(regex=f"^{re.escape(name)};", operation_name="*", algorithm_key="no_quantize")
    for op in (*float_ops, *APP_FLOAT_OPS):
        q.update_quantization_recipe(regex=".*", operation_name=op, algorithm_key="no_quantize")
    inside = list(inside_loops) if q.need_calibration else []  # see the module docstring
    if inside:
        q.update_quantization_recipe(regex=".*", operation_name="WHILE", algorithm_key="no_quantize")
        q.update_quantization_recipe(regex="^(" + "|".join(map(re.escape, inside)) + ");", operation_name="*",
                                     algorithm_key="no_quantize")
    if q.need_calibration and int8_io == "float32":  # QUANTIZE / DEQUANTIZE ops at the edges, float32 I/O
        for edge in ("INPUT", "OUTPUT"):
            q.update_quantization_recipe(regex=".*", operation_name=edge, algorithm_key="no_quantize")
    return q


def calibration_data(calibration: Callable[[], Iterable]) -> dict:
    """LiteRT Quantizer's calibration data: per signature a list of {input name: array}. `calibration` yields a
    single-input graph's arrays, or (signature, {input name: array}) pairs (a decoder's prefill and step)."""
    data: dict = {}
    for x in calibration():
        signature, inputs = x if isinstance(x, tuple) else (SIGNATURE, {INPUT: x})
        data.setdefault(signature, []).append(inputs)
    return data


class Calibrated:
    """One calibration (min / max of every tensor of the float32 file over the calibration inputs), shared by
    every variant and every `auto` round that needs one."""

    def __init__(self, float_content: bytes, calibration: Callable[[], Iterable[np.ndarray]]):
        self.float_content = float_content
        self.calibration = calibration
        self._qsv = None
        self.float_ops: set[str] = set()
        self.inside_loops = loop_tensors(float_content)  # read once: every variant and auto round needs them
        self.ops = operators(float_content)
        self.kept_float = self.inside_loops + constant_concatenations(self.ops)

    @property
    def has_loops(self) -> bool:
        return bool(self.inside_loops)

    def quantize(self, variant: str, int8_io: str = "int8", keep_float: Iterable[str] = ()) -> bytes:
        """The variant's file. An op type that LiteRT's CPU runtime (XNNPACK) refuses to run quantized (an
        unrolled LSTM's SPLIT, for one) is kept in float32 for this and every later file (`float_ops`)."""
        if int8_io not in ("int8", "float32"):
            raise ValueError(f"LiteRT Quantizer writes int8 or float32 I/O, not {int8_io}")
        _quiet()
        while True:
            q = _quantizer(self.float_content, variant, int8_io, keep_float, self.float_ops, self.kept_float)
            qsv = None
            if q.need_calibration:
                if self._qsv is None:
                    self._qsv = self._calibrate(q)
                    masking = self._masking()
                    if masking:
                        self.kept_float += masking
                        continue
                qsv = self._qsv
            content = mend_signature_outputs(bytes(q.quantize(qsv, enable_progress_report=False).quantized_model))
            refused = _refused_op(content)
            if refused is None or refused in self.float_ops:
                return content
            self.float_ops.add(refused)

    def _masking(self) -> list[str]:
        """The ops that write or read a tensor whose calibrated range is a masking constant (attention's -1e9 on
        padding): int8 cannot hold it beside the real scores, so they stay float32."""
        def huge(name):
            r = self._qsv.get(name)
            return r is not None and max(np.max(np.abs(r["min"])), np.max(np.abs(r["max"]))) >= MASKING

        return [o["tensor"] for o in self.ops if any(map(huge, [o["tensor"], *o["reads"]]))]

    def _calibrate(self, q) -> dict:
        """Each tensor's range is its min and max over all calibration inputs, as the converter takes them.
        `Quantizer.calibrate` keeps a 0.95 moving average of each input's own range instead: over batch-1 inputs
        that is about the last 20 inputs' range, which clipped a small ResNet's logits and flipped 20% of its
        predictions. Its Calibrator takes the update rule; the recipe comes from the quantizer (a private field,
        hence the pinned release). The profiler-based mode reads each op's output as it runs: the default mode
        reads every tensor after the run and fails on unrolled LSTMs ("Tensor data is null"); both gave the same
        ranges on a ResNet."""
        from litert_quantizer import calibrator
        from litert_quantizer.utils import qsv_utils

        calib = calibrator.Calibrator(bytearray(self.float_content), num_threads=1,
                                      mode=calibrator.CalibrationMode.CALIBRATION_PROFILER_BASED,
                                      qsv_update_func=qsv_utils.min_max_update)
        calib.calibrate(calibration_data(self.calibration), q._recipe_manager)
        return calib.get_model_qsvs()


@dataclasses.dataclass
class AutoResult:
    content: bytes
    loss: float
    kept_float: list
    rounds: list
    reached: bool
    full_int8: bytes


def auto_select(calibrated: Calibrated, int8_io: str, loss_of: Callable[[bytes], float], max_loss: float,
                min_ratio: float, errors_of: Callable[[bytes], list], log=print) -> AutoResult:
    """Selective int8: quantize everything; while the quality loss (`loss_of(content)`, in the unit of
    `max_loss`) is over `max_loss`, keep the next most sensitive layers in float32 (by their own SNR drop in the
    full int8 file, doubling the count each round: 1, 2, 4, ...) and quantize again. Stops when the loss is under
    the limit or the file would be less than `min_ratio` times smaller than float32; returns the best file that
    kept the size budget."""
    float_size = len(calibrated.float_content)
    content = calibrated.quantize("auto", int8_io)
    loss = loss_of(content)
    rounds = [{"kept_float": 0, "bytes": len(content), "loss": loss}]
    log(f"  auto: full int8 loses {loss:.3f} (limit {max_loss})")
    best = AutoResult(content, loss, [], rounds, loss <= max_loss, content)
    if best.reached:
        return best
    ranked = [r["layer"] for r in sorted(errors_of(content), key=lambda r: -r["drop_db"]) if r["drop_db"] > 0]
    count = 1
    while count <= len(ranked):
        keep = ranked[:count]
        candidate = calibrated.quantize("auto", int8_io, keep_float=keep)
        if len(candidate) * min_ratio > float_size:
            log(f"  auto: keeping {count} layer(s) in float32 would leave the file {float_size / len(candidate):.2f}x "
                f"smaller than float32 (budget {min_ratio}x); stopping")
            break
        loss = loss_of(candidate)
        rounds.append({"kept_float": count, "bytes": len(candidate), "loss": loss})
        log(f"  auto: {count} layer(s) in float32: loss {loss:.3f}, {len(candidate):,} bytes")
        if loss < best.loss:
            best = AutoResult(candidate, loss, keep, rounds, loss <= max_loss, best.full_int8)
        if loss <= max_loss:
            break
        count *= 2
    best.rounds = rounds
    return best
