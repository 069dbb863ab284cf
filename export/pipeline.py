"""The export pipeline: run folder -> export twin -> per graph a serving SavedModel and each verified TFLite variant
-> labels, vocabulary, signature.json, report.json / report.md. `python -m export` is its command line.

    python -m export runs/cnn_mnist/20261122-213000 --quantize all
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from export.variants import BY_NAME
from export import (card, decoding, make, metadata, quantize, report as reporting, sensitivity, signature as signing,
                    tflite, variants, verify)
from zoo import files
from zoo.errors import UsageError, ZooError, first_line
from zoo.tasks.graphs import DecoderGraph

LAYER_EXAMPLES = 32  # calibration inputs the per-layer error table is measured on
LAYERS_IN_REPORT = 200  # report.json keeps every layer's row up to this many, else the ones that lose most
PARITY_EXAMPLES = 256
TWIN_TOLERANCE = 0.05  # export twin vs trained model, relative to outputs above 1; bf16-trained runs stay under


def check_options(recipe, task, *, variant_names, batch, calibration_samples, latency_runs, prune, prune_epochs,
                  quantizer, int8_io, max_loss, min_ratio) -> None:
    """Refuse bad options before any work."""
    if batch < 1 or calibration_samples < 1 or latency_runs < 1:
        raise UsageError(f"--batch, --calibration-samples and --latency-runs must be at least 1, got {batch}, "
                         f"{calibration_samples} and {latency_runs}")
    if prune is not None and not task.prunable:
        raise UsageError(f"--prune fine-tunes classifiers; {recipe.name} is a {recipe.task} recipe: export it "
                         "without --prune")
    if prune is not None and not 0 < prune < 1:
        raise UsageError(f"--prune takes a target sparsity between 0 and 1 (e.g. 0.8), got {prune}")
    if prune is not None and prune_epochs < 1:
        raise UsageError("--prune-epochs must be at least 1")
    if quantizer not in ("litert", "converter"):
        raise UsageError(f"--quantizer is litert or converter, got {quantizer!r}")
    legacy_only = [v for v in variant_names if v not in variants.CONVERTER]
    if quantizer == "converter" and legacy_only:
        raise UsageError(f"the TFLite converter cannot make {', '.join(legacy_only)}: drop --quantizer converter "
                         f"or quantize only {', '.join(variants.CONVERTER)}")
    if "auto" in variant_names and int8_io == "uint8":
        raise UsageError("--quantize auto writes int8 or float32 I/O: use --int8-io int8 or float32 with it")
    if not (max_loss >= 0 and min_ratio >= 1):
        raise UsageError(f"--max-loss must be at least 0 and --min-ratio at least 1, got {max_loss} and {min_ratio}")


def export_run(run_dir, *, variants, out=None, batch=1, calibration_samples=500, int8_io="int8",
               allow_flex=False, data_dir=None, latency_runs=200, prune=None, prune_epochs=2,
               prune_lr_scale=0.1, quantizer="litert", max_loss=0.5, min_ratio=2.5, with_metadata=True,
               rgb=True, log=print) -> dict:
    """Export one run folder; the library form of `python -m export`. Returns the report. `with_metadata`: embed
    TFLite metadata in the classifier files (export/metadata.py); `rgb`: also export a grayscale classifier's
    `model_rgb` graph (RGB input, for the image task APIs)."""
    from zoo.run import Run

    variant_names = variants
    opened = Run(run_dir)
    recipe, task = opened.recipe, opened.task
    check_options(recipe, task, variant_names=variant_names, batch=batch, calibration_samples=calibration_samples,
                  latency_runs=latency_runs, prune=prune, prune_epochs=prune_epochs, quantizer=quantizer,
                  int8_io=int8_io, max_loss=max_loss, min_ratio=min_ratio)
    if with_metadata and task.gives_labels and metadata.missing():
        raise UsageError(f"{metadata.missing()}: the classifier files embed TFLite metadata; install the writers "
                         f"with `{metadata.INSTALL}`, or export with --no-metadata")
    target, owned = (Path(out), False) if out else (opened.folder / "export", True)
    files.check_output(target, "export", owned=owned)  # before any work
    model = opened.model()
    data = opened.data(data_dir)  # text: encoded with the run's own vocabulary
    output = files.claim_output(target, "export", owned=owned)
    files.clean_temporaries(output.folder)  # what a killed export left behind (only the zoo's own temporaries)

    model32 = tflite.float32_clone(model, data.info.input_shape, data.info.input_dtype)
    graphs = wanted(task.export_graphs(model32, model, data, batch, calibration_samples), rgb)
    twin_diff = check_twin(opened, graphs)
    summary = {k: v for g in graphs for k, v in g.summary.items()}
    log(f"{recipe.name}: export graphs {', '.join(g.name for g in graphs)}; Keras float32 "
        f"{reporting.numbers(summary)} (export twin vs trained model: max |diff| {twin_diff:.1e})")
    options = dict(batch=batch, int8_io=int8_io, allow_flex=allow_flex, latency_runs=latency_runs, log=log,
                   quantizer=quantizer, max_loss=max_loss, min_ratio=min_ratio,
                   general=general_metadata(opened, data) if with_metadata else None)
    results, failures, skipped = {}, {}, {}
    for graph in graphs:
        made = [v for v in variant_names if not (graph.uncalibrated and BY_NAME[v].quantizes_activations)]
        skipped.update({f"{graph.name} {v}": graph.uncalibrated for v in variant_names if v not in made})
        exporter = export_graph
        if isinstance(graph, DecoderGraph):  # prefill and step in one file: export/decoding.py
            exporter = decoding.export_decoder
            skipped.update(decoding.skipped(graph, made))
        more, more_failures = exporter(graph, output, "", made, **options)
        results.update(more)
        failures.update(more_failures)
    for name, why in skipped.items():  # asked for, but the graph does not take it: said, not failed
        log(f"{name} not made: {why}")
    if prune is not None:
        for graph in pruned_graphs(opened, model, data, output, prune, prune_epochs, prune_lr_scale, batch,
                                   calibration_samples, summary.get("keras_test_accuracy"), rgb, log):
            more, more_failures = export_graph(graph, output, "pruned_", variant_names, **options)
            results.update(more)
            failures.update({f"pruned {k}": v for k, v in more_failures.items()})

    for g in graphs:
        if g.output.get("labels"):
            files.write_text(output.path("labels.txt"), "\n".join(g.output["labels"]) + "\n")
    for name, content in data.files.items():  # the run's own vocab.txt, already read by load_data: an app needs it
        files.write_text(output.path(name), content)
    signature = signing.build(opened, graphs, batch, results)
    files.write_json(output.path("signature.json"), signature)
    settings = {"twin_max_abs_diff": twin_diff, "batch": batch, "calibration_samples": calibration_samples,
                "int8_io": int8_io, "quantizer": quantizer, "max_loss": max_loss, "min_ratio": min_ratio,
                "prune": prune, "prune_epochs": prune_epochs if prune else None}
    report = reporting.build(opened, summary, settings, results, failures, skipped)
    files.write_json(output.path("report.json"), report)
    files.write_text(output.path("report.md"), reporting.markdown(report))
    files.write_text(output.path("MODEL_CARD.md"), card.markdown(opened, report, signature))
    output.finish()  # earlier exports' other files stay, as they always did
    return report


def wanted(graphs: list, rgb: bool) -> list:
    """The task's graphs, without the RGB copies of grayscale classifiers when `rgb` is off (--no-rgb)."""
    return [g for g in graphs if rgb or g.input.get("copy") != "rgb"]


