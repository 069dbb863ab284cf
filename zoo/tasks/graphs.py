"""What a task hands to export: the graphs to write, each with its test inputs, calibration data and checks.

A classifier is one graph (`model`: pixels or token ids in, probabilities out); an
autoencoder is two (`encoder`: pixels in, latent out; `decoder`: latent in, pixels out);
a GAN's is its `generator`. `python -m export` converts every graph the same way and
compares each TFLite file with the Keras graph it came from; the task decides what
else counts (a classifier's test accuracy, an image's mean pixel difference).
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np

# max |TFLite - Keras| over the parity examples, by variant; a graph may add its own limits (MAX_ABS / MEAN_ABS)
FLOAT_TOLERANCE = {"float32": 1e-5, "float16": 1e-2}


@dataclasses.dataclass
class ExportGraph:
    """One single-input, single-output graph for export.

    name: file stem (`model` -> model_int8.tflite, saved_model/; `decoder` -> decoder_int8.tflite, ...).
    model: the float32 export twin (a Keras model or layer), called as model(x, training=False).
    original: the same graph in the trained model: the twin must compute what it does.
    input / output: what signature.json says about them (shape without the batch axis, dtype, meaning, ...).
    inputs: test inputs for the parity checks (and `score`).
    calibration: yields int8 calibration inputs of the export batch size.
    score: TFLite (or Keras) outputs on `inputs` -> quality numbers for the report (None: agreement only).
    max_abs / mean_abs: per-variant limits on max and mean |TFLite - Keras| (times the largest |Keras output|
        when that exceeds 1); a variant over a limit fails.
    summary: numbers of the Keras graph for report.json (e.g. keras_test_accuracy).
    outputs: the Keras graph's outputs on `inputs`, where the task has computed them already (export computes them
        otherwise; over a classifier's whole test split that is a second full pass).
    val_loss: what `--quantize auto` minimises: val_loss(predict), with `predict` a file's outputs for inputs, is
        the quality the file lost against Keras, in `loss_unit` (a classifier: accuracy points on validation
        inputs, read and scored only when asked). Without it auto keeps the file's mean |TFLite - Keras| on the
        test inputs under its int8 limit.
    float_layers: names of the graph's Keras layers whose ops stay float32 in the quantized files (model_rgb's
        luminance: quantized, it rounds the gray value the grayscale file is fed, and a few top-1s flip).
    uncalibrated: when set, why the variants that calibrate activations (int8, int16x8, auto) are not made for this
        graph; export reports them as skipped, not failed.
    """

    name: str
    model: Any
    original: Any
    input: dict
    output: dict
    inputs: np.ndarray
    calibration: Callable[[], Iterable[np.ndarray]]
    score: Optional[Callable[[np.ndarray], dict]] = None
    max_abs: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(FLOAT_TOLERANCE))
    mean_abs: Mapping[str, float] = dataclasses.field(default_factory=dict)
    summary: dict = dataclasses.field(default_factory=dict)
    val_loss: Optional[Callable[[Callable[[np.ndarray], np.ndarray]], float]] = None
    loss_unit: str = "mean |TFLite - Keras|"
    outputs: Optional[np.ndarray] = None
    float_layers: tuple[str, ...] = ()
    uncalibrated: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.input["shape"])

    @property
    def input_dtype(self) -> str:
        return self.input["dtype"]


@dataclasses.dataclass
class DecoderGraph(ExportGraph):
    """A language model for export: one file per variant with two signatures, `prefill` (the prompt -> the next
    token's probabilities and the cache) and `step` (one token and the cache -> the same), run in a loop by the app
    (export/decoding.py). `inputs` (whole windows) check the export twin as any graph's do; `input` / `output`
    describe prefill's ids and every signature's probabilities.

    signatures: per signature its inputs and outputs by name ({"shape" without the batch axis, "dtype", "meaning"}).
    loop: how an app runs them (signature.json's `loop`).
    prompts: test prompts (a language model's ids, `<s>` first; an encoder-decoder's source ids); continuations:
        Keras's greedy continuation of each, what every file's own greedy loop must write; expected: Keras's
        probabilities before each id of each continuation; steps: the ids each continuation has at most.
    calibration: yields (signature name, {input name: array}) for the variants that calibrate activations.
    """

    signatures: dict = dataclasses.field(default_factory=dict)
    loop: dict = dataclasses.field(default_factory=dict)
    prompts: list = dataclasses.field(default_factory=list)
    continuations: list = dataclasses.field(default_factory=list)
    expected: list = dataclasses.field(default_factory=list)
    steps: int = 20


_TRACED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # graph -> {input spec: its traced call}


def predict(graph, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """float32 outputs of a Keras model or layer over `x`, batch by batch, inference mode. The call is traced
    into a TensorFlow function once per graph and input spec and kept while the graph lives: eagerly, the unrolled
    BiLSTM of bilstm_imdb's former export twin took 5.4 minutes over IMDB's test split, traced 27 s once and then
    50 s."""
    import tensorflow as tf

    x = np.asarray(x)
    if not len(x):
        return np.zeros((0,), np.float32)
    spec = tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))
    calls = _TRACED.setdefault(graph, {})
    if spec not in calls:
        ref = weakref.ref(graph)  # the traced call must not keep its own graph alive
        calls[spec] = tf.function(lambda t: ref()(t, training=False), input_signature=[spec])
    parts = [np.asarray(calls[spec](x[i : i + batch_size]), dtype=np.float32) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


def take(dataset, count: int):
    """The first `count` (inputs, labels) of a batched (x, y) pipeline as numpy arrays."""
    xs, ys = [], []
    for x, y in dataset:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        if sum(map(len, xs)) >= count:
            break
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def calibration_batches(inputs_of: Callable[[], Iterable[np.ndarray]], count: int, batch: int = 1):
    """A function yielding `count` inputs of shape (batch, ...) cut from the arrays `inputs_of()` yields (float
    inputs as float32, token ids as they are). The same inputs on every call: a shuffled training pipeline gives
    other examples each time it is read, so the files of one export (model_rgb's among them) would calibrate on
    different samples and round differently."""
    taken: list = []

    def gen():
        if not taken:
            for x in inputs_of():
                x = np.asarray(x)
                x = x.astype(np.float32) if x.dtype.kind == "f" else x
                taken.extend(x[i : i + batch] for i in range(0, len(x) - batch + 1, batch))
                if len(taken) >= count:
                    break
            del taken[count:]
        yield from taken

    return gen


def dataset_inputs(dataset):
    """`inputs_of` for `calibration_batches`: the inputs of a batched (x, y) pipeline."""
    return lambda: (x for x, _ in dataset)
