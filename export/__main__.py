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
import sys
from pathlib import Path

from export import variants
from export.pipeline import export_run
from zoo.cli import ArgumentParser

__all__ = ["export_run", "parse_variants", "main"]
parse_variants = variants.parse  # the library forms: export.pipeline.export_run, export.variants.parse


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m export", description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1] + "\nvariants:\n" + variants.help_table(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by python -m zoo.train")
    p.add_argument("--quantize", default=variants.DEFAULT, metavar="LIST",
                   help=f"comma-separated variants among {','.join(variants.NAMES)} (see below), or all (every one but auto); "
                   f"default {variants.DEFAULT}")
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
                   help="input/output type of the int8 and auto files (files with int16 activations keep int16; default int8); uint8 "
                   "makes the int8 file with the converter")
    p.add_argument("--batch", type=int, default=1, help="fixed batch size of the exported graphs (default 1)")
    p.add_argument("--allow-flex", action="store_true", help="allow TensorFlow (flex) ops; phones without the "
                   "flex delegate cannot run such files")
    p.add_argument("--prune", type=float, metavar="SPARSITY",
                   help="also export a magnitude-pruned copy (e.g. 0.8), fine-tuned on the recipe's training data")
    p.add_argument("--prune-epochs", type=int, default=2, help="fine-tuning epochs while pruning (default 2)")
    p.add_argument("--no-metadata", action="store_true", help="write the classifier files without TFLite metadata "
                   "(by default each carries its name, version, training command, input normalisation and labels, "
                   "so MediaPipe Tasks loads it as it is; needs requirements/mediapipe-writer.txt)")
    p.add_argument("--no-rgb", action="store_true", help="grayscale classifiers: leave out the model_rgb_* files "
                   "(RGB input converted to grayscale in the graph, for MediaPipe's image classifier)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN_DIR/export)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset's files are (as for zoo.train)")
    p.add_argument("--latency-runs", type=int, default=200, help="timed runs per latency measurement (default 200)")
    p.add_argument("--web", action="store_true", help="also write a static web page that runs the files in the browser "
                   "with LiteRT.js into EXPORT_DIR/web (python -m export.web; needs `npm ci` in the zoo checkout)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    from zoo.cli import run_cli

    def body():
        report = export_run(args.run_dir, variants=variants.parse(args.quantize), out=args.out, batch=args.batch,
                            calibration_samples=args.calibration_samples, int8_io=args.int8_io,
                            allow_flex=args.allow_flex, data_dir=args.data_dir, latency_runs=args.latency_runs,
                            prune=args.prune, prune_epochs=args.prune_epochs, quantizer=args.quantizer,
                            max_loss=args.max_loss, min_ratio=args.min_ratio, with_metadata=not args.no_metadata,
                            rgb=not args.no_rgb)
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
