"""A model that writes text, on the device: per variant one TFLite file with two signatures, `prefill` and `step`,
that an app runs in a loop (signature.json's `loop` says how; zoo/tasks/decoder.py builds what they are checked
against).

    python -m export runs/gpt_imdb/<run> --quantize float32,dynamic,int8

`decoder_float32.tflite` holds both graphs and shares their weights. prefill takes the prompt (a language model:
0-padded ids and their count; an encoder-decoder: the source) and gives the next id's probabilities and the cache (an
LSTM's state, a Transformer's keys and values, an encoder-decoder's state and encoding); step takes one id, its
position and the cache and gives the next probabilities and the new cache. Shapes are fixed (batch 1), ops builtin.

Every file is run by the LiteRT interpreter as an app runs it, on the task's test prompts: fed Keras's own greedy
continuation, its probabilities are compared with Keras's on the whole window (max / mean |diff|; float32 must stay
within 1e-5); left to itself, its greedy continuation is compared with Keras's id for id (greedy_agreement_vs_keras:
the share of prompts continued exactly alike). One thread's decoding speed (ids per second of step) stands beside
Keras's (zoo.generate's whole-window loop). Quantized files keep float32 inputs and outputs (the cache goes out and
back in: integer I/O would round it twice per id).
"""

from __future__ import annotations

import gzip
import os
import time

import numpy as np

from export import flatbuffer, make, quantize, signature as signing, tflite, variants, verify
from zoo import files
from zoo.errors import first_line

SIGNATURES = ("prefill", "step")
NO_AUTO = "auto's per-layer search needs one input and one output; a decoder's files have two signatures"
MEDIAPIPE = {"task": None, "why_not": "a decoding loop of two signatures: no MediaPipe task runs it (its LLM "
                                      "Inference API loads its own bundles); run the loop in signature.json"}
LOOKUPS = "; the embedding lookup reads the output layer's int8 weights, dequantized as the file loads"
SPEED_PROMPTS = 10  # prompts the all-threads speed is measured on


def skipped(graph, variant_names) -> dict:
    return {f"{graph.name} {v}": NO_AUTO for v in variant_names if v == "auto"}


def _specs(graph, signature: str, batch):
    import tensorflow as tf

    specs = []
    for name, spec in sorted(graph.signatures[signature]["inputs"].items()):
        shape = list(spec["shape"])
        shape[spec["batch_axis"]] = batch
        specs.append(tf.TensorSpec(shape, tf.as_dtype(spec["dtype"]), name=name))
    return specs


def write_saved_model(graph, path, batch) -> None:
    """Both signatures in one SavedModel: any batch size (`batch=None`, serving) or a fixed one (the converter's
    input)."""
    import keras

    model = graph.model
    archive = keras.export.ExportArchive()
    archive.track(model)
    names = {s: [spec.name for spec in _specs(graph, s, batch)] for s in SIGNATURES}

    def prefill(*tensors):
        probs, cache = model.prefill(**dict(zip(names["prefill"], tensors)))
        return {"probabilities": probs, **cache}

    def step(*tensors):
        named = dict(zip(names["step"], tensors))
        probs, cache = model.step(named.pop("token"), named.pop("position"), named)
        return {"probabilities": probs, **cache}

    archive.add_endpoint(name="prefill", fn=prefill, input_signature=_specs(graph, "prefill", batch))
    archive.add_endpoint(name="step", fn=step, input_signature=_specs(graph, "step", batch))
    archive.write_out(str(path), verbose=False)


def convert(saved_model) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=list(SIGNATURES))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return tflite.shorten_tensor_names(conv.convert())


