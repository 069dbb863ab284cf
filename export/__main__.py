"""Export a trained run to a SavedModel and verified TFLite files for phones.

    python -m export runs/cnn_mnist/20261122-213000
    python -m export runs/cnn_mnist/20261122-213000 --quantize int8 --int8-io uint8
    python -m export runs/cnn_mnist/20261122-213000 --quantize all --batch 1 --out exported/
    python -m export runs/bilstm_imdb/20261124-101500 --quantize int8,auto --max-loss 0.3
    python -m export runs/cnn_mnist/20261122-213000 --int8-io float32 --web   # + a page: export/web/

Writes into RUN_DIR/export/ (or --out), for each graph the recipe's task exports
(a classifier's `model`; an autoencoder's `encoder` and `decoder`): a serving
SavedModel and GRAPH_<variant>.tflite; then signature.json (per graph everything an
app needs: input shape, dtype, range, preprocessing, quantization, output meaning;
for text models how to make the token ids, with vocab.txt copied beside), labels.txt
for classifiers, and report.json / report.md (size, agreement with Keras and, for
classifiers, accuracy measured with the LiteRT interpreter over the whole test split,
latency, ops, and per quantized file an error table per layer). Graphs use builtin
ops only and a fixed batch. Quantized files are made from the verified float32 file
with LiteRT Quantizer (`--quantizer converter`: the TFLite converter's legacy
post-training quantization); `--quantize auto` keeps the int8 layers that lose most
in float32 until the file loses at most --max-loss.
A variant that fails to convert or to match Keras is named, the command exits 1,
and the variants that passed are kept. `--web` then writes a static page that runs the
files in a browser with LiteRT.js (see python -m export.web --help).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from zoo.cli import ArgumentParser
from zoo.errors import first_line

VARIANT_CHOICES = ("float32", "float16", "dynamic", "int8", "int16x8", "weights_int8", "weights_int4", "auto")
DEFAULT_VARIANTS = "float32,float16,dynamic,int8"
CONVERTER_VARIANTS = ("float32", "float16", "dynamic", "int8")  # what --quantizer converter can make
INTEGER_VARIANTS = ("dynamic", "int8", "int16x8", "weights_int8", "weights_int4", "auto")
LAYER_EXAMPLES = 32  # calibration inputs the per-layer error table is measured on
LAYERS_IN_REPORT = 200  # report.json keeps every layer's row up to this many, else the ones that lose most
PARITY_EXAMPLES = 256
TWIN_TOLERANCE = 0.05  # export twin vs trained model, relative to outputs above 1; bf16-trained runs stay under


def parse_variants(text: str) -> list[str]:
    from zoo.errors import UsageError

    names = []
    for v in (v.strip() for v in text.split(",")):
        names += [c for c in VARIANT_CHOICES if c != "auto"] if v == "all" else [v] if v else []
    bad = [v for v in names if v not in VARIANT_CHOICES]
    if bad or not names:
        raise UsageError(f"--quantize takes a comma-separated list of {', '.join(VARIANT_CHOICES)}, or 'all' "
                         "(every one but auto), "
                         f"got {text!r}")
    return list(dict.fromkeys(names))


def export_run(run_dir, *, variants, out=None, batch=1, calibration_samples=500, int8_io="int8",
               allow_flex=False, data_dir=None, latency_runs=200, prune=None, prune_epochs=2,
               prune_lr_scale=0.1, quantizer="litert", max_loss=0.5, min_ratio=2.5, log=print) -> dict:
    """Export one run folder; the library form of `python -m export`."""
    from export import formats, tflite
    from zoo import files
    from zoo.errors import UsageError, ZooError
    from zoo.run import Run

    folder = Path(run_dir)
    opened = Run(folder)
    run, recipe, hp, task = opened.record, opened.recipe, opened.hparams, opened.task
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
    legacy_only = [v for v in variants if v not in CONVERTER_VARIANTS]
    if quantizer == "converter" and legacy_only:
        raise UsageError(f"the TFLite converter cannot make {', '.join(legacy_only)}: drop --quantizer converter "
                         f"or quantize only {', '.join(CONVERTER_VARIANTS)}")
    if "auto" in variants and int8_io == "uint8":
        raise UsageError("--quantize auto writes int8 or float32 I/O: use --int8-io int8 or float32 with it")
    if not (max_loss >= 0 and min_ratio >= 1):
        raise UsageError(f"--max-loss must be at least 0 and --min-ratio at least 1, got {max_loss} and {min_ratio}")
    target, owned = (Path(out), False) if out else (folder / "export", True)
    files.check_output(target, "export", owned=owned)  # before any work
    model = opened.model()
    data = opened.data(data_dir)  # text: encoded with the run's own vocabulary
    info = data.info
    output = files.claim_output(target, "export", owned=owned)
    files.clean_temporaries(output.folder)  # what a killed export left behind (only the zoo's own temporaries)

    model32 = tflite.float32_clone(model, info.input_shape, info.input_dtype)
    graphs = task.export_graphs(model32, model, data, batch, calibration_samples)
    # the twin (float32, recurrent layers as one loop each) must compute what the trained model does
    originals = [predict(g.original, g.inputs[:PARITY_EXAMPLES]) for g in graphs]
    twin_diff = max(float(np.max(np.abs(predict(g.model, g.inputs[:PARITY_EXAMPLES]) - o)))
                    for g, o in zip(graphs, originals))
    reference = max(1.0, max(float(np.max(np.abs(o))) for o in originals))
    if twin_diff > TWIN_TOLERANCE * reference:
        raise ZooError(f"{folder}: the float32 graph export builds differs from the trained model by up to "
                       f"{twin_diff:.3f} on {PARITY_EXAMPLES} test inputs (allowed {TWIN_TOLERANCE * reference:.3f}); "
                       f"{recipe.name}'s export twin is wrong, so nothing was exported: please report it")
    summary = {k: v for g in graphs for k, v in g.summary.items()}
    log(f"{recipe.name}: export graphs {', '.join(g.name for g in graphs)}; Keras float32 "
        f"{_numbers(summary)} (export twin vs trained model: max |diff| {twin_diff:.1e})")
    options = dict(batch=batch, int8_io=int8_io, allow_flex=allow_flex, latency_runs=latency_runs, log=log,
                   quantizer=quantizer, max_loss=max_loss, min_ratio=min_ratio)
    results, failures = {}, {}
    for graph in graphs:
        more, more_failures = export_graph(graph, output, "", variants, **options)
        results.update(more)
        failures.update(more_failures)
    if prune is not None:
        from export import prune as pruning

        tune_hp = dict(hp, learning_rate=hp["learning_rate"] * prune_lr_scale, lr_schedule="constant",
                       epochs=prune_epochs, steps_per_execution=1)  # the masks are applied after every step
        log(f"pruning to {prune:.0%} sparsity with {prune_epochs} fine-tuning epoch(s) ...")
        pruned = tflite.float32_clone(model, info.input_shape, info.input_dtype)
        sparsity, _ = pruning.prune_and_finetune(
            pruned, data.train, lambda m, steps: task.compile(m, tune_hp, steps), prune, prune_epochs,
            validation_ds=data.val, verbose=2)
        with files.atomic_path(output.path("model_pruned.keras")) as tmp:
            pruned.save(tmp)
        reference = summary.get("keras_test_accuracy")
        for graph in task.export_graphs(pruned, pruned, data, batch, calibration_samples, reference=reference):
            log(f"pruned Keras {graph.name}: sparsity {sparsity:.3f}, {_numbers(graph.summary)}")
            more, more_failures = export_graph(graph, output, "pruned_", variants, **options)
            results.update(more)
            failures.update({f"pruned {k}": v for k, v in more_failures.items()})

    for g in graphs:
        if g.output.get("labels"):
            files.write_text(output.path("labels.txt"), "\n".join(g.output["labels"]) + "\n")
    for name, content in data.files.items():  # the run's own vocab.txt, already read by load_data: an app needs it
        files.write_text(output.path(name), content)
    signature = {
        "format": formats.SIGNATURE_FORMAT,
        "recipe": recipe.name,
        "task": recipe.task,
        "run": str(folder),
        **({"ensemble_of": run["ensemble"]["members"]} if "ensemble" in run else {}),
        "graphs": {g.name: _graph_signature(g, batch, results) for g in graphs},
        "note": "Each graph: its .tflite files take `input` with the fixed batch in input.shape; saved_model is "
                "for serving (TF Serving, tf.saved_model.load) and takes any batch size. int8 files with integer "
                "I/O: q = round(x / scale) + zero_point on input, (q - zero_point) * scale on output, with the "
                "scale and zero point given per file.",
    }
    formats.check(signature, "signature")
    files.write_json(output.path("signature.json"), signature)
    report = {"format": formats.REPORT_FORMAT, "recipe": recipe.name, "task": recipe.task, "run": str(folder), **summary,
              "twin_max_abs_diff": twin_diff, "batch": batch, "calibration_samples": calibration_samples,
              "int8_io": int8_io, "quantizer": quantizer, "max_loss": max_loss, "min_ratio": min_ratio,
              "prune": prune, "prune_epochs": prune_epochs if prune else None,
              "hparams": hp, "artifacts": results, "failures": failures}
    formats.check(report, "report")
    files.write_json(output.path("report.json"), report)
    files.write_text(output.path("report.md"), report_markdown(report))
    output.finish()  # earlier exports' other files stay, as they always did
    return report


def predict(graph, x):
    from zoo.tasks.graphs import predict as keras_predict

    return keras_predict(graph, x)


def _numbers(values: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()) or "-"


def _graph_signature(graph, batch: int, results: dict) -> dict:
    from export import tflite

    stem = "saved_model" if graph.name == "model" else f"saved_model_{graph.name}"
    return {
        "input": {"name": tflite.INPUT_NAME, **graph.input, "shape": [batch, *graph.input["shape"]]},
        "output": {**graph.output, "shape": [batch, *graph.output["shape"]]},
        "files": {name: r["io"] for name, r in results.items() if r["graph"] == graph.name},
        "saved_model": {"dir": stem, "signature": tflite.SIGNATURE, "input": tflite.INPUT_NAME,
                        "output": graph.output["name"], "input_shape": [None, *graph.input["shape"]]},
    }


def export_graph(graph, output, prefix: str, variants, *, batch, int8_io, allow_flex, latency_runs, log,
                 **quantizing):
    """Serving SavedModel + each TFLite variant of one float32 graph into `output` (a `zoo.files.Output`);
    returns (artifacts, failures)."""
    from export import tflite
    from zoo import files

    stem = "saved_model" if graph.name == "model" else f"saved_model_{graph.name}"
    name = f"{stem}{'_' + prefix.rstrip('_') if prefix else ''}"
    write = dict(input_shape=graph.input_shape, input_dtype=graph.input_dtype, output_name=graph.output["name"])
    with files.temporary_dir(output.folder, name) as tmp_sm:  # the serving SavedModel (any batch size): written
        tflite.write_saved_model(graph.model, path=tmp_sm, batch=None, **write)  # beside, then moved into place
        sm_dir = output.path(name)
        if sm_dir.is_dir() and not sm_dir.is_symlink():
            shutil.rmtree(sm_dir)
        os.replace(tmp_sm, sm_dir)
    # The converter's input: the same graph with a fixed batch (no shape ops), deleted after conversion.
    with files.temporary_dir(output.folder, f"{name}_fixed_batch") as fixed_sm:
        tflite.write_saved_model(graph.model, path=fixed_sm, batch=batch, **write)
        return _convert_and_verify(graph, fixed_sm, output, prefix, variants, int8_io=int8_io,
                                   allow_flex=allow_flex, latency_runs=latency_runs, log=log, **quantizing)


def _limit(limits, variant: str):
    """A variant's agreement limit; the integer variants without their own take the graph's int8 limit."""
    return limits.get(variant, limits.get("int8") if variant in INTEGER_VARIANTS else None)


def _float_ops(calibrated, variant: str) -> str:
    if variant not in ("int8", "int16x8", "auto"):  # only these quantize activations
        return ""
    ops = sorted(calibrated.float_ops)
    refused = f"; {', '.join(ops)} kept float32: XNNPACK refuses them quantized" if ops else ""
    loops = "; WHILE loops (recurrent layers) kept float32: LiteRT Quantizer cannot calibrate inside them"
    return refused + (loops if calibrated.has_loops else "")


def _convert_and_verify(graph, fixed_sm: Path, output, prefix: str, variants, *, int8_io, allow_flex,
                        latency_runs, log, quantizer="litert", max_loss=0.5, min_ratio=2.5):
    """Convert the fixed-batch SavedModel to float32, make each quantized variant from that file (LiteRT
    Quantizer; the converter where asked), run each with LiteRT and keep the files that pass."""
    from export import prune as pruning
    from export import quantize, tflite, verify
    from zoo import files

    sparsity = pruning.sparsity_of(pruning.prunable_kernels(graph.model))
    keras_out = graph.outputs if graph.outputs is not None else predict(graph.model, graph.inputs)
    sample = graph.inputs[:PARITY_EXAMPLES]
    scale = max(1.0, float(np.max(np.abs(keras_out))))  # limits are relative to outputs larger than 1 (codes)
    key = (lambda v: v) if graph.name == "model" else (lambda v: f"{graph.name} {v}")
    try:
        float_content = tflite.convert(fixed_sm, "float32", allow_flex=allow_flex, input_dtype=graph.input_dtype)
    except Exception as e:  # noqa: BLE001 - converter errors are long; keep the first line
        return {}, {key(v): f"conversion to float32 failed: {first_line(e)}" for v in variants}
    calibrated = quantize.Calibrated(float_content, graph.calibration)
    quantized = any(v != "float32" for v in variants)  # the inputs the per-layer error tables are measured on:
    layer_inputs = [x for _, x in zip(range(LAYER_EXAMPLES), graph.calibration())] if quantized else []

    def make(variant):
        """(content, how it was made, extra report fields)"""
        if variant == "float32":
            return float_content, "TFLite converter", {}
        if quantizer == "converter" or (variant == "int8" and int8_io == "uint8"):
            if variant == "int8" and calibrated.has_loops:  # tested: the process dies (SIGSEGV) in calibration
                raise ValueError("the TFLite converter's int8 calibration crashes on WHILE loops (recurrent "
                                 "layers): make int8 with LiteRT Quantizer (no --quantizer converter, --int8-io "
                                 "int8 or float32)")
            content = tflite.convert(fixed_sm, variant, graph.calibration, int8_io=int8_io, allow_flex=allow_flex,
                                     input_dtype=graph.input_dtype)
            why = "" if quantizer == "converter" else ": LiteRT Quantizer writes no uint8 I/O"
            return content, f"TFLite converter (legacy post-training quantization{why})", {}
        io = "float32" if int8_io == "float32" else "int8"
        if variant != "auto":
            content = calibrated.quantize(variant, io)
            return content, f"LiteRT Quantizer ({quantize.recipe_name(variant)}{_float_ops(calibrated, variant)})", {}
        if graph.val_loss is not None:
            unit, limit = graph.loss_unit, max_loss
            def loss_of(c):
                return graph.val_loss(verify.Runner(c).predict)
        else:
            unit, limit = graph.loss_unit, graph.mean_abs.get("int8") or 0.01
            def loss_of(c):
                return float(np.mean(np.abs(verify.Runner(c).predict(sample) - keras_out[: len(sample)]))) / scale
        found = quantize.auto_select(calibrated, io, loss_of, limit, min_ratio,
                                     lambda c: quantize.layer_errors(float_content, c, layer_inputs), log)
        if not found.reached:
            log(f"  warning: auto kept {len(found.kept_float)} layer(s) in float32 and still loses {found.loss:.3f} "
                f"{unit} (limit {limit}); the size budget ({min_ratio}x) stopped it")
        full = found.rounds[0]
        how = f"LiteRT Quantizer ({quantize.recipe_name(variant)}, selective{_float_ops(calibrated, variant)})"
        return found.content, how, {"auto": {
            "loss": found.loss, "limit": limit, "unit": unit, "reached": found.reached,
            "kept_float": found.kept_float, "rounds": found.rounds, "float32_bytes": len(float_content),
            "full_int8_bytes": full["bytes"],
            "full_int8_loss": full["loss"],
            "full_int8_latency_ms_1_thread": verify.latency_ms(found.full_int8, sample, 1, latency_runs)}}

    results, failures = {}, {}
    for variant in variants:
        name = f"{graph.name}_{prefix}{variant}.tflite"
        log(f"making {name} ...")
        try:
            content, made_by, extra = make(variant)
        except Exception as e:  # noqa: BLE001 - converter and quantizer errors are long; keep the first line
            failures[key(variant)] = f"conversion failed: {first_line(e)}"
            continue
        ops = verify.op_names(content)
        flex = [o for o in ops if o.startswith("Flex") or o == "CUSTOM"]
        outputs = verify.Runner(content).predict(graph.inputs)
        diff = np.abs(outputs[: len(sample)] - keras_out[: len(sample)])
        max_diff, mean_diff = float(np.max(diff)), float(np.mean(diff))
        max_limit, mean_limit = _limit(graph.max_abs, variant), _limit(graph.mean_abs, variant)
        reason = None
        if flex and not allow_flex:
            reason = f"uses non-builtin ops {flex}"
        elif max_limit is not None and max_diff > max_limit * scale:
            reason = f"max |output - Keras| = {max_diff:.2e} exceeds {max_limit * scale:.2e}"
        elif mean_limit is not None and mean_diff > mean_limit * scale:
            reason = f"mean |output - Keras| = {mean_diff:.2e} exceeds {mean_limit * scale:.2e}"
        if reason:
            failures[key(variant)] = reason
            continue
        with files.atomic_path(output.path(name)) as tmp:
            tmp.write_bytes(content)
        scores = graph.score(outputs) if graph.score else {}
        layers = quantize.layer_errors(float_content, content, layer_inputs) if variant != "float32" else []
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
            "latency_ms_1_thread": verify.latency_ms(content, sample, 1, latency_runs),
            "latency_ms_all_threads": verify.latency_ms(content, sample, os.cpu_count(), latency_runs),
            "ops": ops,
            "shape_ops": sorted(set(ops) & verify.SHAPE_OPS),
            "io": verify.io_details(content),
            **extra,
            "layers": quantize.worst_layers(layers, LAYERS_IN_REPORT),
        }
        log(f"  {name}: {len(content):,} bytes, {_numbers(scores) + ', ' if scores else ''}"
            f"max |diff| {max_diff:.2e}")
    return results, failures


def report_markdown(report: dict) -> str:
    keras = {k: v for k, v in report.items() if k.startswith("keras_") or k == "test_examples"}
    lines = [f"# Export report: {report['recipe']}", "",
             f"Keras float32: {_numbers(keras)}; TFLite files run with the LiteRT interpreter.", "",
             "| file | bytes | gzip bytes | sparsity | test accuracy | change | max abs diff | mean abs diff | "
             "p50 ms (1 thread) | p50 ms (all) | ops |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["artifacts"].items():
        acc, change = r.get("test_accuracy"), r.get("accuracy_change_vs_keras")
        lines.append(
            f"| {name} | {r['bytes']:,} | {r['gzip_bytes']:,} | {r['weight_sparsity']:.2f} | "
            f"{'-' if acc is None else f'{acc:.4f}'} | {'-' if change is None else f'{change * 100:+.2f} pt'} | "
            f"{r['max_abs_diff_vs_keras']:.1e} | {r['mean_abs_diff_vs_keras']:.1e} | "
            f"{r['latency_ms_1_thread']['p50']:.3f} | {r['latency_ms_all_threads']['p50']:.3f} | "
            f"{', '.join(r['ops'])} |")
    for variant, why in report["failures"].items():
        lines.append(f"\n**{variant} failed**: {why}")
    for name, r in report["artifacts"].items():
        if "auto" in r:
            a = r["auto"]
            kept = ", ".join(f"`{k}`" for k in a["kept_float"]) or "none"
            lines += ["", f"## {name}: selective int8", "",
                      f"Full int8 lost {a['full_int8_loss']:.3f} {a['unit']} (limit {a['limit']}); this file loses "
                      f"{a['loss']:.3f}{'' if a['reached'] else ', over the limit: the size budget stopped it'}. "
                      f"Kept in float32: {kept}. Cost against full int8: {r['bytes'] - a['full_int8_bytes']:+,} "
                      f"bytes, p50 {r['latency_ms_1_thread']['p50'] - a['full_int8_latency_ms_1_thread']['p50']:+.3f} "
                      "ms (1 thread)."]
    from export.quantize import markdown_table

    for name, r in report["artifacts"].items():
        if r.get("layers"):
            lines += ["", f"## Layer errors: {name} ({r['made_by']})", "",
                      "Each layer's output against the float32 file's on calibration inputs; the layers that lose "
                      "most on their own (own drop: SNR lost against the worst input the layer reads), in graph "
                      "order. All measured layers are in report.json.", "", markdown_table(r["layers"])]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m export", description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by python -m zoo.train")
    p.add_argument("--quantize", default=DEFAULT_VARIANTS, metavar="LIST",
                   help=f"comma-separated variants among {','.join(VARIANT_CHOICES)}, or all (every one but auto); "
                   f"default {DEFAULT_VARIANTS}")
    p.add_argument("--quantizer", default="litert", choices=("litert", "converter"),
                   help="what makes the quantized files from the float32 one: LiteRT Quantizer (default) or the "
                   "TFLite converter's legacy post-training quantization (float16, dynamic, int8 only)")
    p.add_argument("--max-loss", type=float, default=0.5, metavar="POINTS",
                   help="auto: the accuracy (points, on the validation split) a classifier's file may lose; other "
                   "tasks keep their int8 agreement limit (default 0.5)")
    p.add_argument("--min-ratio", type=float, default=2.5, metavar="X",
                   help="auto: the file stays at least X times smaller than float32 (default 2.5)")
    p.add_argument("--calibration-samples", type=int, default=500,
                   help="training examples used to calibrate full-integer int8 (default 500)")
    p.add_argument("--int8-io", default="int8", choices=("int8", "uint8", "float32"),
                   help="input/output type of the int8 and auto files (int16 for int16x8; default int8); uint8 "
                   "makes the int8 file with the converter")
    p.add_argument("--batch", type=int, default=1, help="fixed batch size of the exported graphs (default 1)")
    p.add_argument("--allow-flex", action="store_true", help="allow TensorFlow (flex) ops; phones without the "
                   "flex delegate cannot run such files")
    p.add_argument("--prune", type=float, metavar="SPARSITY",
                   help="also export a magnitude-pruned copy (e.g. 0.8), fine-tuned on the recipe's training data")
    p.add_argument("--prune-epochs", type=int, default=2, help="fine-tuning epochs while pruning (default 2)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN_DIR/export)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset's files are (as for zoo.train)")
    p.add_argument("--latency-runs", type=int, default=200, help="timed runs per latency measurement (default 200)")
    p.add_argument("--web", action="store_true", help="also write a static web page that runs the files in the browser "
                   "with LiteRT.js into EXPORT_DIR/web (python -m export.web; needs `npm ci` in the zoo checkout)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    from zoo.cli import run_cli

    def body():
        report = export_run(args.run_dir, variants=parse_variants(args.quantize), out=args.out, batch=args.batch,
                            calibration_samples=args.calibration_samples, int8_io=args.int8_io,
                            allow_flex=args.allow_flex, data_dir=args.data_dir, latency_runs=args.latency_runs,
                            prune=args.prune, prune_epochs=args.prune_epochs, quantizer=args.quantizer,
                            max_loss=args.max_loss, min_ratio=args.min_ratio)
        folder = Path(args.out) if args.out else Path(args.run_dir) / "export"
        for variant, why in report["failures"].items():
            print(f"error: {variant}: {why}", file=sys.stderr)
        print(f"export folder: {folder}")
        if args.web:
            from export import web

            web.build(folder)
        return 1 if report["failures"] else 0

    def quiet_body():
        from zoo import runtime

        with runtime.native_logs_held(args.debug):  # the converters' C++ log lines: shown with --debug
            return body()

    return run_cli(quiet_body, args.debug)


if __name__ == "__main__":
    sys.exit(main())
