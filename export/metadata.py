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
import tempfile
from pathlib import Path
from typing import Optional

from zoo.data.text import DELIMITER, OOV_ID, PAD_ID, parse_vocab
from zoo.errors import first_line

INSTALL = "pip install --no-deps -r requirements/mediapipe-writer.txt"
AUTHOR = "trained and exported with zoo (the training command is in the description)"
LICENSE = "the zoo's code: Apache-2.0; the weights were trained on the data named in the description, under its terms"
IMAGE_FEEDS = ("float32", "uint8")  # input types MediaPipe's image tasks fill from an image
SCORES = ("float32", "uint8")  # output types MediaPipe's classification post-processing reads
VOCABULARY = "mediapipe_vocab.txt"  # the regex tokenizer's vocabulary, packed in the text classifier files
# What MediaPipe's RegexTokenizer does differently from training's tokenizer=keras (zoo/data/text.py); with
# tokenizer=regex, truncating=post there is no difference
KERAS_DIFFERS = (
    "no lowercasing: a word is known in lowercase, Capitalised or in CAPITALS (the vocabulary file lists all three "
    "with one id); any other mix of case is unknown",
    "punctuation inside a word splits it (don't -> don, t; training deleted it: dont)",
    "letters outside ASCII split a word (cafe with an accent -> caf)",
)
PRE_DIFFERS = "a text longer than the sequence keeps its first tokens (training kept its last: truncating=pre)"
EXACT = "train with --set tokenizer=regex --set truncating=post to make the device's ids exactly training's"


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
    verify.io_details gives it) and `general` (name, version, description; for text, the run's vocab.txt)."""
    if missing():
        raise RuntimeError(missing())
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(inline_buffers(content)))
    # add_general_info takes a name and a description only; the metadata schema also has version, author, license
    writer._general_md = metadata_info.GeneralMd(name=general["name"], version=general["version"],  # noqa: SLF001
                                                 description=general["description"], author=AUTHOR,
                                                 licenses=LICENSE)
    with tempfile.TemporaryDirectory() as folder:  # the writer reads the associated files when it populates
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
            vocabulary = Path(folder, VOCABULARY)
            vocabulary.write_text(mediapipe_vocabulary(general["vocabulary"], graph.input["text"]["tokenizer"]),
                                  encoding="utf-8")
            writer.add_regex_text_input(metadata_writer.RegexTokenizer(DELIMITER, str(vocabulary)), name="token_ids",
                                        description="a text, split by the regex tokenizer and looked up in "
                                        f"{VOCABULARY}, as int32 ids (signature.json's input.text)")
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


def mediapipe_task(graph, io: dict, loops: bool = False) -> dict:
    """signature.json's `mediapipe` for one file: {"task": the MediaPipe Tasks API that runs it as it is} or
    {"task": None, "why_not": why none does}; a text classifier adds `differs`, where MediaPipe's tokenizer splits a
    text otherwise than training did (empty: its ids are exactly training's), and `exact` (how to make them so)."""
    which = kind(graph)
    if which is None:
        return {"task": None, "why_not": "not a classifier of images or texts: MediaPipe Tasks has no task for it"}
    if not io.get("metadata"):
        return {"task": None, "why_not": "no TFLite metadata (exported with --no-metadata)"}
    out = io["outputs"][0]["dtype"]
    if out not in SCORES:
        return {"task": None, "why_not": f"{out} scores (MediaPipe reads float32 or uint8): export with --int8-io "
                "float32 or uint8"}
    if which == "text_classifier":
        if loops:  # each WHILE body is a subgraph of its own
            return {"task": None, "why_not": "its recurrent layers are WHILE loops (several subgraphs), and "
                    "MediaPipe's TextClassifier takes one-subgraph models only: use the model_unrolled_* file"}
        text = graph.input["text"]
        differs = [] if text["tokenizer"] == "regex" else list(KERAS_DIFFERS)
        if text["truncating"] == "pre":
            differs.append(PRE_DIFFERS)
        return {"task": "TextClassifier", "differs": differs, **({"exact": EXACT} if differs else {})}
    channels = graph.input["shape"][-1]
    if channels not in (3, 4):
        return {"task": None, "why_not": f"{channels}-channel input (ImageClassifier takes 3 or 4): use the "
                "model_rgb_* file"}
    dtype = io["inputs"][0]["dtype"]
    if dtype not in IMAGE_FEEDS:
        return {"task": None, "why_not": f"{dtype} input (ImageClassifier fills float32 or uint8): export with "
                "--int8-io float32 or uint8"}
    return {"task": "ImageClassifier"}


def mediapipe_vocabulary(vocab_txt: str, tokenizer: str) -> str:
    """The vocabulary file of MediaPipe's RegexTokenizer, from a run's vocab.txt: "token id" per line, with <PAD>
    and <UNKNOWN> naming the padding and out-of-vocabulary ids (no <START>: the models were trained without one).
    tokenizer=keras lowercased every word, which the device cannot do: each token is also listed Capitalised and in
    CAPITALS, with its id."""
    tokens = parse_vocab(vocab_txt)
    lines, seen = [f"<PAD> {PAD_ID}", f"<UNKNOWN> {OOV_ID}"], set()
    for i, token in enumerate(tokens):
        if i in (PAD_ID, OOV_ID):
            continue
        for form in [token] if tokenizer == "regex" else dict.fromkeys([token, token.capitalize(), token.upper()]):
            if form not in seen and " " not in form:
                seen.add(form)
                lines.append(f"{form} {i}")
    return "\n".join(lines) + "\n"