def general_metadata(opened, data) -> dict:
    """What every file's metadata says about the model: name, version, and a description with the training command
    and data; for text, the run's vocabulary (the tokenizer's file is made from it)."""
    from zoo.version import __version__

    info = data.info
    command = opened.record.get("command") or f"python -m zoo.train {opened.recipe.name}"
    return {"name": opened.recipe.name, "version": f"zoo {__version__}, run {opened.folder.name}",
            "description": f"{opened.recipe.description.rstrip('.')}. Trained with `{command}` on {info.name} ({info.source}). "
                           "Inputs, outputs and labels: signature.json and MODEL_CARD.md beside the file.",
            "vocabulary": data.files.get("vocab.txt")}


def check_twin(opened, graphs) -> float:
    """The twin (float32, recurrent layers as one loop each) must compute what the trained model does; returns the
    largest difference."""
    originals = [predict(g.original, g.inputs[:PARITY_EXAMPLES]) for g in graphs]
    twin_diff = max(float(np.max(np.abs(predict(g.model, g.inputs[:PARITY_EXAMPLES]) - o)))
                    for g, o in zip(graphs, originals))
    reference = max(1.0, max(float(np.max(np.abs(o))) for o in originals))
    if twin_diff > TWIN_TOLERANCE * reference:
        raise ZooError(f"{opened.folder}: the float32 graph export builds differs from the trained model by up to "
                       f"{twin_diff:.3f} on {PARITY_EXAMPLES} test inputs (allowed {TWIN_TOLERANCE * reference:.3f}); "
                       f"{opened.recipe.name}'s export twin is wrong, so nothing was exported: please report it")
    return twin_diff


