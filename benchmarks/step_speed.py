"""The training step alone, per variant: how default choices were made for speed (issue #13, item 1).

    python -m benchmarks.step_speed                                   # cnn_mnist: defaults, the old defaults, keras-io
    python -m benchmarks.step_speed cnn_fashion_mnist --variant "f16=filters=16" --variant "valid=padding=valid"
    python -m benchmarks.step_speed cnn_mnist --precisions float32 mixed_bfloat16 --jit both
    python -m benchmarks.step_speed --image-recipes --precisions float32 mixed_bfloat16 --steps 20

Each variant is the recipe with some `--set`-style overrides. For every variant, precision
and XLA setting (`jit_compile`), the model is built and compiled as training builds it,
one real training batch is put in memory, and `--steps` optimizer steps are timed after a
warm-up (the input pipeline and callbacks are not in it: benchmarks.pipeline measures
those). The keras-io "Simple MNIST convnet" (benchmarks.keras_io_baseline) is timed the
same way beside cnn_mnist. `--image-recipes` measures the defaults of every recipe whose
inputs are images, for issue #13's "XLA where it helps, measured". Results are merged into
benchmarks/results/step_speed.json by machine (a run replaces the rows it measured again: same
recipe, variant, precision and XLA setting); step_speed.md and the docs text between the
`results:step_speed` markers are rebuilt from it, one table per machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchmarks.common import ROOT, HERE, merge_by_machine, save, staged_data_dir

# cnn_mnist before issue #13 (32-64 same-padded convolutions, dropout 0.3): the variant its new defaults replaced
OLD_CNN_MNIST = "before=filters=32,padding=same,dropout=0.3"
KERAS_IO = "keras_io"  # the keras-io "Simple MNIST convnet", as cnn_mnist's reference


def parse_variant(text: str) -> tuple[str, dict]:
    """`label=key=value,key=value` -> (label, overrides); `defaults` is the recipe as registered."""
    from zoo.hparams import parse_overrides

    label, _, sets = text.partition("=")
    return label, parse_overrides([s for s in sets.split(",") if s]) if sets else {}


def time_steps(name: str, overrides: dict, precision: str, jit: bool, steps: int) -> float:
    """Training examples per second of `steps` optimizer steps on one in-memory batch."""
    import numpy as np

    import zoo
    from zoo import runtime
    from zoo.hparams import resolve
    from zoo.prepare import prepare

    reference = name == KERAS_IO
    name = "cnn_mnist" if reference else name  # the reference trains on cnn_mnist's batches (batch 128, MNIST)
    recipe = zoo.get(name)
    hp = resolve(name, recipe.hparams, overrides=overrides)
    runtime.set_precision(precision)
    if reference:
        runtime.seed_everything(0)
        data = recipe.data(hp, data_dir=staged_data_dir(name), seed=0)
    else:
        ready = prepare(recipe, hp, seed=0, data_dir=staged_data_dir(name))
        data, model = ready.data, ready.model
        model.jit_compile = jit
    x, y = next(iter(data.train))
    if reference:
        from benchmarks.keras_io_baseline import build_model

        model = build_model()  # compiled as published
        model.jit_compile = jit
        x, y = np.asarray(x, "float32") / 255.0, np.eye(10, dtype="float32")[np.asarray(y)]
    for _ in range(5):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * len(x) / (time.perf_counter() - start)


def child(args) -> int:
    """One measurement in this (fresh) process: prints its JSON line."""
    name, label, sets, precision, jit, steps = args
    overrides = parse_variant(f"{label}={sets}")[1]
    rate = time_steps(name, overrides, precision, jit == "on", int(steps))
    print("RESULT " + json.dumps({"examples_per_second": rate}), flush=True)
    return 0


def measure(name, label, sets, precision, jit, steps) -> float:
    """Each measurement in a fresh process: precision policies and XLA caches do not leak between variants."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.step_speed", "--child", name, label, sets, precision, jit,
                          str(steps)], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        raise SystemExit(f"{name} {label} {precision} jit={jit} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][7:])["examples_per_second"]


def table(saved: dict) -> str:
    """One table per machine; per recipe and precision, the XLA setting that was faster is marked."""
    blocks = []
    for where, entry in saved["machines"].items():
        rows = entry["rows"]
        best, count = {}, {}
        for r in rows:
            key = (r["recipe"], r["variant"], r["precision"])
            best[key] = max(best.get(key, 0.0), r["examples_per_second"])
            count[key] = count.get(key, 0) + 1
        lines = [f"Measured {', '.join(sorted(set(entry['dates'])))} on **{where}** with `python -m "
                 "benchmarks.step_speed`: training examples per second of one in-memory batch's optimizer steps "
                 "(no input pipeline), each in a fresh process; ◀ marks the faster XLA setting.", "",
                 "| recipe | variant | overrides | precision | XLA | examples/s |", "|---|---|---|---|---|---|"]
        for r in rows:
            key = (r["recipe"], r["variant"], r["precision"])
            mark = " ◀" if count[key] > 1 and r["examples_per_second"] == best[key] else ""
            lines.append(f"| `{r['recipe']}` | {r['variant']} | {r['overrides'] or '(defaults)'} | {r['precision']} | "
                         f"{'on' if r['jit'] == 'on' else 'off'} | {r['examples_per_second']:,.0f}{mark} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def image_recipes() -> list[str]:
    import zoo
    from zoo import registry

    return [n for n in registry.list_recipes() if "vocab_size" not in zoo.get(n).hparams]  # text recipes have one


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", default=["cnn_mnist"])
    p.add_argument("--image-recipes", action="store_true", help="every recipe with image inputs, its defaults")
    p.add_argument("--variant", action="append", metavar="LABEL=KEY=VALUE,...",
                   help="a variant of the recipe (repeatable); default: its defaults, and for cnn_mnist "
                        "its pre-#13 defaults")
    p.add_argument("--precisions", nargs="+", default=["float32"])
    p.add_argument("--jit", choices=("off", "on", "both"), default="both", help="XLA jit_compile (default both)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    args = p.parse_args()
    jits = ["off", "on"] if args.jit == "both" else [args.jit]
    names = image_recipes() if args.image_recipes else args.recipes
    targets = []
    for name in names:
        variants = args.variant or (["defaults="] + ([OLD_CNN_MNIST] if name == "cnn_mnist" and not
                                                      args.image_recipes else []))
        targets += [(name, v) for v in variants]
        if name == "cnn_mnist":
            targets.append((KERAS_IO, "keras-io="))
    rows = []

    def keep_measured():
        saved = merge_by_machine(HERE / "results" / "step_speed.json", rows,
                                 key=lambda r: (r["recipe"], r["variant"], r["precision"], r["jit"]))
        save("step_speed", table(saved), saved, docs=not args.no_docs)

    for name, variant in targets:
        label, _, sets = variant.partition("=")
        for precision in args.precisions:
            for jit in jits:
                try:
                    rate = measure(name, label, sets, precision, jit, args.steps)
                except SystemExit:  # one measurement failed (missing data, say): keep what was measured before it
                    if rows:
                        keep_measured()
                    raise
                rows.append({"recipe": name, "variant": label, "overrides": sets, "precision": precision, "jit": jit,
                             "examples_per_second": rate})
                print(json.dumps(rows[-1]), flush=True)
    keep_measured()
    return 0


if __name__ == "__main__":
    sys.exit(main())
