"""A 10-trial Bayesian search over `cnn_mnist` (2 epochs per trial) on real MNIST, checked against the targets.

    python -m benchmarks.tuning [--trials 10] [--epochs 2]

Targets (issue #4): the search finishes in under 30 minutes on this CPU; its best
validation accuracy is at least the default recipe's at the same epochs; retraining
with best_hparams.json (`python -m zoo.train cnn_mnist --config best_hparams.json`)
reproduces the best trial's validation accuracy within 0.3 points.

Writes benchmarks/results/tuning.json and tuning.md and the docs table between
the `results:tuning` markers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, ROOT, machine, save


def best_val(run_dir: Path) -> float:
    return json.loads((run_dir / "metrics.json").read_text())["best_val_accuracy"]


def table(r: dict, date: str | None = None) -> str:
    ok = {
        "time": r["search_seconds"] < 30 * 60,
        "vs default": r["best_trial_val_accuracy"] >= r["default_val_accuracy"],
        "reproduce": abs(r["retrained_val_accuracy"] - r["best_trial_val_accuracy"]) <= 0.003,
    }
    mark = {k: "✅" if v else "❌" for k, v in ok.items()}
    return "\n".join([
        f"Measured {date or time.strftime('%Y-%m-%d')} on {r['machine']} with `python -m benchmarks.tuning`: "
        f"`cnn_mnist`, {r['trials']}-trial Bayesian search, {r['epochs']} epochs per trial, real MNIST.",
        "",
        "| target | met | measured |",
        "|---|---|---|",
        f"| search under 30 min | {mark['time']} | {r['search_seconds'] / 60:.1f} min |",
        f"| best val accuracy ≥ defaults at {r['epochs']} epochs | {mark['vs default']} | "
        f"{r['best_trial_val_accuracy']:.4f} vs {r['default_val_accuracy']:.4f} |",
        f"| retraining with best_hparams.json within 0.3 pt | {mark['reproduce']} | "
        f"{r['retrained_val_accuracy']:.4f} vs trial {r['best_trial_val_accuracy']:.4f} "
        f"({(r['retrained_val_accuracy'] - r['best_trial_val_accuracy']) * 100:+.2f} pt) |",
        "",
        "Best values: " + ", ".join(f"`{k}={v}`" for k, v in r["best_searched"].items()),
    ]), all(ok.values())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    p.add_argument("--render-only", action="store_true", help="rebuild the tables from results/tuning.json")
    args = p.parse_args()
    results = HERE / "results"
    if args.render_only:
        r = json.loads((results / "tuning.json").read_text())
        md, ok = table(r, r.get("date"))
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(args.out)
        search_dir = out / "tuner" / f"cnn_mnist-{stamp}"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tuning", "cnn_mnist", "--tuner", "bayesian", "--max-trials",
                        str(args.trials), "--epochs", str(args.epochs), "--dir", str(search_dir)], check=True, cwd=ROOT)
        search_seconds = time.perf_counter() - start
        best = json.loads((search_dir / "best_hparams.json").read_text())
        default_run = out / "runs" / f"cnn_mnist-default-{args.epochs}ep-{stamp}"
        subprocess.run([sys.executable, "-m", "zoo.train", "cnn_mnist", "--epochs", str(args.epochs),
                        "--run-dir", str(default_run)], check=True, cwd=ROOT)
        retrain_run = out / "runs" / f"cnn_mnist-best-{stamp}"
        subprocess.run([sys.executable, "-m", "zoo.train", "cnn_mnist", "--config", str(search_dir / "best_hparams.json"),
                        "--run-dir", str(retrain_run)], check=True, cwd=ROOT)
        where, details = machine()
        r = {
            "machine": where,
            "machine_details": details,
            "date": time.strftime("%Y-%m-%d"),
            "trials": args.trials,
            "epochs": args.epochs,
            "search_seconds": search_seconds,
            "best_trial_val_accuracy": best["score"],
            "default_val_accuracy": best_val(default_run),
            "retrained_val_accuracy": best_val(retrain_run),
            "retrained_test_accuracy": json.loads((retrain_run / "metrics.json").read_text())["test_accuracy"],
            "best_searched": {k: best["hparams"][k] for k in best["searched"]},
            "search_dir": str(search_dir),
        }
        md, ok = table(r)
    save("tuning", md, r if not args.render_only else None, docs=not args.no_docs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
