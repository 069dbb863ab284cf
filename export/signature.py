"""`signature.json`: per exported graph everything an app needs to call its files (format `formats.SIGNATURE_FORMAT`,
schema in `export/schemas/signature.schema.json`)."""

from __future__ import annotations

from export import formats, tflite

NOTE = ("Each graph: its .tflite files take `input` with the fixed batch in input.shape; saved_model is for serving "
        "(TF Serving, tf.saved_model.load) and takes any batch size. int8 files with integer I/O: q = round(x / "
        "scale) + zero_point on input, (q - zero_point) * scale on output, with the scale and zero point given per "
        "file. A decoder (a graph with `loop`): its files have the signatures prefill and step, whose inputs and "
        "outputs `signatures` lists (batch 1); `loop` says how to run them.")


def saved_model_dir(graph_name: str, prefix: str = "") -> str:
    stem = "saved_model" if graph_name == "model" else f"saved_model_{graph_name.removeprefix('model_')}"
    return f"{stem}{'_' + prefix.rstrip('_') if prefix else ''}"


def graph_signature(graph, batch: int, results: dict) -> dict:
    if getattr(graph, "signatures", None):  # a decoder (export/decoding.py): batch 1, two signatures and their loop
        return decoder_signature(graph, results)
    return {
        "input": {"name": tflite.INPUT_NAME, **graph.input, "shape": [batch, *graph.input["shape"]]},
        "output": {**graph.output, "shape": [batch, *graph.output["shape"]]},
        "files": {name: r["io"] for name, r in results.items() if r["graph"] == graph.name},
        "saved_model": {"dir": saved_model_dir(graph.name), "signature": tflite.SIGNATURE,
                        "input": tflite.INPUT_NAME, "output": graph.output["name"],
                        "input_shape": [None, *graph.input["shape"]]},
    }


def decoder_signature(graph, results: dict) -> dict:
    """signature.json's entry of a decoder: prefill's ids in and probabilities out as any graph's, plus each
    signature's inputs and outputs and the loop."""
    return {
        "input": {**graph.input, "shape": [1, *graph.input["shape"]]},
        "output": {**graph.output, "shape": [1, *graph.output["shape"]]},
        "files": {name: r["io"] for name, r in results.items() if r["graph"] == graph.name},
        "saved_model": {"dir": saved_model_dir(graph.name), "signature": "prefill",
                        "input": graph.input["name"], "output": "probabilities",
                        "input_shape": [None, *graph.input["shape"]]},
        "signatures": graph.signatures,
        "loop": graph.loop,
    }


def build(opened, graphs, batch: int, results: dict) -> dict:
    """The signature of an export of the run `opened` (a `zoo.run.Run`), checked against its schema."""
    signature = {
        "format": formats.SIGNATURE_FORMAT,
        "recipe": opened.recipe.name,
        "task": opened.recipe.task,
        "run": str(opened.folder),
        **({"ensemble_of": opened.record["ensemble"]["members"]} if "ensemble" in opened.record else {}),
        "graphs": {g.name: graph_signature(g, batch, results) for g in graphs},
        "note": NOTE,
    }
    formats.check(signature, "signature")
    return signature
