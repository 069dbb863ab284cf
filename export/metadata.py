"""TFLite model metadata in every classifier file, so the on-device task APIs (MediaPipe Tasks' ImageClassifier on
Android, iOS, the web and Python) load it with no glue code: name, version, description, author, license and the
training command; the input's colour space and the normalisation from the 0..255 pixels an app has to what the graph
takes; the labels as the output's tensor-axis labels file.

    python -m export runs/cnn_mnist/20261122-213000          # every classifier file carries its metadata
    python -m export runs/cnn_mnist/20261122-213000 --no-metadata

Written with MediaPipe's maintained metadata writers (`requirements/mediapipe-writer.txt`: mediapipe 0.10.21,
installed with --no-deps). Metadata only adds buffers to the file, so it changes no output: export checks that
the file with metadata computes exactly what the file without it does before keeping it.
"""

from __future__ import annotations

import functools
from typing import Optional

from zoo.errors import first_line

INSTALL = "pip install --no-deps -r requirements/mediapipe-writer.txt"
AUTHOR = "trained and exported with zoo (the training command is in the description)"
LICENSE = "the zoo's code: Apache-2.0; the weights were trained on the data named in the description, under its terms"
IMAGE_FEEDS = ("float32", "uint8")  # input types MediaPipe's image tasks fill from an image


@functools.cache
def missing() -> Optional[str]:
    """Why the metadata writers cannot be used here, or None."""
    import contextlib
    import io

    held = io.StringIO()
    try:
        # `import mediapipe` registers its framework's protobuf types, which prints one AttributeError line under this
        # environment's newer protobuf; the writers do not use those types
        with contextlib.redirect_stderr(held):
            from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer  # noqa: F401
    except Exception as e:  # noqa: BLE001 - an ImportError, or a compiled module that does not load
        return f"MediaPipe's metadata writers do not load ({type(e).__name__}: {first_line(e, 120)})"
    return None


def kind(graph) -> Optional[str]:
    """The metadata a graph gets: "image_classifier", "text_classifier", or None (no task API reads it)."""
    if not graph.output.get("labels"):
        return None
    return {"image": "image_classifier", "tokens": "text_classifier"}.get(graph.input["kind"])


def normalisation(graph) -> tuple[float, float]:
    """(mean, std) with (pixel - mean) / std = what the graph takes, for pixels 0..255."""
    low, high = (float(v) for v in graph.input.get("range", (0.0, 255.0)))
    scale = (high - low) / 255.0
    return -low / scale + 0.0, 1.0 / scale


def embed(content: bytes, graph, io: dict, general: dict) -> bytes:
    """`content` with metadata for `graph` (an export graph whose `kind` is not None), its file's `io` (as
    verify.io_details gives it) and `general` (name, version, description)."""
    if missing():
        raise RuntimeError(missing())
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(inline_buffers(content)))
    # add_general_info takes a name and a description only; the metadata schema also has version, author, license
    writer._general_md = metadata_info.GeneralMd(name=general["name"], version=general["version"],  # noqa: SLF001
                                                 description=general["description"], author=AUTHOR,
                                                 licenses=LICENSE)
    if kind(graph) == "image_classifier":
        channels = graph.input["shape"][-1]
        colour = (writer.color_space_types.GRAYSCALE if channels == 1 else writer.color_space_types.RGB)
        floats = io["inputs"][0]["dtype"] == "float32"
        mean, std = normalisation(graph)
        writer.add_image_input(norm_mean=[mean] if floats else [], norm_std=[std] if floats else [],
                               color_space_type=colour,
                               description=f"{graph.input['shape'][0]}x{graph.input['shape'][1]} "
                               f"{'grayscale' if channels == 1 else 'RGB'} image, pixels 0..255")
    else:
        writer.add_feature_input(name="token_ids", description="int32 token ids of one text: see signature.json, "
                                 "input.text, for how to make them from the text")
    labels = metadata_writer.Labels().add(list(graph.output["labels"]))
    writer.add_classification_output(labels, name="probabilities", description="class probabilities (softmax)")
    with_metadata, _ = writer.populate()
    return bytes(with_metadata)


def inline_buffers(content: bytes) -> bytes:
    """The file with every constant inside its flatbuffer. LiteRT Quantizer stores constants after the flatbuffer
    and points at them by offset; the metadata populator re-packs the flatbuffer and would leave those offsets
    pointing nowhere."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    if not any(b.offset for b in model.buffers):
        return content
    return bytes(flatbuffer_utils.convert_object_to_bytearray(flatbuffer_utils.read_model_from_bytearray(
        bytearray(content))))


def mediapipe_task(graph, io: dict) -> tuple[Optional[str], Optional[str]]:
    """(the MediaPipe Tasks API that runs this file as it is, None) or (None, why none does)."""
    which = kind(graph)
    if which is None:
        return None, "not a classifier of images or texts: MediaPipe Tasks has no task for it"
    if which == "text_classifier":
        return None, "text: MediaPipe's TextClassifier needs a tokenizer in the metadata, which this file lacks"
    channels = graph.input["shape"][-1]
    if channels not in (3, 4):
        return None, f"{channels}-channel input (ImageClassifier takes 3 or 4): use the model_rgb_* file"
    dtype = io["inputs"][0]["dtype"]
    if dtype not in IMAGE_FEEDS:
        return None, f"{dtype} input (ImageClassifier fills float32 or uint8): export with --int8-io float32 or uint8"
    return "ImageClassifier", None
