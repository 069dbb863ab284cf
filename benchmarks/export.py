"""Export a trained recipe in the variants its issue names and check the export targets.

    python -m benchmarks.export                      # cnn_mnist: trains it with its defaults first
    python -m benchmarks.export --run-dir runs/cnn_mnist/20261122-213000
    python -m benchmarks.export resnet20_cifar10     # uses benchmarks/out/runs/resnet20_cifar10-seed0
    python -m benchmarks.export lstm_imdb --run-dir runs/lstm_imdb/20261124-010000

Targets. cnn_mnist (issue #3): int8 >= 3.5x smaller than float32 with <= 0.3 points
accuracy loss; float16 >= 1.9x smaller with <= 0.05 points loss; pruned to 80% + int8:
gzip >= 10x smaller than the float32 file's gzip with <= 0.5 points loss; int8
single-example latency no slower than float32. resnet20_cifar10 (issue #9): int8 within
0.5 points of Keras and >= 3.5x smaller than float32. Text recipes (issue #10): dynamic
and int8 within 0.5 points of Keras. Every file uses builtin ops only (the export stage
refuses others). Accuracy is measured by running each .tflite file with the LiteRT
interpreter over the full test split.

Without --run-dir, the train benchmark's run `benchmarks/out/runs/RECIPE-seed0` is used
when it has finished, else a run is trained with the recipe's defaults (real data from
../shared/data where the train benchmark looks).

Results are merged into benchmarks/results/export.json by recipe; export.md and the
docs text between the `results:export` markers are rebuilt from it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, export_run, finished_run, machine, save


def _change(art) -> float:
    return art["accuracy_change_vs_keras"] * 100


def _within(art, name, points) -> tuple[str, bool, str]:
    return (f"{name} accuracy", _change(art) >= -points, f"{_change(art):+.2f} pt vs Keras (loss ≤ {points})")


def mnist_checks(a: dict) -> list[tuple[str, bool, str]]:
    f32, f16, i8, p8 = (a[f"model_{v}.tflite"] for v in ("float32", "float16", "int8", "pruned_int8"))
    r8, r16 = f32["bytes"] / i8["bytes"], f32["bytes"] / f16["bytes"]
    rp = f32["gzip_bytes"] / p8["gzip_bytes"]
    t8, t32 = i8["latency_ms_1_thread"]["p50"], f32["latency_ms_1_thread"]["p50"]
    return [
        ("int8 size and accuracy", r8 >= 3.5 and _change(i8) >= -0.3,
         f"{r8:.2f}x smaller (≥ 3.5x), accuracy {_change(i8):+.2f} pt (loss ≤ 0.3)"),
        ("float16 size and accuracy", r16 >= 1.9 and _change(f16) >= -0.05,
         f"{r16:.2f}x smaller (≥ 1.9x), accuracy {_change(f16):+.2f} pt (loss ≤ 0.05)"),
        ("pruned 80% + int8, gzip", rp >= 10 and _change(p8) >= -0.5,
         f"{rp:.1f}x smaller gzip (≥ 10x), sparsity {p8['weight_sparsity']:.2f}, accuracy {_change(p8):+.2f} pt "
         "(loss ≤ 0.5)"),
        ("int8 latency", t8 <= t32, f"p50 {t8:.3f} ms vs float32 {t32:.3f} ms (1 thread)"),
    ]


def resnet_checks(a: dict) -> list[tuple[str, bool, str]]:
    f32, i8 = a["model_float32.tflite"], a["model_int8.tflite"]
    r = f32["bytes"] / i8["bytes"]
    return [("int8 size and accuracy", r >= 3.5 and _change(i8) >= -0.5,
             f"{r:.2f}x smaller (≥ 3.5x), accuracy {_change(i8):+.2f} pt (loss ≤ 0.5)")]


def text_checks(a: dict) -> list[tuple[str, bool, str]]:
    return [_within(a["model_dynamic.tflite"], "dynamic", 0.5), _within(a["model_int8.tflite"], "int8", 0.5)]


TEXT = ("lstm_imdb", "gru_imdb", "bilstm_imdb", "transformer_imdb")
# recipe -> (export command options, checks of the report's artifacts)
PLANS = {
    "cnn_mnist": (["--quantize", "all", "--prune", "0.8"], mnist_checks),
    "resnet20_cifar10": (["--quantize", "float32,float16,dynamic,int8"], resnet_checks),
    **{name: (["--quantize", "float32,dynamic,int8"], text_checks) for name in TEXT},
}


def checks(report: dict) -> list[tuple[str, bool, str]]:
    return PLANS[report["recipe"]][1](report["artifacts"])


def table(report: dict, machine: str, date: str | None = None) -> str:
    recipe = report["recipe"]
    lossy = " (JPEG-lossy CIFAR-10 copy)" if "cifar10" in recipe else ""
    lines = [
        f"**`{recipe}`**: measured {date or time.strftime('%Y-%m-%d')} on {machine} with `python -m benchmarks.export "
        f"{recipe}` (`python -m export RUN {' '.join(PLANS[recipe][0])}`); accuracy by LiteRT over the full test "
        f"split{lossy}; Keras float32 {report['keras_test_accuracy']:.2%}.",
        "",
        "| file | bytes | gzip bytes | sparsity | test accuracy | vs Keras | p50 ms, 1 thread | p50 ms, all threads |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["artifacts"].items():
        lines.append(
            f"| `{name}` | {r['bytes']:,} | {r['gzip_bytes']:,} | {r['weight_sparsity']:.2f} | "
            f"{r['test_accuracy']:.2%} | {r['accuracy_change_vs_keras'] * 100:+.2f} pt | "
            f"{r['latency_ms_1_thread']['p50']:.3f} | {r['latency_ms_all_threads']['p50']:.3f} |")
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'✅' if ok else '❌'} | {text} |" for name, ok, text in checks(report)]
    return "\n".join(lines)


def load_saved(path: Path) -> dict:
    """results/export.json by recipe, upgraded from the one-recipe layout older versions wrote."""
    if not path.is_file():
        return {"results": {}}
    saved = json.loads(path.read_text())
    if "report" in saved:  # old layout: cnn_mnist only, the date in its run folder's name
        saved["report"].setdefault("recipe", "cnn_mnist")
        stamp = re.search(r"(\d{4})(\d{2})(\d{2})-\d{6}", saved.get("run_dir", ""))
        saved.setdefault("date", "-".join(stamp.groups()) if stamp else "date not recorded")
        return {"results": {"cnn_mnist": saved}}
    return saved


def render(saved: dict) -> str:
    return "\n\n".join(table(r["report"], r["machine"], r.get("date")) for r in saved["results"].values())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", default="cnn_mnist", choices=sorted(PLANS))
    p.add_argument("--run-dir", help="an existing run of the recipe (default: see above)")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    p.add_argument("--render-only", action="store_true", help="rebuild the tables from results/export.json")
    args = p.parse_args()
    path = HERE / "results" / "export.json"
    saved = load_saved(path)
    if args.render_only:
        save("export", render(saved), None, docs=not args.no_docs)
        return 0
    run_dir = finished_run(args.recipe, args.run_dir, Path(args.out))
    if run_dir is None:
        print(f"{args.run_dir} is not a finished run", file=sys.stderr)
        return 2
    options, _ = PLANS[args.recipe]
    code = export_run(run_dir, options)
    report = json.loads((run_dir / "export" / "report.json").read_text())
    report.setdefault("recipe", args.recipe)
    where, details = machine()
    saved = load_saved(path)  # again: another benchmark may have saved while this one ran
    saved["results"][args.recipe] = {"machine": where, "machine_details": details, "date": time.strftime("%Y-%m-%d"),
                                     "run_dir": str(run_dir), "checks": checks(report), "report": report}
    save("export", render(saved), saved, docs=not args.no_docs)
    return 1 if code or not all(ok for _, ok, _ in checks(report)) else 0


if __name__ == "__main__":
    sys.exit(main())
