"""Is the input pipeline what limits training? The pipeline alone against the training step alone.

    python -m benchmarks.pipeline                          # every image classification recipe
    python -m benchmarks.pipeline cnn_cifar10 resnet20_cifar10 --steps 40

For each recipe, with its default hyperparameters and real data (CIFAR-10 from
../shared/data/cifar10 where that exists):
  pipeline   examples/s of iterating the training pipeline (decode, shuffle, batch,
             cast, augment, prefetch) with no model;
  step       examples/s of the training step alone, on one batch already in memory;
  fit        examples/s of `model.fit` fed by the pipeline (what training gets).
The pipeline must be at least 3x faster than the step. Rows merge into results/pipeline.json
by machine; .md and the docs table between the `results:pipeline` markers are rebuilt from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


from benchmarks.common import HERE, SHARED_DATA, merge_by_machine, save

TARGET_RATIO = 3.0


def measure(name: str, steps: int, data_dir: str | None) -> dict:
    import zoo
    from zoo import runtime
    from zoo.hparams import resolve
    from zoo.prepare import prepare

    recipe = zoo.get(name)
    if data_dir is None and recipe.data.__name__ == "cifar10" and (SHARED_DATA / "cifar10").is_dir():
        data_dir = str(SHARED_DATA / "cifar10")
    hp = resolve(name, recipe.hparams)
    precision = runtime.resolve_precision("auto")
    runtime.set_precision(precision)
    ready = prepare(recipe, hp, seed=0, data_dir=data_dir)  # the model is built before the pipeline is timed
    data, model = ready.data, ready.model
    bs = hp["batch_size"]

    def pipeline_rate() -> float:
        it = iter(data.train.repeat())
        for _ in range(5):
            next(it)
        start = time.perf_counter()
        for _ in range(steps * 4):
            next(it)
        return steps * 4 * bs / (time.perf_counter() - start)

    first = pipeline_rate()  # the first pass also fills the cache; measured again below
    x, y = next(iter(data.train))
    for _ in range(3):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    step = steps * bs / (time.perf_counter() - start)
    model.fit(data.train.repeat(), steps_per_epoch=3, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(data.train.repeat(), steps_per_epoch=steps, epochs=1, verbose=0)
    fit = steps * bs / (time.perf_counter() - start)
    pipeline = max(first, pipeline_rate())
    return {"recipe": name, "batch_size": bs, "precision": precision, "pipeline_examples_per_second": pipeline,
            "step_examples_per_second": step, "fit_examples_per_second": fit, "ratio": pipeline / step,
            "data": data.info.source}


def table(saved: dict) -> str:
    """One table per machine."""
    blocks = []
    for where, entry in saved["machines"].items():
        lines = [f"Measured {', '.join(entry['dates'])} on **{where}** with `python -m benchmarks.pipeline`: default "
                 "hyperparameters, real data, augmentation on, precision `auto`.", "",
                 "| recipe | batch | precision | pipeline alone (ex/s) | training step alone (ex/s) | fit (ex/s) | "
                 f"pipeline / step (≥ {TARGET_RATIO:g}x) |", "|---|---|---|---|---|---|---|"]
        for r in sorted(entry["rows"], key=lambda r: r["recipe"]):
            ok = "✅" if r["ratio"] >= TARGET_RATIO else "❌"
            lines.append(f"| `{r['recipe']}` | {r['batch_size']} | {r['precision']} | "
                         f"{r['pipeline_examples_per_second']:,.0f} | {r['step_examples_per_second']:,.0f} | "
                         f"{r['fit_examples_per_second']:,.0f} | {r['ratio']:.1f}x {ok} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main() -> int:
    import zoo

    images = [n for n in zoo.list_recipes() if zoo.get(n).data.__module__ == "zoo.data.images"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", default=images)
    p.add_argument("--steps", type=int, default=30, help="training steps timed per recipe (default 30)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    args = p.parse_args()
    rows = []
    for name in args.recipes:
        rows.append(measure(name, args.steps, args.data_dir))
        print(json.dumps(rows[-1]), flush=True)
    saved = merge_by_machine(HERE / "results" / "pipeline.json", rows, key=lambda r: r["recipe"])
    save("pipeline", table(saved), saved, docs=not args.no_docs)
    return 0 if all(r["ratio"] >= TARGET_RATIO for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
