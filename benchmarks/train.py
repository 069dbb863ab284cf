"""Train recipes with their default hyperparameters on real data and check the issue's targets.

    python benchmarks/train.py                         # cnn_mnist, cnn_fashion_mnist, mlp_mnist + keras-io reference
    python benchmarks/train.py cnn_mnist --seeds 0 1 2  # several seeds of one recipe
    python benchmarks/train.py --no-reference --no-readme

Each recipe runs as `python -m zoo.train NAME --seed S` in its own process, with
the default data sources (MNIST: the bundled byte-exact copy; Fashion-MNIST:
`/usr/share/datasets/fashion-mnist` from Debian's `dataset-fashion-mnist`, or
pass --data-dir / ZOO_DATA_DIR). The keras-io "Simple MNIST convnet" recipe is
timed on the same machine as the speed reference for cnn_mnist.

Writes benchmarks/results/train.json and train.md, and replaces the table
between the `results:train` markers in README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS = {  # recipe -> minimum test accuracy (issue #2)
    "cnn_mnist": 0.993,
    "cnn_fashion_mnist": 0.925,
    "mlp_mnist": 0.980,
}


def machine() -> tuple[str, dict]:
    """This machine as one line for the tables (CPU model, cores, speed-relevant flags, GPU) and in detail."""
    from zoo import runtime

    details = runtime.machine()
    return runtime.describe_machine(details), details


def run_recipe(name: str, seed: int, out: Path, data_dir: str | None) -> dict:
    run_dir = out / "runs" / f"{name}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    cmd = [sys.executable, "-m", "zoo.train", name, "--seed", str(seed), "--run-dir", str(run_dir)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    metrics = json.loads((run_dir / "metrics.json").read_text())
    hparams = json.loads((run_dir / "hparams.json").read_text())
    return {"recipe": name, "seed": seed, "wall_seconds": round(wall, 1), "run_dir": str(run_dir),
            "data": hparams["data"]["source"], **metrics}


def run_reference(out: Path) -> dict:
    path = out / "keras_io_reference.json"
    subprocess.run([sys.executable, str(HERE / "keras_io_baseline.py"), "--json", str(path)], check=True, cwd=ROOT)
    return json.loads(path.read_text())


def table(results: list[dict], reference: dict | None, machine: str, date: str | None = None) -> str:
    lines = [
        f"Measured {date or time.strftime('%Y-%m-%d')} on {machine} with `python benchmarks/train.py`; "
        "default hyperparameters, precision `auto`.",
        "",
        "| recipe | seed | test accuracy | target | epochs | train time (s) | examples/s | precision |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        target = TARGETS.get(r["recipe"])
        ok = "" if target is None else (" ✅" if r["test_accuracy"] >= target else " ❌")
        target_text = f"≥ {target:.1%}{ok}" if target else "–"
        lines.append(
            f"| `{r['recipe']}` | {r['seed']} | {r['test_accuracy']:.2%} | {target_text} | {r['epochs_run']} | "
            f"{r['train_seconds']:.1f} | {r['train_examples_per_second']:,.0f} | {r['precision']} |"
        )
    if reference:
        lines.append(
            f"| keras-io `mnist_convnet` (reference) | 0 | {reference['test_accuracy']:.2%} | – | "
            f"{reference['epochs']} | {reference['train_seconds']:.1f} | "
            f"{reference['train_examples_per_second']:,.0f} | float32 |"
        )
        cnn = [r for r in results if r["recipe"] == "cnn_mnist"]
        if cnn:
            slowest = max(r["train_seconds"] for r in cnn)
            lines += ["", f"`cnn_mnist` trains in {slowest:.1f} s against the reference's "
                          f"{reference['train_seconds']:.1f} s ({reference['train_seconds'] / slowest:.1f}x faster)."]
    lines += ["", "Train time is the wall time of `model.fit`'s epochs, validation included. Examples/s counts "
                  "training steps only for the recipes, the whole `fit` for the reference."]
    return "\n".join(lines)


def update_readme(text: str, section: str = "train") -> None:
    """Replace the README's text between `<!-- results:SECTION:start -->` and `<!-- results:SECTION:end -->`."""
    readme = ROOT / "README.md"
    content = readme.read_text()
    pattern = re.compile(rf"(<!-- results:{section}:start -->\n).*?(\n<!-- results:{section}:end -->)", re.S)
    if not pattern.search(content):
        print(f"README.md has no results:{section} markers; not updated", file=sys.stderr)
        return
    readme.write_text(pattern.sub(lambda m: m.group(1) + text + m.group(2), content))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", default=list(TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--no-reference", action="store_true", help="skip timing the keras-io reference")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the README table")
    p.add_argument("--render-only", action="store_true",
                   help="rebuild the tables from benchmarks/results/train.json without training")
    args = p.parse_args()
    if args.render_only:
        saved = json.loads((HERE / "results" / "train.json").read_text())
        md = table(saved["results"], saved["reference"], saved["machine"], saved.get("date"))
        (HERE / "results" / "train.md").write_text(md + "\n")
        if not args.no_readme:
            update_readme(md)
        print(md)
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = [run_recipe(name, seed, out, args.data_dir) for name in args.recipes for seed in args.seeds]
    reference = None if args.no_reference else run_reference(out)
    where, details = machine()
    md = table(results, reference, where)
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "train.json").write_text(json.dumps(
        {"machine": where, "machine_details": details, "date": time.strftime("%Y-%m-%d"), "results": results,
         "reference": reference}, indent=2) + "\n")
    (results_dir / "train.md").write_text(md + "\n")
    if not args.no_readme:
        update_readme(md)
    print(md)
    missed = [r for r in results if r["recipe"] in TARGETS and r["test_accuracy"] < TARGETS[r["recipe"]]]
    slow = reference and any(r["recipe"] == "cnn_mnist" and r["train_seconds"] >= reference["train_seconds"]
                             for r in results)
    return 1 if missed or slow else 0


if __name__ == "__main__":
    sys.exit(main())
