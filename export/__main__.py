"""Export a trained run to a SavedModel and verified TFLite files for phones.

    python -m export runs/cnn_mnist/20261122-213000
    python -m export runs/cnn_mnist/20261122-213000 --quantize int8 --int8-io uint8
    python -m export runs/cnn_mnist/20261122-213000 --quantize all --batch 1 --out exported/

Writes into RUN_DIR/export/ (or --out): saved_model/, model_<variant>.tflite,
labels.txt, signature.json (everything an app needs: input shape, dtype, range,
preprocessing, quantization, output meaning; for text models how to make the
token ids, with vocab.txt copied beside) and report.json / report.md (size,
accuracy measured with the LiteRT interpreter over the whole test split, agreement
with Keras, latency, ops). Graphs use builtin ops only and a fixed batch.
A variant that fails to convert or to match Keras is named, the command exits 1,
and the variants that passed are kept.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
from pathlib import Path

VARIANT_CHOICES = ("float32", "float16", "dynamic", "int8")
TOLERANCE = {"float32": 1e-5, "float16": 1e-2}  # max |probability difference| vs Keras, else the variant fails
PARITY_EXAMPLES = 256


def parse_variants(text: str) -> list[str]:
    from zoo.errors import UsageError

    if text == "all":
        return list(VARIANT_CHOICES)
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in names if v not in VARIANT_CHOICES]
    if bad or not names:
        raise UsageError(f"--quantize takes a comma-separated list of {', '.join(VARIANT_CHOICES)} or 'all', "
                         f"got {text!r}")
    return list(dict.fromkeys(names))


def export_run(run_dir, *, variants, out=None, batch=1, calibration_samples=500, int8_io="int8",
               allow_flex=False, data_dir=None, latency_runs=200, prune=None, prune_epochs=2,
               prune_lr_scale=0.1, log=print) -> dict:
    """Export one run folder; the library form of `python -m export`."""
    import numpy as np

    from export import tflite
    from zoo import runs
    from zoo.errors import UsageError

    folder = Path(run_dir)
    run, recipe, hp = runs.load_run_recipe(folder)
    if recipe.task != "classification":
        raise UsageError(f"export of {recipe.task} recipes is not supported yet")
    if batch < 1 or calibration_samples < 1:
        raise UsageError("--batch and --calibration-samples must be at least 1")
    if prune is not None and not 0 < prune < 1:
        raise UsageError(f"--prune takes a target sparsity between 0 and 1 (e.g. 0.8), got {prune}")
    if prune is not None and prune_epochs < 1:
        raise UsageError("--prune-epochs must be at least 1")
    model = runs.load_model(folder / runs.MODEL)
    data = runs.load_data(folder, run, recipe, hp, data_dir)  # text: encoded with the run's own vocabulary
    info = data.info
    out = Path(out) if out else folder / "export"
    out.mkdir(parents=True, exist_ok=True)
    runs.clean_temporaries(out)  # what a killed export left behind

    model32 = tflite.float32_clone(model, info.input_shape, info.input_dtype)
    x_test, y_test = tflite.take(data.test, info.num_test)
    x_test = x_test.astype(info.input_dtype)
    keras_probs = np.asarray(model32.predict(x_test, batch_size=256, verbose=0), dtype=np.float32)
    keras_acc = float(np.mean(keras_probs.argmax(1) == y_test))
    # the twin (float32, recurrent layers unrolled) must compute what the trained model does
    twin_diff = float(np.max(np.abs(keras_probs[:PARITY_EXAMPLES] - np.asarray(
        model.predict(x_test[:PARITY_EXAMPLES], batch_size=256, verbose=0), dtype=np.float32))))
    log(f"{recipe.name}: Keras float32 test accuracy {keras_acc:.4f} on {len(y_test)} examples "
        f"(export twin vs trained model: max |diff| {twin_diff:.1e})")

    representative = tflite.calibration_samples(data.train, calibration_samples, batch)
    common = dict(x_test=x_test, y_test=y_test, keras_probs=keras_probs, keras_acc=keras_acc, batch=batch,
                  input_shape=info.input_shape, input_dtype=info.input_dtype, representative=representative, int8_io=int8_io,
                  allow_flex=allow_flex, latency_runs=latency_runs, log=log)
    results, failures = export_model(model32, out, "", variants, **common)
    if prune is not None:
        from export import prune as pruning
        from zoo.tasks import get_task

        task = get_task(recipe.task)
        tune_hp = dict(hp, learning_rate=hp["learning_rate"] * prune_lr_scale, lr_schedule="constant",
                       epochs=prune_epochs)
        log(f"pruning to {prune:.0%} sparsity with {prune_epochs} fine-tuning epoch(s) ...")
        pruned = tflite.float32_clone(model, info.input_shape, info.input_dtype)
        sparsity, _ = pruning.prune_and_finetune(
            pruned, data.train, lambda m, steps: task.compile(m, tune_hp, steps), prune, prune_epochs,
            validation_ds=data.val, verbose=2)
        with runs.atomic_path(out / "model_pruned.keras") as tmp:
            pruned.save(tmp)
        pruned_probs = np.asarray(pruned.predict(x_test, batch_size=256, verbose=0), dtype=np.float32)
        pruned_acc = float(np.mean(pruned_probs.argmax(1) == y_test))
        log(f"pruned Keras model: sparsity {sparsity:.3f}, test accuracy {pruned_acc:.4f}")
        more, more_failures = export_model(
            pruned, out, "pruned_", variants,
            **{**common, "keras_probs": pruned_probs, "keras_acc": pruned_acc, "reference_acc": keras_acc})
        results.update(more)
        failures.update({f"pruned {k}": v for k, v in more_failures.items()})

    labels = list(info.class_names)
    runs.write_text(out / "labels.txt", "\n".join(labels) + "\n")
    for name, content in data.files.items():  # the run's own vocab.txt, already read by load_data: an app needs it
        runs.write_text(out / name, content)
    signature = {
        "recipe": recipe.name,
        "run": str(folder),
        **({"ensemble_of": run["ensemble"]["members"]} if "ensemble" in run else {}),
        "signature": tflite.SIGNATURE,
        "input": {
            "name": tflite.INPUT_NAME,
            "kind": info.input_kind,
            "shape": [batch, *info.input_shape],
            "dtype": info.input_dtype,
            "layout": "NHWC" if info.input_kind == "image" else None,
            "range": list(info.input_range),
            "preprocessing": info.preprocessing,
            **({"text": info.text} if info.text else {}),
        },
        "output": {
            "name": "probabilities",
            "shape": [batch, info.num_classes],
            "dtype": "float32",
            "meaning": "class probabilities (softmax); index i is line i of labels.txt",
        },
        "labels": labels,
        "saved_model": {"dir": "saved_model", "signature": tflite.SIGNATURE, "input": tflite.INPUT_NAME,
                        "input_shape": [None, *info.input_shape], "output": "probabilities",
                        "note": "for serving (TF Serving, tf.saved_model.load): any batch size; the .tflite "
                                "files take the fixed batch in `input.shape`"},
        "files": {name: r["io"] for name, r in results.items()},
        "note": "int8 files with integer I/O: q = round(x / scale) + zero_point on input, "
                "(q - zero_point) * scale on output, with the scale and zero point given per file.",
    }
    runs.write_json(out / "signature.json", signature)
    report = {"recipe": recipe.name, "run": str(folder), "keras_test_accuracy": keras_acc, "twin_max_abs_diff": twin_diff,
              "test_examples": int(len(y_test)), "batch": batch, "calibration_samples": calibration_samples,
              "int8_io": int8_io, "prune": prune, "prune_epochs": prune_epochs if prune else None,
              "hparams": hp, "artifacts": results, "failures": failures}
    runs.write_json(out / "report.json", report)
    runs.write_text(out / "report.md", report_markdown(report))
    return report


def export_model(model32, out: Path, prefix: str, variants, *, x_test, y_test, keras_probs, keras_acc, batch,
                 input_shape, input_dtype, representative, int8_io, allow_flex, latency_runs, log, reference_acc=None):
    """Serving SavedModel + each TFLite variant of one float32 model; returns (artifacts, failures)."""
    from export import tflite

    sm_dir = out / f"saved_model{'_' + prefix.rstrip('_') if prefix else ''}"
    tmp_sm = Path(tempfile.mkdtemp(prefix=f".{sm_dir.name}.", dir=out))
    try:  # the serving SavedModel (any batch size): written beside, then moved into place
        tflite.write_saved_model(model32, input_shape, tmp_sm, batch=None, input_dtype=input_dtype)
        if sm_dir.exists():
            shutil.rmtree(sm_dir)
        os.replace(tmp_sm, sm_dir)
    finally:
        shutil.rmtree(tmp_sm, ignore_errors=True)
    # The converter's input: the same model with a fixed batch (no shape ops), deleted after conversion.
    fixed_sm = Path(tempfile.mkdtemp(prefix=f".{sm_dir.name}_fixed_batch.", dir=out))
    try:
        tflite.write_saved_model(model32, input_shape, fixed_sm, batch=batch, input_dtype=input_dtype)
        return _convert_and_verify(model32, fixed_sm, out, prefix, variants, x_test=x_test, y_test=y_test,
                                   keras_probs=keras_probs, keras_acc=keras_acc, int8_io=int8_io,
                                   input_dtype=input_dtype, representative=representative, allow_flex=allow_flex,
                                   latency_runs=latency_runs, log=log, reference_acc=reference_acc)
    finally:
        shutil.rmtree(fixed_sm, ignore_errors=True)


def _convert_and_verify(model32, fixed_sm: Path, out: Path, prefix: str, variants, *, x_test, y_test, keras_probs,
                        keras_acc, int8_io, input_dtype, representative, allow_flex, latency_runs, log,
                        reference_acc):
    """Convert each variant from the fixed-batch SavedModel, run it with LiteRT, keep the files that pass."""
    import numpy as np

    from export import prune as pruning
    from export import tflite, verify
    from zoo import runs

    sparsity = pruning.sparsity_of(pruning.prunable_kernels(model32))
    sample = x_test[:PARITY_EXAMPLES]
    reference_acc = keras_acc if reference_acc is None else reference_acc
    results, failures = {}, {}
    for variant in variants:
        name = f"model_{prefix}{variant}.tflite"
        log(f"converting {name} ...")
        try:
            content = tflite.convert(fixed_sm, variant, representative, int8_io=int8_io, allow_flex=allow_flex,
                                     input_dtype=input_dtype)
        except Exception as e:  # noqa: BLE001 - converter errors are long; keep the first line
            failures[variant] = f"conversion failed: {str(e).strip().splitlines()[0][:300]}"
            continue
        ops = verify.op_names(content)
        flex = [o for o in ops if o.startswith("Flex") or o == "CUSTOM"]
        runner = verify.Runner(content)
        probs = runner.predict(x_test)
        max_diff = float(np.max(np.abs(probs[: len(sample)] - keras_probs[: len(sample)])))
        acc = float(np.mean(probs.argmax(1) == y_test))
        reason = None
        if flex and not allow_flex:
            reason = f"uses non-builtin ops {flex}"
        elif variant in TOLERANCE and max_diff > TOLERANCE[variant]:
            reason = f"max |output - Keras| = {max_diff:.2e} exceeds {TOLERANCE[variant]:g}"
        if reason:
            failures[variant] = reason
            continue
        with runs.atomic_path(out / name) as tmp:
            tmp.write_bytes(content)
        results[name] = {
            "variant": variant,
            "pruned": bool(prefix),
            "bytes": len(content),
            "gzip_bytes": len(gzip.compress(content, compresslevel=9)),
            "weight_sparsity": sparsity,
            "test_accuracy": acc,
            "accuracy_change_vs_keras": acc - reference_acc,
            "argmax_agreement_vs_keras": float(np.mean(probs.argmax(1) == keras_probs.argmax(1))),
            "max_abs_diff_vs_keras": max_diff,
            "latency_ms_1_thread": verify.latency_ms(content, sample, 1, latency_runs),
            "latency_ms_all_threads": verify.latency_ms(content, sample, os.cpu_count(), latency_runs),
            "ops": ops,
            "shape_ops": sorted(set(ops) & verify.SHAPE_OPS),
            "io": verify.io_details(content),
        }
        log(f"  {name}: {len(content):,} bytes, test accuracy {acc:.4f} ({acc - reference_acc:+.4f}), "
            f"max |diff| {max_diff:.2e}")
    return results, failures


def report_markdown(report: dict) -> str:
    lines = [f"# Export report: {report['recipe']}", "",
             f"Keras float32 test accuracy: {report['keras_test_accuracy']:.4f} "
             f"({report['test_examples']} examples); TFLite files run with the LiteRT interpreter.", "",
             "| file | bytes | gzip bytes | sparsity | test accuracy | change | max abs diff | p50 ms (1 thread) | "
             "p50 ms (all) | ops |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["artifacts"].items():
        lines.append(
            f"| {name} | {r['bytes']:,} | {r['gzip_bytes']:,} | {r['weight_sparsity']:.2f} | {r['test_accuracy']:.4f} | "
            f"{r['accuracy_change_vs_keras'] * 100:+.2f} pt | {r['max_abs_diff_vs_keras']:.1e} | "
            f"{r['latency_ms_1_thread']['p50']:.3f} | {r['latency_ms_all_threads']['p50']:.3f} | "
            f"{', '.join(r['ops'])} |")
    for variant, why in report["failures"].items():
        lines.append(f"\n**{variant} failed**: {why}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    
    p = argparse.ArgumentParser(prog="python -m export", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by python -m zoo.train")
    p.add_argument("--quantize", default="all", metavar="LIST",
                   help="comma-separated variants among float32,float16,dynamic,int8, or all (default all)")
    p.add_argument("--calibration-samples", type=int, default=500,
                   help="training examples used to calibrate full-integer int8 (default 500)")
    p.add_argument("--int8-io", default="int8", choices=("int8", "uint8", "float32"),
                   help="input/output type of the int8 file (default int8)")
    p.add_argument("--batch", type=int, default=1, help="fixed batch size of the exported graphs (default 1)")
    p.add_argument("--allow-flex", action="store_true", help="allow TensorFlow (flex) ops; phones without the "
                   "flex delegate cannot run such files")
    p.add_argument("--prune", type=float, metavar="SPARSITY",
                   help="also export a magnitude-pruned copy (e.g. 0.8), fine-tuned on the recipe's training data")
    p.add_argument("--prune-epochs", type=int, default=2, help="fine-tuning epochs while pruning (default 2)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN_DIR/export)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset's files are (as for zoo.train)")
    p.add_argument("--latency-runs", type=int, default=200, help="timed runs per latency measurement (default 200)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    from zoo.errors import run_cli

    def body():
        report = export_run(args.run_dir, variants=parse_variants(args.quantize), out=args.out, batch=args.batch,
                            calibration_samples=args.calibration_samples, int8_io=args.int8_io,
                            allow_flex=args.allow_flex, data_dir=args.data_dir, latency_runs=args.latency_runs,
                            prune=args.prune, prune_epochs=args.prune_epochs)
        for variant, why in report["failures"].items():
            print(f"error: {variant}: {why}", file=sys.stderr)
        print(f"export folder: {Path(args.out) if args.out else Path(args.run_dir) / 'export'}")
        return 1 if report["failures"] else 0

    return run_cli(body, args.debug)


if __name__ == "__main__":
    sys.exit(main())
