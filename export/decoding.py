"""A language model on the device: per variant one TFLite file with two signatures, `prefill` and `step`, that an
app runs in a loop (signature.json's `loop` says how; zoo/tasks/decoder.py builds what they are checked against).

    python -m export runs/gpt_imdb/<run> --quantize float32,dynamic,int8

`decoder_float32.tflite` holds both graphs and shares their weights. prefill takes the prompt (0-padded ids and
their count) and gives the next id's probabilities and the cache (an LSTM's state, a Transformer's keys and values);
step takes one id, its position and the cache and gives the same. Shapes are fixed (batch 1), ops builtin.

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
import shutil
import time

import numpy as np

from export import make, quantize, tflite, variants, verify
from zoo import files
from zoo.errors import first_line

SIGNATURES = ("prefill", "step")
NO_AUTO = "auto's per-layer search needs one input and one output; a decoder's files have two signatures"
MEDIAPIPE = {"task": None, "why_not": "a decoding loop of two signatures: no MediaPipe task runs it (its LLM "
                                      "Inference API loads its own bundles); run the loop in signature.json"}
SPEED_PROMPTS = 10  # prompts the all-threads speed is measured on


def skipped(variant_names) -> dict:
    return {f"decoder {v}": NO_AUTO for v in variant_names if v == "auto"}


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

    def prefill(ids, length):
        probs, cache = model.prefill(ids, length)
        return {"probabilities": probs, **cache}

    step_names = [s.name for s in _specs(graph, "step", batch)]

    def step(*tensors):
        named = dict(zip(step_names, tensors))
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
    """A decoder file in the LiteRT interpreter, run as an app runs it."""

    def __init__(self, content: bytes, threads=None):
        interp = verify.interpreter(content, threads)
        self.prefill, self.step = (interp.get_signature_runner(s) for s in SIGNATURES)
        self.cache_names = sorted(set(self.step.get_input_details()) - {"token", "position"})
        self.length = int(self.prefill.get_input_details()["ids"]["shape"][1])

    def start(self, prompt):
        ids = np.zeros((1, self.length), np.int32)
        ids[0, : len(prompt)] = prompt
        out = self.prefill(ids=ids, length=np.array([len(prompt)], np.int32))
        return out["probabilities"][0], {k: out[k] for k in self.cache_names}

    def next(self, token: int, position: int, cache):
        out = self.step(token=np.array([token], np.int32), position=np.array([position], np.int32), **cache)
        return out["probabilities"][0], {k: out[k] for k in self.cache_names}

    def greedy(self, prompt, steps: int, never=(0, 2)):
        """zoo.sampling.continue_ids at temperature 0, by prefill and steps; returns (ids, seconds each step took)."""
        probs, cache = self.start(prompt)
        out, seconds, position = [], [], len(prompt)
        while len(out) < steps and position < self.length:
            probs = probs.copy()
            probs[list(never)] = 0.0
            out.append(int(np.argmax(probs)))
            if len(out) == steps or position + 1 == self.length:
                break
            start = time.perf_counter()
            probs, cache = self.next(out[-1], position, cache)
            seconds.append(time.perf_counter() - start)
            position += 1
        return out, seconds

    def forced(self, prompt, ids) -> np.ndarray:
        """The probabilities after the prompt and after each of `ids` but the last (fed whatever they predict)."""
        probs, cache = self.start(prompt)
        got = [probs]
        for i, token in enumerate(ids[:-1]):
            probs, cache = self.next(token, len(prompt) + i, cache)
            got.append(probs)
        return np.array(got)


def keras_probabilities(graph) -> list:
    """Keras's probabilities on the whole window after each prompt and each id of its continuation but the last."""
    from zoo.tasks.graphs import predict

    length = graph.model.sequence_length
    windows = np.zeros((len(graph.prompts), length), np.int32)
    for row, (p, c) in enumerate(zip(graph.prompts, graph.continuations)):
        windows[row, : len(p) + len(c)] = p + c
    probs = predict(graph.model, windows)
    return [probs[row, len(p) - 1 : len(p) - 1 + len(c)] for row, (p, c) in enumerate(zip(graph.prompts,
                                                                                         graph.continuations))]