class Decoder:
    """A decoder file in the LiteRT interpreter, run as an app runs it (signature.json's loop)."""

    def __init__(self, content: bytes, loop: dict, threads=None):
        interp = verify.interpreter(content, threads)
        self.prefill, self.step = (interp.get_signature_runner(s) for s in SIGNATURES)
        self.inputs = self.prefill.get_input_details()
        self.language_model = "length" in self.inputs  # prefill takes the prompt and its length, not a source
        self.never, self.end_id, self.max_length = loop["never"], loop.get("end_id"), loop["max_length"]

    def start(self, prompt):
        """prefill on a prompt (a language model's ids, an encoder-decoder's source ids) -> (probabilities,
        cache)."""
        name = "ids" if self.language_model else next(iter(self.inputs))
        ids = np.zeros(self.inputs[name]["shape"], np.int32)
        ids[0, : len(prompt)] = prompt
        lengths = {"length": np.array([len(prompt)], np.int32)} if self.language_model else {}
        out = self.prefill(**{name: ids}, **lengths)
        return out.pop("probabilities")[0], out

    def first_position(self, prompt) -> int:
        """The position of the first id written: after a language model's prompt; 0 for an encoder-decoder."""
        return len(prompt) if self.language_model else 0

    def next(self, token: int, position: int, cache):
        out = self.step(token=np.array([token], np.int32), position=np.array([position], np.int32), **cache)
        return out.pop("probabilities")[0], {**cache, **out}

    def greedy(self, prompt, steps: int):
        """Greedy decoding by prefill and steps (zoo.sampling.continue_ids at temperature 0 for a language model,
        which writes up to max_length ids in all; an encoder-decoder writes up to max_length and stops after
        <end>); returns (ids, seconds each step took)."""
        probs, cache = self.start(prompt)
        first = self.first_position(prompt)
        limit = self.max_length if self.language_model else first + steps
        out, seconds = [], []
        for position in range(first, limit):
            probs = probs.copy()
            probs[list(self.never)] = 0.0
            out.append(int(np.argmax(probs)))
            if len(out) == steps or position + 1 == limit or out[-1] == self.end_id:
                break
            start = time.perf_counter()
            probs, cache = self.next(out[-1], position, cache)
            seconds.append(time.perf_counter() - start)
        return out, seconds

    def forced(self, prompt, ids) -> np.ndarray:
        """The probabilities after the prompt and after each of `ids` but the last (fed whatever they predict)."""
        probs, cache = self.start(prompt)
        first = self.first_position(prompt)
        got = [probs]
        for i, token in enumerate(ids[:-1]):
            probs, cache = self.next(token, first + i, cache)
            got.append(probs)
        return np.array(got)


def measure(graph, content: bytes) -> dict:
    """A file's agreement with Keras and its speed, as the module docstring says."""
    one = Decoder(content, graph.loop, threads=1)
    diffs, same, tokens, seconds, prefill_ms = [], 0, [], [], []
    for prompt, ids, expected in zip(graph.prompts, graph.continuations, graph.expected):
        diffs.append(np.abs(one.forced(prompt, ids) - expected).ravel())
        start = time.perf_counter()
        one.start(prompt)
        prefill_ms.append((time.perf_counter() - start) * 1000)
        own, took = one.greedy(prompt, graph.steps)
        same += own == ids
        tokens += [a == b for a, b in zip(own, ids)] + [False] * abs(len(own) - len(ids))
        seconds += took
    if not seconds:  # every continuation ended at its first id: time steps on their own
        probs, cache = one.start(graph.prompts[0])
        for _ in range(SPEED_PROMPTS):
            start = time.perf_counter()
            one.next(graph.continuations[0][0], one.first_position(graph.prompts[0]), cache)
            seconds.append(time.perf_counter() - start)
    many = Decoder(content, graph.loop, threads=os.cpu_count())
    seconds_all = [s for p in graph.prompts[:SPEED_PROMPTS] for s in many.greedy(p, graph.steps)[1]] or seconds
    diff = np.concatenate(diffs)
    return {"greedy_agreement_vs_keras": same / len(graph.prompts), "token_agreement_vs_keras": float(np.mean(tokens)),
            "max_abs_diff_vs_keras": float(diff.max()), "mean_abs_diff_vs_keras": float(diff.mean()),
            "decode_tokens_per_s_1_thread": len(seconds) / sum(seconds),
            "prefill_ms_1_thread": float(np.median(prefill_ms)),
            "latency_ms_1_thread": _latency(seconds), "latency_ms_all_threads": _latency(seconds_all)}