def pruned_graphs(opened, model, data, output, prune, prune_epochs, prune_lr_scale, batch, calibration_samples,
                  reference, rgb, log):
    """A magnitude-pruned, fine-tuned float32 copy of the model (saved as model_pruned.keras) and its graphs."""
    from export import prune as pruning

    hp, task, info = opened.hparams, opened.task, data.info
    tune_hp = dict(hp, learning_rate=hp["learning_rate"] * prune_lr_scale, lr_schedule="constant",
                   epochs=prune_epochs, steps_per_execution=1)  # the masks are applied after every step
    log(f"pruning to {prune:.0%} sparsity with {prune_epochs} fine-tuning epoch(s) ...")
    pruned = tflite.float32_clone(model, info.input_shape, info.input_dtype)
    sparsity, _ = pruning.prune_and_finetune(
        pruned, data.train, lambda m, steps: task.compile(m, tune_hp, steps), prune, prune_epochs,
        validation_ds=data.val, verbose=2)
    with files.atomic_path(output.path("model_pruned.keras")) as tmp:
        pruned.save(tmp)
    graphs = wanted(task.export_graphs(pruned, pruned, data, batch, calibration_samples, reference=reference), rgb)
    for graph in graphs:
        log(f"pruned Keras {graph.name}: sparsity {sparsity:.3f}, {reporting.numbers(graph.summary)}")
    return graphs


def predict(graph, x):
    from zoo.tasks.graphs import predict as keras_predict

    return keras_predict(graph, x)


def export_graph(graph, output, prefix: str, variant_names, *, batch, int8_io, allow_flex, latency_runs, log,
                 **quantizing):
    """Serving SavedModel + each TFLite variant of one float32 graph into `output` (a `zoo.files.Output`);
    returns (artifacts, failures)."""
    name = signing.saved_model_dir(graph.name, prefix)
    write = dict(input_shape=graph.input_shape, input_dtype=graph.input_dtype, output_name=graph.output["name"])
    tflite.place_saved_model(output, name, lambda path: tflite.write_saved_model(  # serving: any batch size
        graph.model, path=path, batch=None, **write))
    # The converter's input: the same graph with a fixed batch (no shape ops), deleted after conversion.
    with files.temporary_dir(output.folder, f"{name}_fixed_batch") as fixed_sm:
        tflite.write_saved_model(graph.model, path=fixed_sm, batch=batch, **write)
        return convert_and_verify(graph, fixed_sm, output, prefix, variant_names, int8_io=int8_io,
                                  allow_flex=allow_flex, latency_runs=latency_runs, log=log, **quantizing)


def _limit(limits, variant: str):
    """A variant's agreement limit; the integer variants without their own take the graph's int8 limit."""
    return limits.get(variant, limits.get("int8") if variants.get(variant).integer else None)


def refusal(graph, variant: str, content: bytes, outputs, m: make.Making):
    """Why a variant's file is not kept (non-builtin ops, or too far from Keras), or None; and its differences."""
    ops = verify.op_names(content)
    flex = [o for o in ops if o.startswith("Flex") or o == "CUSTOM"]
    diff = np.abs(outputs[: len(m.sample)] - m.keras_out[: len(m.sample)])
    max_diff, mean_diff = float(np.max(diff)), float(np.mean(diff))
    max_limit, mean_limit = _limit(graph.max_abs, variant), _limit(graph.mean_abs, variant)
    reason = None
    if flex and not m.allow_flex:
        reason = f"uses non-builtin ops {flex}"
    elif max_limit is not None and max_diff > max_limit * m.scale:
        reason = f"max |output - Keras| = {max_diff:.2e} exceeds {max_limit * m.scale:.2e}"
    elif mean_limit is not None and mean_diff > mean_limit * m.scale:
        reason = f"mean |output - Keras| = {mean_diff:.2e} exceeds {mean_limit * m.scale:.2e}"
    return reason, ops, max_diff, mean_diff


