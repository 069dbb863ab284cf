"""Every recipe's benchmark in one command: benchmarks/results.md and results.json (issue #13).

    python -m benchmarks                          # every registered recipe (hours on a 2-core CPU)
    python -m benchmarks cnn_mnist mlp_mnist      # the named ones
    python -m benchmarks cnn_mnist --precision float32 --seed 1
    python -m benchmarks --resume                 # reuse finished runs and exports, continue unfinished runs
    python -m benchmarks --render-only            # rebuild results.md and the docs table from results.json

For each recipe, one after the other on this machine:
  1. train it with its defaults on the real data, in a fresh process (`benchmarks.train`'s
     run: `python -m zoo.train NAME --seed S --precision P`, CIFAR-10 and IMDB from
     ../shared/data where they are staged);
  2. export it with `python -m export RUN` (every variant, each verified against Keras with
     the LiteRT interpreter);
  3. record the test metric, parameters, epochs, seconds per epoch, training examples per
     second, precision, the float32 and int8 .tflite sizes, the int8 file's test metric and
     its change against Keras, the int8 single-example latency (p50, one thread), and the
     machine: CPU model and speed flags, cores, TensorFlow and Keras versions.

With `--resume`, a finished run is reused only if it was trained here with today's defaults in
the same precision (else it is moved aside and trained afresh: see benchmarks.train).

Rows merge into results.json by (recipe, seed, machine), so runs on different machines sit
side by side and every row names its machine; results.md and the docs text between the
`results:suite` markers are rebuilt from it. The per-stage scripts (train.py, export.py,
pipeline.py, ...) keep their own targets and tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, export_run, machine, run_recipe, update_docs
from benchmarks.train import headline

RESULTS = HERE / "results.json"


def export_summary(run_dir: Path, resume: bool) -> dict:
    """Export `run_dir` (unless `resume` finds its report) and summarise its first graph's float32 and int8 files."""
    report_path = run_dir / "export" / "report.json"
    if not (resume and report_path.is_file()):
        export_run(run_dir)  # a variant that fails is named in the report; the others are kept
    if not report_path.is_file():
        return {"export_error": "python -m export wrote no report"}
    report = json.loads(report_path.read_text())
    artifacts = report["artifacts"]
    graph = next(iter(artifacts), "").rsplit("_", 1)[0]

    def artifact(variant):
        return artifacts.get(f"{graph}_{variant}.tflite") or artifacts.get(f"{graph}_{variant}")

    f32, int8 = artifact("float32"), artifact("int8")
    summary = {"export_graph": graph, "export_failures": sorted(report.get("failures", {}))}
    if f32:
        summary["tflite_float32_bytes"] = f32["bytes"]
    if int8:
        summary["tflite_int8_bytes"] = int8["bytes"]
        summary["int8_latency_ms_p50"] = int8["latency_ms_1_thread"]["p50"]
        if "test_accuracy" in int8:
            summary["int8_test_accuracy"] = int8["test_accuracy"]
            summary["int8_change_points"] = int8["accuracy_change_vs_keras"] * 100
        else:  # not a classifier: how far its outputs are from the Keras model's
            summary["int8_max_abs_diff"] = int8.get("max_abs_diff_vs_keras")
    return summary


def measure(name: str, seed: int, precision: str, resume: bool, out: Path) -> dict:
    row = run_recipe(name, seed, out, None, resume, precision, strict=True)
    hparams = json.loads((Path(row["run_dir"]) / "hparams.json").read_text())
    row.update(export_summary(Path(row["run_dir"]), resume))
    where, details = machine()
    row.update(machine=where, machine_details=details, versions=hparams.get("versions", {}),
               date=time.strftime("%Y-%m-%d"))
    return row


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"results": []}


def merge(saved: dict, row: dict) -> dict:
    key = (row["recipe"], row["seed"], row["machine"])
    saved["results"] = [r for r in saved["results"] if (r["recipe"], r["seed"], r["machine"]) != key] + [row]
    return saved


def _size(n) -> str:
    return f"{n / 1024:,.0f}" if n else "–"


def table(saved: dict) -> str:
    lines = ["Written by `python -m benchmarks` from benchmarks/results.json: defaults, real data, one recipe at a "
             "time; rows grouped by the machine that measured them. Sizes in KiB; int8 latency is one example, one "
             "thread, LiteRT interpreter. The int8 change is against the Keras model scored in float32 by the "
             "export, which for a bf16-trained run can differ a little from its test result (scored in bf16)."]
    by_machine: dict[str, list[dict]] = {}
    for r in saved["results"]:
        by_machine.setdefault(r["machine"], []).append(r)
    for where, rows in by_machine.items():
        versions = rows[-1].get("versions", {})
        lines += ["", f"**{where}**; TensorFlow {versions.get('tensorflow', '?')}, Keras {versions.get('keras', '?')} "
                      f"({', '.join(sorted({r['date'] for r in rows}))})", "",
                  "| recipe | seed | test result | params | epochs | s / epoch | examples/s | precision | "
                  "float32 .tflite | int8 .tflite | int8 result | int8 ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (r["recipe"], r["seed"])):
            note = f" ({r['data_note']})" if r.get("data_note") else ""
            if "int8_test_accuracy" in r:
                int8 = f"{r['int8_test_accuracy']:.2%} ({r['int8_change_points']:+.2f} pt)"
            elif r.get("int8_max_abs_diff") is not None:
                int8 = f"max \\|Δ\\| {r['int8_max_abs_diff']:.3f} vs Keras"
            else:
                int8 = "–"
            latency = f"{r['int8_latency_ms_p50']:.3f}" if "int8_latency_ms_p50" in r else "–"
            lines.append(
                f"| `{r['recipe']}` | {r['seed']} | {headline(r)}{note} | {r['params']:,} | {r['epochs_run']} | "
                f"{r['epoch_seconds']:.1f} | {r['train_examples_per_second']:,.0f} | {r['precision']} | "
                f"{_size(r.get('tflite_float32_bytes'))} | {_size(r.get('tflite_int8_bytes'))} | {int8} | {latency} |")
    return "\n".join(lines)


def write(saved: dict, docs: bool) -> str:
    md = table(saved)
    RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    (HERE / "results.md").write_text(md + "\n")
    if docs:
        update_docs(md, "suite")
    return md


def main(argv=None) -> int:
    import zoo

    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", metavar="NAME", help="recipes to benchmark (default: every registered one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"))
    p.add_argument("--resume", action="store_true", help="reuse finished runs and exports, continue unfinished runs")
    p.add_argument("--out", default=str(HERE / "out"), help="where the runs go (default benchmarks/out)")
    p.add_argument("--render-only", action="store_true", help="rebuild the tables from results.json, run nothing")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    args = p.parse_args(argv)
    unknown = sorted(set(args.recipes) - set(zoo.list_recipes()))
    if unknown:
        p.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(zoo.list_recipes())}")
    if not args.render_only:
        for name in args.recipes or zoo.list_recipes():
            row = measure(name, args.seed, args.precision, args.resume, Path(args.out))
            write(merge(load(), row), docs=not args.no_docs)  # saved after every recipe: nothing lost
    print(write(load(), docs=not args.no_docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