def _latency(seconds) -> dict:
    ms = np.array(seconds) * 1000
    return {"mean": float(ms.mean()), "p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
            "runs": len(ms), "of": "step"}


def io_of(content: bytes) -> dict:
    """signature.json's io of a decoder file: each signature's inputs and outputs by name, prefill's first."""
    io = verify.io_details(content)
    return {**io["signatures"]["prefill"], "signatures": io["signatures"], "tensors": io["tensors"],
            "mediapipe": MEDIAPIPE}


def export_decoder(graph, output, prefix: str, variant_names, *, log, allow_flex=False, **_):
    """Serving SavedModel + each TFLite variant of a decoder into `output` (a `zoo.files.Output`); returns
    (artifacts, failures), as export.pipeline.export_graph does for other graphs."""
    from export import prune as pruning

    name, key = signing.saved_model_dir(graph.name, prefix), lambda v: f"{graph.name} {v}"
    tflite.place_saved_model(output, name, lambda path: write_saved_model(graph, path, batch=None))
    results, failures = {}, {}
    sparsity = pruning.sparsity_of(pruning.prunable_kernels(graph.model))
    with files.temporary_dir(output.folder, f"{name}_fixed_batch") as fixed_sm:
        write_saved_model(graph, fixed_sm, batch=1)
        try:
            float_content = convert(fixed_sm)
        except Exception as e:  # noqa: BLE001 - converter errors are long; keep the first line
            return {}, {key(v): f"conversion to float32 failed: {first_line(e)}" for v in variant_names}
    calibrated = quantize.Calibrated(float_content, graph.calibration)
    for variant in (v for v in variant_names if v != "auto"):
        file = f"{graph.name}_{prefix}{variant}.tflite"
        log(f"making {file} ...")
        try:
            if variant == "float32":
                content, made_by = float_content, "TFLite converter"
            else:
                shared = flatbuffer.share_identical_buffers(calibrated.quantize(variant, "float32"))
                content = flatbuffer.dequantized_lookups(shared)
                made_by = (f"LiteRT Quantizer ({variants.recipe_name(variant)}{make.float_ops(calibrated, variant)}"
                           f"; float32 inputs and outputs{'' if content is shared else LOOKUPS})")
        except Exception as e:  # noqa: BLE001 - quantizer errors are long; keep the first line
            failures[key(variant)] = f"conversion failed: {first_line(e)}"
            continue
        ops = verify.op_names(content)
        flex = [o for o in ops if o.startswith("Flex") or o == "CUSTOM"]
        if flex and not allow_flex:  # refused before its loops are run and timed
            failures[key(variant)] = f"uses non-builtin ops {flex}"
            continue
        found = measure(graph, content)
        limit = graph.max_abs.get(variant)
        if limit is not None and found["max_abs_diff_vs_keras"] > limit:
            failures[key(variant)] = (f"max |probability - Keras| = {found['max_abs_diff_vs_keras']:.2e} "
                                      f"exceeds {limit:.2e}")
            continue
        with files.atomic_path(output.path(file)) as tmp:
            tmp.write_bytes(content)
        results[file] = {"graph": graph.name, "variant": variant, "made_by": made_by, "pruned": bool(prefix),
                         "bytes": len(content), "gzip_bytes": len(gzip.compress(content, compresslevel=9)),
                         "weight_sparsity": sparsity, **found, "ops": ops,
                         "shape_ops": sorted(set(ops) & verify.SHAPE_OPS), "io": io_of(content), "layers": []}
        log(f"  {file}: {len(content):,} bytes, greedy agreement {found['greedy_agreement_vs_keras']:.2%} on "
            f"{len(graph.prompts)} prompts, {found['decode_tokens_per_s_1_thread']:.0f} ids/s (1 thread)")
    return results, failures
