"""Your own images, end to end: a PNG folder in, a fine-tuned int8 model out (issue #12's targets).

    python -m benchmarks.transfer                 # needs ../shared/data/cifar10 (or --data-dir with CIFAR-10's batches)
    python -m benchmarks.transfer --resume        # keep finished runs under benchmarks/out/transfer

1. Writes CIFAR-10's training images of classes 0-5 (airplane ... dog) as a PNG folder, one subfolder per class,
   and trains `cnn_cifar10` on it with its defaults (the folder loader holds 20% of each class out for test).
2. Writes 200 training images of each of classes 6-9 (frog, horse, ship, truck) as `train/` and all of CIFAR-10's
   test images of those classes as `test/`, then trains on it twice: fine-tuned from run 1 (`--init-from`, the
   head rebuilt for 4 classes) and from scratch, both with the recipe's defaults.
3. Exports the fine-tuned run to int8 and measures it with LiteRT on the same test images.
4. Times the folder's input pipeline alone against the training step alone (benchmarks.pipeline's measure).

Targets: fine-tuned beats scratch by >= 10 points; its int8 file within 1 point of its Keras model; the
pipeline >= 3x the training step. Accuracies are on the JPEG-lossy CIFAR-10 copy (labelled so). Writes
results/transfer.json and .md and the docs text between the `results:transfer` markers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


from benchmarks.common import HERE, ROOT, SHARED_DATA, machine, save

BASE_CLASSES, NEW_CLASSES, PER_NEW_CLASS = range(0, 6), range(6, 10), 200


def write_pngs(folder: Path, images, labels, names, keep) -> None:
    """images[i] as folder/<class name>/<i>.png for every i whose label is in `keep` (skipped if already there)."""
    from PIL import Image

    if (folder / ".complete").is_file():
        return
    for i in keep:
        target = folder / names[labels[i]] / f"{i:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(target)
    (folder / ".complete").write_text("")  # hidden: the loader skips it and lists it


def run(*args) -> None:
    print("$ python -m", " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", *map(str, args)], check=True, cwd=ROOT)


def train(out: Path, name: str, data: Path, *extra) -> dict:
    run_dir = out / "runs" / name
    if not (run_dir / "metrics.json").is_file():
        resume = ["--resume"] if (run_dir / "hparams.json").is_file() else []
        run("zoo.train", "cnn_cifar10", "--data-dir", data, "--run-dir", run_dir, "--precision", "float32",
            *extra, *resume)
    return {"run_dir": str(run_dir), **json.loads((run_dir / "metrics.json").read_text())}


def main() -> int:
    import numpy as np

    from zoo.data.images import CIFAR10

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(SHARED_DATA / "cifar10"), help="CIFAR-10's python batches")
    p.add_argument("--out", default=str(HERE / "out" / "transfer"))
    p.add_argument("--resume", action="store_true", help="keep finished runs and written folders")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    args = p.parse_args()
    out = Path(args.out)
    (x_train, y_train, x_test, y_test), where = CIFAR10.load_arrays(args.data_dir)
    names = CIFAR10.class_names
    base, new = out / "base_photos", out / "new_photos"
    write_pngs(base, x_train, y_train, names, [i for i in range(len(y_train)) if y_train[i] in BASE_CLASSES])
    rng = np.random.default_rng(0)
    few = sorted(int(i) for c in NEW_CLASSES for i in rng.choice(np.flatnonzero(y_train == c), PER_NEW_CLASS, False))
    write_pngs(new / "train", x_train, y_train, names, few)
    write_pngs(new / "test", x_test, y_test, names, [i for i in range(len(y_test)) if y_test[i] in NEW_CLASSES])

    first = train(out, "base", base)
    tuned = train(out, "fine_tuned", new, "--init-from", out / "runs" / "base")
    scratch = train(out, "scratch", new)
    export = Path(tuned["run_dir"]) / "export"
    if not (export / "report.json").is_file():
        run("export", tuned["run_dir"], "--quantize", "float32,int8")
    report = json.loads((export / "report.json").read_text())
    int8 = report["artifacts"]["model_int8.tflite"]

    from benchmarks.pipeline import measure

    speed = measure("cnn_cifar10", 30, str(base))
    gain = tuned["test_accuracy"] - scratch["test_accuracy"]
    checks = [("fine-tuned vs scratch", gain >= 0.10, f"{gain * 100:+.1f} pt (≥ +10)"),
              ("int8 vs Keras", abs(int8["accuracy_change_vs_keras"]) <= 0.01,
               f"{int8['accuracy_change_vs_keras'] * 100:+.2f} pt (within 1)"),
              ("pipeline / training step", speed["ratio"] >= 3.0, f"{speed['ratio']:.1f}x (≥ 3x)")]
    where_machine, details = machine()
    result = {"machine": where_machine, "machine_details": details, "date": time.strftime("%Y-%m-%d"),
              "data": where, "base": first, "fine_tuned": tuned, "scratch": scratch, "int8": int8, "pipeline": speed,
              "checks": [{"target": t, "met": ok, "measured": m} for t, ok, m in checks]}
    save("transfer", table(result), result, docs=not args.no_docs)
    return 0 if all(ok for _, ok, _ in checks) else 1


def table(r: dict) -> str:
    pct = lambda v: f"{v * 100:.2f}%"  # noqa: E731
    lines = [f"Measured {r['date']} on {r['machine']} with `python -m benchmarks.transfer` (float32, `cnn_cifar10` "
             "defaults; accuracies on the JPEG-lossy CIFAR-10 copy):", "",
             "| run | data | test images | test accuracy |", "|---|---|---|---|",
             f"| base | PNG folder, classes 0-5 (20% held out) | {r['base']['test_examples']:,} | "
             f"{pct(r['base']['test_accuracy'])} |",
             f"| fine-tuned from base (head rebuilt 6 -> 4) | 200 PNGs per class of 6-9 | "
             f"{r['fine_tuned']['test_examples']:,} | {pct(r['fine_tuned']['test_accuracy'])} |",
             f"| from scratch | same 800 PNGs | {r['scratch']['test_examples']:,} | "
             f"{pct(r['scratch']['test_accuracy'])} |",
             f"| fine-tuned, int8 TFLite (LiteRT) | same | {r['fine_tuned']['test_examples']:,} | "
             f"{pct(r['int8']['test_accuracy'])} |", "",
             "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {c['target']} | {'✅' if c['met'] else '❌'} | {c['measured']} |" for c in r["checks"]]
    p = r["pipeline"]
    lines += ["", f"Folder pipeline alone {p['pipeline_examples_per_second']:,.0f} images/s against the training "
              f"step alone {p['step_examples_per_second']:,.0f} images/s (`fit` fed by it: "
              f"{p['fit_examples_per_second']:,.0f} images/s)."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