def convert_and_verify(graph, fixed_sm: Path, output, prefix: str, variant_names, *, int8_io, allow_flex,
                       latency_runs, log, quantizer="litert", max_loss=0.5, min_ratio=2.5, general=None):
    """Convert the fixed-batch SavedModel to float32, make each variant from that file (`export/make.py`), run
    each with LiteRT and keep the files that pass."""
    from export import prune as pruning

    sparsity = pruning.sparsity_of(pruning.prunable_kernels(graph.model))
    keras_out = graph.outputs if graph.outputs is not None else predict(graph.model, graph.inputs)
    key = (lambda v: v) if graph.name == "model" else (lambda v: f"{graph.name} {v}")
    try:
        float_content = tflite.convert(fixed_sm, "float32", allow_flex=allow_flex, input_dtype=graph.input_dtype)
    except Exception as e:  # noqa: BLE001 - converter errors are long; keep the first line
        return {}, {key(v): f"conversion to float32 failed: {first_line(e)}" for v in variant_names}
    quantized = any(v != "float32" for v in variant_names)  # the inputs the per-layer error tables are measured on:
    layer_inputs = [x for _, x in zip(range(LAYER_EXAMPLES), graph.calibration())] if quantized else []
    m = make.Making(graph=graph, fixed_sm=fixed_sm, float_content=float_content,
                    calibrated=quantize.Calibrated(float_content, graph.calibration), layer_inputs=layer_inputs,
                    sample=graph.inputs[:PARITY_EXAMPLES], keras_out=keras_out,
                    scale=max(1.0, float(np.max(np.abs(keras_out)))), int8_io=int8_io, allow_flex=allow_flex,
                    quantizer=quantizer, max_loss=max_loss, min_ratio=min_ratio, latency_runs=latency_runs, log=log,
                    general=general, keep_float=make.layer_tensors(float_content, graph.float_layers))
    results, failures = {}, {}
    for variant in variant_names:
        name = f"{graph.name}_{prefix}{variant}.tflite"
        log(f"making {name} ...")
        try:
            content, made_by, extra = make.make(variant, m)
        except Exception as e:  # noqa: BLE001 - converter and quantizer errors are long; keep the first line
            failures[key(variant)] = f"conversion failed: {first_line(e)}"
            continue
        outputs = verify.Runner(content).predict(graph.inputs)
        reason, ops, max_diff, mean_diff = refusal(graph, variant, content, outputs, m)
        if reason:
            failures[key(variant)] = reason
            continue
        io = verify.io_details(content)
        if m.general is not None and metadata.kind(graph):
            plain, content = content, metadata.embed(
                content, graph, io, dict(m.general, name=f"{m.general['name']} ({graph.name}, {variant})"))
            if not np.array_equal(verify.Runner(content).predict(m.sample), outputs[: len(m.sample)]):
                failures[key(variant)] = "the file with metadata computes other outputs than the file without it"
                continue
            io["metadata"] = True
            extra = dict(extra, metadata_bytes=len(content) - len(plain))
        io["mediapipe"] = metadata.mediapipe_task(graph, io, loops=m.calibrated.has_loops)
        with files.atomic_path(output.path(name)) as tmp:
            tmp.write_bytes(content)
        scores = graph.score(outputs) if graph.score else {}
        errors = sensitivity.layer_errors(float_content, content, layer_inputs) if variant != "float32" else []
        results[name] = {
            "graph": graph.name,
            "variant": variant,
            "made_by": made_by,
            "pruned": bool(prefix),
            "bytes": len(content),
            "gzip_bytes": len(gzip.compress(content, compresslevel=9)),
            "weight_sparsity": sparsity,
            **scores,
            "max_abs_diff_vs_keras": max_diff,
            "mean_abs_diff_vs_keras": mean_diff,
            "latency_ms_1_thread": verify.latency_ms(content, m.sample, 1, latency_runs),
            "latency_ms_all_threads": verify.latency_ms(content, m.sample, os.cpu_count(), latency_runs),
            "ops": ops,
            "shape_ops": sorted(set(ops) & verify.SHAPE_OPS),
            "io": io,
            **extra,
            "layers": sensitivity.worst_layers(errors, LAYERS_IN_REPORT),
        }
        log(f"  {name}: {len(content):,} bytes, {reporting.numbers(scores) + ', ' if scores else ''}"
            f"max |diff| {max_diff:.2e}")
    return results, failures