def measure(graph, content: bytes, keras_probs) -> dict:
    """A file's agreement with Keras and its speed, as the module docstring says."""
    one = Decoder(content, threads=1)
    diffs, same, tokens, seconds, prefill_ms = [], 0, [], [], []
    for prompt, ids, expected in zip(graph.prompts, graph.continuations, keras_probs):
        diffs.append(np.abs(one.forced(prompt, ids) - expected).ravel())
        start = time.perf_counter()
        one.start(prompt)
        prefill_ms.append((time.perf_counter() - start) * 1000)
        own, took = one.greedy(prompt, graph.steps, graph.loop["never"])
        same += own == ids
        tokens += [a == b for a, b in zip(own, ids)] + [False] * abs(len(own) - len(ids))
        seconds += took
    many = Decoder(content, threads=os.cpu_count())
    seconds_all = [s for p in graph.prompts[:SPEED_PROMPTS] for s in many.greedy(p, graph.steps)[1]]
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
    """signature.json's io of a decoder file: prefill's inputs and outputs, and each signature's."""
    interp = verify.interpreter(content, delegates=False)
    each = {}
    for name in SIGNATURES:
        runner = interp.get_signature_runner(name)
        each[name] = {side: [{"name": k, "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
                              "quantization": None} for k, d in sorted(details.items())]
                      for side, details in (("inputs", runner.get_input_details()),
                                            ("outputs", runner.get_output_details()))}
    return {**each["prefill"], "signatures": each, "mediapipe": MEDIAPIPE}


def export_decoder(graph, output, prefix: str, variant_names, *, log, allow_flex=False, **_):
    """Serving SavedModel + each TFLite variant of a language model into `output` (a `zoo.files.Output`); returns
    (artifacts, failures), as export.pipeline.export_graph does for other graphs."""
    from export import prune as pruning

    name = "saved_model_decoder"
    with files.temporary_dir(output.folder, name) as tmp_sm:
        write_saved_model(graph, tmp_sm, batch=None)
        target = output.path(name)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(tmp_sm, target)
    results, failures = {}, {}
    keras_probs = keras_probabilities(graph)
    sparsity = pruning.sparsity_of(pruning.prunable_kernels(graph.model))
    with files.temporary_dir(output.folder, f"{name}_fixed_batch") as fixed_sm:
        write_saved_model(graph, fixed_sm, batch=1)
        try:
            float_content = convert(fixed_sm)
        except Exception as e:  # noqa: BLE001 - converter errors are long; keep the first line
            return {}, {f"decoder {v}": f"conversion to float32 failed: {first_line(e)}" for v in variant_names}
    calibrated = quantize.Calibrated(float_content, graph.calibration)
    for variant in (v for v in variant_names if v != "auto"):
        file = f"{graph.name}_{prefix}{variant}.tflite"
        log(f"making {file} ...")
        try:
            if variant == "float32":
                content, made_by = float_content, "TFLite converter"
            else:
                content = tflite.share_identical_buffers(calibrated.quantize(variant, "float32"))
                made_by = (f"LiteRT Quantizer ({variants.recipe_name(variant)}{make.float_ops(calibrated, variant)}"
                           "; float32 inputs and outputs)")
        except Exception as e:  # noqa: BLE001 - quantizer errors are long; keep the first line
            failures[f"decoder {variant}"] = f"conversion failed: {first_line(e)}"
            continue
        ops = verify.op_names(content)
        flex = [o for o in ops if o.startswith("Flex") or o == "CUSTOM"]
        found = measure(graph, content, keras_probs)
        limit = graph.max_abs.get(variant)
        if flex and not allow_flex:
            failures[f"decoder {variant}"] = f"uses non-builtin ops {flex}"
            continue
        if limit is not None and found["max_abs_diff_vs_keras"] > limit:
            failures[f"decoder {variant}"] = (f"max |probability - Keras| = {found['max_abs_diff_vs_keras']:.2e} "
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


def signature_entry(graph, results: dict) -> dict:
    """signature.json's entry of a decoder: prefill's ids in and probabilities out as any graph's, plus each
    signature's inputs and outputs and the loop."""
    return {
        "input": {**graph.input, "shape": [1, *graph.input["shape"]]},
        "output": {**graph.output, "shape": [1, *graph.output["shape"]]},
        "files": {name: r["io"] for name, r in results.items() if r["graph"] == graph.name},
        "saved_model": {"dir": "saved_model_decoder", "signature": "prefill", "input": "ids",
                        "output": "probabilities", "input_shape": [None, *graph.input["shape"]]},
        "signatures": graph.signatures,
        "loop": graph.loop,
    }
