"""Does averaging three `cnn_cifar10` runs (seeds 0, 1, 2) beat the best of them by at least 1 point?

    python -m benchmarks.ensemble            # trains the missing seeds (resumable), then ensembles them

The member runs are the ones `python -m benchmarks.train cnn_cifar10 --resume --seeds 0 1 2` makes
(`out/runs/cnn_cifar10-seedS`), so the two benchmarks share them. Accuracies are on the JPEG-lossy
CIFAR-10 copy. Writes results/ensemble.json and .md and the docs table between the
`results:ensemble` markers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


from benchmarks.common import HERE, ROOT, SHARED_DATA, machine, run_recipe, save

TARGET_GAIN = 0.01


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="cnn_cifar10")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--data-dir", default=str(SHARED_DATA / "cifar10"))
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    args = p.parse_args()
    out = Path(args.out)
    members = [run_recipe(args.recipe, seed, out, args.data_dir, resume=True) for seed in args.seeds]
    folder = out / "ensembles" / f"{args.recipe}-seeds{''.join(map(str, args.seeds))}"
    if folder.exists():
        shutil.rmtree(folder)  # cheap to rebuild; the members are what took time
    cmd = [sys.executable, "-m", "zoo.ensemble", *[m["run_dir"] for m in members], "--out", str(folder),
           "--data-dir", args.data_dir]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    metrics = json.loads((folder / "metrics.json").read_text())
    where, details = machine()
    gain = metrics["gain_over_best_member"]
    ok = gain >= TARGET_GAIN
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {where} with `python -m benchmarks.ensemble`: "
             f"`{args.recipe}` with its defaults, seeds {', '.join(map(str, args.seeds))}; test accuracy on the "
             "JPEG-lossy CIFAR-10 copy.", "", "| model | test accuracy |", "|---|---|"]
    for seed, m in zip(args.seeds, metrics["members"]):
        lines.append(f"| `{args.recipe}` seed {seed} | {m['test_accuracy']:.2%} |")
    lines += [f"| ensemble (mean probability) | {metrics['test_accuracy']:.2%} |", "",
              f"Gain over the best member: {gain * 100:+.2f} pt (target ≥ +{TARGET_GAIN * 100:.0f} pt "
              f"{'✅' if ok else '❌'})."]
    save("ensemble", "\n".join(lines), {"machine": where, "machine_details": details,
                                        "date": time.strftime("%Y-%m-%d"), "folder": str(folder), "metrics": metrics},
         docs=not args.no_docs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
