"""SavedModel and TFLite conversion: phone-ready graphs with builtin ops and a fixed batch.

The model is rebuilt under the float32 policy (so mixed-precision runs export float32
inputs and outputs). Two SavedModels come of it: the one shipped for serving (TF
Serving, `tf.saved_model.load`) takes any batch size, and a fixed-batch one, made only
as the TFLite converter's input and then deleted: with a dynamic batch even a plain
Flatten leaves SHAPE / STRIDED_SLICE / PACK ops in the TFLite graph, which GPU and NPU
delegates reject.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

SIGNATURE = "serving_default"
INPUT_NAME = "input"


def float32_clone(model, input_shape, input_dtype="float32"):
    """The model's export twin, with float32 compute everywhere and the same weights: mixed-precision runs export
    float32 graphs, and a model with an `export_config()` (recurrent layers as one loop each) is rebuilt from it."""
    import keras

    config = model.export_config() if hasattr(model, "export_config") else model.get_config()
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        clone = type(model).from_config({k: v for k, v in config.items() if k != "dtype"})
        clone(np.zeros((1, *input_shape), input_dtype))
        clone.set_weights(model.get_weights())
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return clone


def write_saved_model(model, input_shape, path: Path, batch: Optional[int] = None, input_dtype="float32",
                      output_name: str = "probabilities") -> None:
    """Export `model` (a Keras model or layer) as a SavedModel whose `serving_default` takes `input` (float32
    pixels or latents, int32 token ids) of shape (batch, *input_shape) and returns `output_name`; `batch=None`
    (serving) accepts any batch size, an int fixes it (the TFLite conversion's input)."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec((batch, *input_shape), tf.as_dtype(input_dtype), name=INPUT_NAME)
    archive.add_endpoint(name=SIGNATURE, fn=lambda x: {output_name: model(x, training=False)},
                         input_signature=[spec])
    archive.write_out(str(path), verbose=False)


def convert(
    saved_model: Path,
    variant: str,
    representative: Optional[Callable[[], Iterable[np.ndarray]]] = None,
    int8_io: str = "int8",
    allow_flex: bool = False,
    input_dtype: str = "float32",
) -> bytes:
    """Convert a SavedModel to one TFLite variant: float32, float16 (weights), dynamic (int8 weights),
    or int8 (weights and activations, calibrated on `representative`; `int8_io` sets the type of float inputs
    and of the output; `input_dtype` int32 inputs such as token ids stay as they are)."""
    import tensorflow as tf

    from export import variants

    if variant not in variants.CONVERTER:
        raise ValueError(f"the converter cannot make {variant!r}; it makes {', '.join(variants.CONVERTER)}")
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[SIGNATURE])
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if variant == "int8" else tf.lite.OpsSet.TFLITE_BUILTINS]
    if allow_flex:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    conv.target_spec.supported_ops = ops
    if variant != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        if representative is None:
            raise ValueError("int8 needs a representative dataset")
        conv.representative_dataset = lambda: ([x] for x in representative())
        io_type = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[int8_io]
        if np.dtype(input_dtype).kind == "f":
            conv.inference_input_type = io_type
        conv.inference_output_type = io_type
    return shorten_tensor_names(conv.convert())


def shorten_tensor_names(content: bytes) -> bytes:
    """The converter names a tensor that fuses several ops by joining all their names with ';'. In an unrolled
    LSTM's int8 file those joined names took 14.7 of its 17.1 MB; keep the first name of each (Netron and the
    interpreter's tensor details still show where a tensor came from), numbered where that name is already taken
    (a layer's output keeps `.../MatMul`, its weights become `.../MatMul_2`): LiteRT Quantizer and its
    per-tensor comparison need unique names. Signatures refer to tensors by index, and input and output tensors
    keep their names."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    changed, used = False, set()  # unique across subgraphs too: LiteRT Quantizer refuses a file with two signatures
    for graph in model.subgraphs:  # (a decoder's prefill and step) whose graphs both have a `Cast`
        def is_constant(t):
            return t.buffer > 0 and model.buffers[t.buffer].data is not None

        # activations first, so a layer's output keeps the plain name and its weights get the number
        for tensor in sorted(graph.tensors, key=is_constant):
            if not tensor.name:
                continue
            base = name = tensor.name.split(b";")[0]
            number = 1
            while name in used:  # a GRU already has `.../SelectV2_2` of its own: count on
                number += 1
                name = b"%s_%d" % (base, number)
            used.add(name)
            if name != tensor.name:
                tensor.name, changed = name, True
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)) if changed else content


def place_saved_model(output, name: str, write) -> None:
    """The serving SavedModel `name` in `output` (a `zoo.files.Output`): `write(folder)` writes it beside, then it
    moves into place whole, replacing an earlier export's."""
    import os
    import shutil

    from zoo import files

    with files.temporary_dir(output.folder, name) as tmp:
        write(tmp)
        target = output.path(name)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(tmp, target)
