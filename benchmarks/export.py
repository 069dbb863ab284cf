"""Export `cnn_mnist` (trained on real MNIST) in every variant, pruned and not, and check the export targets.

    python benchmarks/export.py                      # trains cnn_mnist with its defaults first
    python benchmarks/export.py --run-dir runs/cnn_mnist/20261122-213000

Targets (issue #3): int8 >= 3.5x smaller than float32 with <= 0.3 points accuracy loss;
float16 >= 1.9x smaller with <= 0.05 points loss; pruned to 80% + int8: gzip >= 10x
smaller than the float32 file's gzip with <= 0.5 points loss; int8 single-example
latency no slower than float32. Accuracy is measured by running each .tflite file
with the LiteRT interpreter over the full 10,000-image test split.

Writes benchmarks/results/export.json and export.md and the README table between
the `results:export` markers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from train import machine, save  # noqa: E402


def checks(report: dict) -> list[tuple[str, bool, str]]:
    a = report["artifacts"]
    f32, f16, i8, p8 = (a[f"model_{v}.tflite"] for v in ("float32", "float16", "int8", "pruned_int8"))
    out = []

    def add(name, ok, text):
        out.append((name, ok, text))

    def change(art):
        return art["accuracy_change_vs_keras"] * 100

    r = f32["bytes"] / i8["bytes"]
    add("int8 size and accuracy", r >= 3.5 and change(i8) >= -0.3,
        f"{r:.2f}x smaller (≥ 3.5x), accuracy {change(i8):+.2f} pt (loss ≤ 0.3)")
    r = f32["bytes"] / f16["bytes"]
    add("float16 size and accuracy", r >= 1.9 and change(f16) >= -0.05,
        f"{r:.2f}x smaller (≥ 1.9x), accuracy {change(f16):+.2f} pt (loss ≤ 0.05)")
    r = f32["gzip_bytes"] / p8["gzip_bytes"]
    add("pruned 80% + int8, gzip", r >= 10 and change(p8) >= -0.5,
        f"{r:.1f}x smaller gzip (≥ 10x), sparsity {p8['weight_sparsity']:.2f}, accuracy {change(p8):+.2f} pt "
        "(loss ≤ 0.5)")
    t8, t32 = i8["latency_ms_1_thread"]["p50"], f32["latency_ms_1_thread"]["p50"]
    add("int8 latency", t8 <= t32, f"p50 {t8:.3f} ms vs float32 {t32:.3f} ms (1 thread)")
    return out


def table(report: dict, machine: str, date: str | None = None) -> str:
    lines = [
        f"Measured {date or time.strftime('%Y-%m-%d')} on {machine} with `python benchmarks/export.py` "
        f"(`cnn_mnist`, defaults, `--prune 0.8`); accuracy by LiteRT over the full test split.",
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", help="an existing cnn_mnist run (default: train one)")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--no-readme", action="store_true")
    p.add_argument("--render-only", action="store_true", help="rebuild the tables from results/export.json")
    args = p.parse_args()
    if args.render_only:
        saved = json.loads((HERE / "results" / "export.json").read_text())
        save("export", table(saved["report"], saved["machine"], saved.get("date")), None, readme=not args.no_readme)
        return 0
    run_dir = Path(args.run_dir) if args.run_dir else Path(args.out) / "runs" / f"cnn_mnist-export-{time.strftime('%Y%m%d-%H%M%S')}"
    if not args.run_dir:
        subprocess.run([sys.executable, "-m", "zoo.train", "cnn_mnist", "--run-dir", str(run_dir)], check=True, cwd=ROOT)
    code = subprocess.run([sys.executable, "-m", "export", str(run_dir), "--quantize", "all", "--prune", "0.8"],
                          cwd=ROOT).returncode
    report = json.loads((run_dir / "export" / "report.json").read_text())
    where, details = machine()
    save("export", table(report, where), {"machine": where, "machine_details": details,
                                          "date": time.strftime("%Y-%m-%d"), "run_dir": str(run_dir),
                                          "checks": checks(report), "report": report}, readme=not args.no_readme)
    return 1 if code or not all(ok for _, ok, _ in checks(report)) else 0


if __name__ == "__main__":
    sys.exit(main())
