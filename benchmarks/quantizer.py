"""LiteRT Quantizer against the TFLite converter's legacy quantization, on the same float32 graph (issue #14).

    python -m benchmarks.quantizer                    # cnn_mnist: trains it with its defaults first
    python -m benchmarks.quantizer bilstm_imdb --run-dir runs/bilstm_imdb/20261124-101500
    python -m benchmarks.quantizer --render-only

Exports one run twice: `--quantizer converter` (cnn_mnist: float16, dynamic and int8
made inside the converter) and the default LiteRT Quantizer path (cnn_mnist: every
variant), with `auto` (--max-loss 0.3 --min-ratio 2.5) on the LiteRT path. Other recipes,
whose test splits take minutes per file (a BiLSTM scores IMDB's 25,000 reviews in about
3 minutes per file), make dynamic and int8 with the converter and float32, int8 and auto
with LiteRT Quantizer. Every file is run with the LiteRT interpreter over the full test
split; a variant export refuses is listed with its reason.

Targets: cnn_mnist's int4-weight file >= 6x smaller than float32 with <= 0.3 points
accuracy loss, and its int8 file <= 0.3 points and >= 3.5x smaller; on the recipe whose
full int8 loses most, `auto` loses <= 0.3 points and stays >= 2.5x smaller.

Without --run-dir the train benchmark's run `benchmarks/out/runs/RECIPE-seed0` is used
(trained first if missing). Results are merged into benchmarks/results/quantizer.json by
recipe; quantizer.md and the docs text between the `results:quantizer` markers are
rebuilt from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, export_run, finished_run, machine, save

AUTO = ["--max-loss", "0.3", "--min-ratio", "2.5"]


def paths(recipe: str) -> dict:
    """label -> python -m export options (the output folder is added per path). Every variant for cnn_mnist;
    for the others, whose test splits take minutes per file, int8 on both paths and auto."""
    if recipe == "cnn_mnist":
        return {"converter": ["--quantizer", "converter", "--quantize", "float32,float16,dynamic,int8"],
                "litert": ["--quantize", "all,auto", *AUTO]}
    return {"converter": ["--quantizer", "converter", "--quantize", "dynamic,int8"],
            "litert": ["--quantize", "float32,int8,auto", *AUTO]}


def float32_bytes(report: dict) -> int:
    """The float32 file's size: its artifact where it was scored, else what auto measured its budget against."""
    arts = report["artifacts"]
    return arts["model_float32.tflite"]["bytes"] if "model_float32.tflite" in arts else \
        arts["model_auto.tflite"]["auto"]["float32_bytes"]


def _pt(art) -> float:
    return art["accuracy_change_vs_keras"] * 100


def checks(recipe: str, reports: dict) -> list[tuple[str, bool, str]]:
    lit = reports["litert"]["artifacts"]
    f32 = float32_bytes(reports["litert"])
    out = []
    if recipe == "cnn_mnist":
        for name, variant, ratio in (("int4 weights", "weights_int4", 6.0), ("int8", "int8", 3.5)):
            art = lit[f"model_{variant}.tflite"]
            r = f32 / art["bytes"]
            out.append((f"{name} size and accuracy", r >= ratio and _pt(art) >= -0.3,
                        f"{r:.2f}x smaller (≥ {ratio}x), accuracy {_pt(art):+.2f} pt (loss ≤ 0.3)"))
    auto, int8 = lit["model_auto.tflite"], lit["model_int8.tflite"]
    r = f32 / auto["bytes"]
    out.append(("auto size and accuracy", r >= 2.5 and _pt(auto) >= -0.3,
                f"{r:.2f}x smaller (≥ 2.5x), accuracy {_pt(auto):+.2f} pt (loss ≤ 0.3; full int8 "
                f"{_pt(int8):+.2f} pt), "
                f"{len(auto['auto']['kept_float'])} layer(s) kept in float32"))
    return out


def table(entry: dict) -> str:
    recipe, reports = entry["recipe"], entry["reports"]
    keras = reports["litert"]["keras_test_accuracy"]
    lossy = " (JPEG-lossy CIFAR-10 copy)" if "cifar10" in recipe else ""
    f32 = float32_bytes(reports["litert"])
    lines = [f"**`{recipe}`**: measured {entry['date']} on {entry['machine']} with `python -m benchmarks.quantizer "
             f"{recipe}`; accuracy by LiteRT over the full test split{lossy}; Keras float32 {keras:.2%}.", "",
             "| variant | made by | bytes | vs float32 | test accuracy | vs Keras | p50 ms, 1 thread | input |",
             "|---|---|---|---|---|---|---|---|"]
    lit, conv = (list(reports[label]["artifacts"].values()) for label in ("litert", "converter"))
    floats = [a for a in lit if a["variant"] == "float32"]  # the same converter file on both paths: shown once
    for a in floats + [a for a in conv + lit if a["variant"] != "float32"]:
        lines.append(f"| {a['variant']} | {a['made_by']} | {a['bytes']:,} | {f32 / a['bytes']:.2f}x | "
                     f"{a['test_accuracy']:.2%} | {_pt(a):+.2f} pt | {a['latency_ms_1_thread']['p50']:.3f} | "
                     f"{a['io']['inputs'][0]['dtype']} |")
    for label in ("converter", "litert"):
        for variant, why in reports[label].get("failures", {}).items():
            made_by = "TFLite converter" if label == "converter" else "LiteRT Quantizer"
            lines.append(f"| {variant} | {made_by} | not made: {why} | | | | | |")
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'✅' if ok else '❌'} | {text} |" for name, ok, text in entry["checks"]]
    return "\n".join(lines)


def render(saved: dict) -> str:
    return "\n\n".join(table(e) for e in saved["results"].values())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", default="cnn_mnist")
    p.add_argument("--run-dir", help="an existing run of the recipe (default: see above)")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    p.add_argument("--render-only", action="store_true", help="rebuild the tables from results/quantizer.json")
    args = p.parse_args()
    path = HERE / "results" / "quantizer.json"
    load = lambda: json.loads(path.read_text()) if path.is_file() else {"results": {}}  # noqa: E731
    if args.render_only:
        save("quantizer", render(load()), None, docs=not args.no_docs)
        return 0
    run_dir = finished_run(args.recipe, args.run_dir, Path(args.out))
    if run_dir is None:
        print(f"{args.run_dir} is not a finished run", file=sys.stderr)
        return 2
    reports, failed = {}, False
    for label, options in paths(args.recipe).items():
        folder = run_dir / f"export_{label}"
        failed |= bool(export_run(run_dir, [*options, "--out", str(folder)]))
        reports[label] = json.loads((folder / "report.json").read_text())
    where, details = machine()
    saved = load()
    entry = {"recipe": args.recipe, "machine": where, "machine_details": details, "date": time.strftime("%Y-%m-%d"),
             "run_dir": str(run_dir), "reports": reports}
    entry["checks"] = checks(args.recipe, reports)
    saved["results"][args.recipe] = entry
    save("quantizer", render(saved), saved, docs=not args.no_docs)
    return 1 if failed or not all(ok for _, ok, _ in entry["checks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
