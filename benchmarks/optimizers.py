"""SGD with momentum, RMSprop, Adam and AdamW on `cnn_cifar10`, same epoch budget, one figure.

    python -m benchmarks.optimizers                 # 6 epochs each on ../shared/data/cifar10
    python -m benchmarks.optimizers --epochs 15 --resume    # the recipe's own budget
    python -m benchmarks.optimizers --precision float32

Each optimizer trains `cnn_cifar10` with the recipe's other defaults and the
learning rate usual for it (SGD 0.05 with Nesterov momentum 0.9, RMSprop 1e-3,
Adam 2e-3, AdamW 2e-3 with weight decay 0.05), as `python -m zoo.train` in its own
process. Writes results/optimizers.png (validation accuracy per epoch, one line
each), optimizers.json and .md, and the docs table between the
`results:optimizers` markers. Accuracies are on the JPEG-lossy CIFAR-10 copy.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path


from benchmarks.common import HERE, ROOT, SHARED_DATA, machine, save

SETTINGS = {
    "SGD + Nesterov momentum": {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
    "RMSprop": {"optimizer": "rmsprop", "learning_rate": 1e-3},
    "Adam": {"optimizer": "adam", "learning_rate": 2e-3},
    "AdamW": {"optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 0.05},
}


def run(label: str, values: dict, epochs: int, out: Path, data_dir: str, resume: bool, precision: str) -> dict:
    run_dir = out / "runs" / f"optimizers-{values['optimizer']}-{epochs}ep-{precision}"
    cmd = [sys.executable, "-m", "zoo.train", "cnn_cifar10", "--epochs", str(epochs), "--run-dir", str(run_dir),
           "--data-dir", data_dir, "--precision", precision] + [a for k, v in values.items()
                                                                  for a in ("--set", f"{k}={v}")]
    if not (run_dir / "metrics.json").is_file():
        if resume and run_dir.exists():
            cmd.append("--resume")
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    with open(run_dir / "history.csv", encoding="utf-8") as f:
        history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"label": label, "settings": values, "run_dir": str(run_dir), "history": history,
            "test_accuracy": metrics["test_accuracy"], "train_seconds": metrics["train_seconds"],
            "precision": metrics["precision"]}


def plot(rows: list[dict], path: Path, where: str) -> None:
    from zoo.reports import pyplot, save_figure

    plt = pyplot()
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(11, 4))
    for r in rows:
        epochs = [h["epoch"] for h in r["history"]]
        acc.plot(epochs, [h["val_accuracy"] for h in r["history"]], marker="o", ms=3, label=r["label"])
        loss.plot(epochs, [h["val_loss"] for h in r["history"]], marker="o", ms=3, label=r["label"])
    for ax, name in ((acc, "validation accuracy"), (loss, "validation loss")):
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"cnn_cifar10, same epoch budget (JPEG-lossy CIFAR-10 copy; {where})", fontsize=9, y=1.02)
    save_figure(fig, path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--data-dir", default=str(SHARED_DATA / "cifar10"))
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--resume", action="store_true", help="continue unfinished runs, reuse finished ones")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"],
                   help="passed to zoo.train; the table names the precision each run used")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    args = p.parse_args()
    rows = [run(label, values, args.epochs, Path(args.out), args.data_dir, args.resume, args.precision)
            for label, values in SETTINGS.items()]
    where, details = machine()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    plot(rows, results / "optimizers.png", where)
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {where} with `python -m benchmarks.optimizers`: "
             f"`cnn_cifar10`, {args.epochs} epochs each, precision {rows[0]['precision']}, JPEG-lossy CIFAR-10 copy.",
             "",
             "![validation accuracy per epoch for each optimizer](benchmarks/results/optimizers.png)", "",
             "| optimizer | settings | best val accuracy | test accuracy | train time (s) |", "|---|---|---|---|---|"]
    for r in rows:
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        best = max(h["val_accuracy"] for h in r["history"])
        lines.append(f"| {r['label']} | {settings} | {best:.2%} | {r['test_accuracy']:.2%} | "
                     f"{r['train_seconds']:.0f} |")
    save("optimizers", "\n".join(lines), {"machine": where, "machine_details": details, "epochs": args.epochs,
                                          "rows": rows}, docs=not args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
