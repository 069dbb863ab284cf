"""Training throughput of the cnn_mnist network by precision policy, with and without BatchNorm.

    python -m benchmarks.precision [--steps 120]

Why `cnn_mnist` has no BatchNorm and why `--precision auto` picks mixed_bfloat16 on
CPUs with AVX512_BF16/AMX: this measures examples/second of `model.fit` training
steps (after a warm-up) on real MNIST batches of 128, for each combination.
Writes benchmarks/results/precision.json and precision.md and the docs table
between the `results:precision` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.common import ROOT, machine, save

CASES = [("float32", False), ("mixed_bfloat16", False), ("float32", True), ("mixed_bfloat16", True)]


def measure(policy: str, batch_norm: bool, steps: int) -> float:
    """Examples/second in a fresh process (the policy is global)."""

    import zoo
    from zoo import runtime
    from zoo.hparams import resolve
    from zoo.prepare import prepare

    runtime.set_precision(policy)
    recipe = zoo.get("cnn_mnist")
    hp = resolve(recipe.name, recipe.hparams, overrides={"batch_norm": batch_norm})
    ready = prepare(recipe, hp, seed=0)
    data, model = ready.data, ready.model
    train = data.train.repeat()
    model.fit(train, steps_per_epoch=10, epochs=1, verbose=0, shuffle=False)  # warm-up and tracing
    start = time.perf_counter()
    model.fit(train, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * hp["batch_size"] / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--one", nargs=2, metavar=("POLICY", "BATCH_NORM"), help=argparse.SUPPRESS)
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1] == "1", args.steps)))
        return 0
    rows = []
    for policy, bn in CASES:
        out = subprocess.run([sys.executable, "-m", "benchmarks.precision", "--one", policy, "1" if bn else "0",
                              "--steps", str(args.steps)], check=True, capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        rows.append({"precision": policy, "batch_norm": bn, "examples_per_second": float(out.stdout.split()[-1])})
        print(rows[-1], flush=True)
    where, details = machine()
    base = rows[0]["examples_per_second"]
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {where} with `python -m benchmarks.precision`: "
             f"`cnn_mnist` network, batch 128, {args.steps} training steps after warm-up.", "",
             "| precision | BatchNorm | examples/s | vs float32 without BatchNorm |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['precision']} | {'yes' if r['batch_norm'] else 'no'} | {r['examples_per_second']:,.0f} | "
                     f"{r['examples_per_second'] / base:.2f}x |")
    save("precision", "\n".join(lines), {"machine": where, "machine_details": details, "rows": rows},
         docs=not args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
