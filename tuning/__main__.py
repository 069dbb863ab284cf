"""Search a recipe's hyperparameters with keras-tuner; the best values feed straight back into training.

    python -m tuning cnn_mnist --tuner bayesian --max-trials 10 --epochs 2
    python -m tuning cnn_mnist --resume                     # continue an interrupted search
    python -m tuning cnn_mnist --max-trials 10 --train-best  # then train with the winners
    python -m zoo.train cnn_mnist --config tuner/cnn_mnist/best_hparams.json

The recipe's search space (plain data in the recipe) is searched; `--set key=value`
fixes a hyperparameter (it is then not searched). Each trial trains for `--epochs`
epochs (default: the recipe's), and best_hparams.json records that number, so
retraining with it reproduces the best trial; pass `--epochs` to zoo.train to train longer.

Distributed search uses keras-tuner's own mode: start one chief and any number of
workers with the same command line and folder, and these environment variables:
    KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 KERASTUNER_TUNER_ID=chief   (the chief)
    KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 KERASTUNER_TUNER_ID=tuner0  (each worker: tuner0, tuner1, ...)
The chief hands out trials and writes the summary files when all are done.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from zoo.cli import ArgumentParser

def run_search(recipe_name, *, tuner="bayesian", max_trials=10, epochs=None, executions=1,
               objective=None, directory=None, resume=False, overrides=None, data_dir=None, seed=0,
               precision="auto", train_best=False, isolate=True, verbose=2, log=print) -> dict:
    """Run (or continue) a search; the library form of `python -m tuning`."""
    from tuning import search
    from zoo import registry, runs, runtime
    from zoo import hparams as hparams_lib
    from zoo.errors import UsageError
    from zoo.tasks import get_task

    recipe = registry.get(recipe_name)
    if tuner not in search.TUNERS:
        raise UsageError(f"unknown tuner {tuner!r}; choose one of {', '.join(search.TUNERS)}")
    if max_trials < 1:
        raise UsageError(f"--max-trials must be at least 1, got {max_trials}")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {seed}")
    if executions < 1:
        raise UsageError(f"--executions-per-trial must be at least 1, got {executions}")
    objectives = get_task(recipe.task).objectives  # metric -> "min" | "max"
    objective = objective or get_task(recipe.task).monitor
    if objective not in objectives:
        raise UsageError(f"--objective for a {recipe.task} recipe must be one of {', '.join(objectives)}, "
                         f"got {objective!r}")
    fixed = dict(overrides or {})
    if epochs is not None:
        fixed["epochs"] = epochs
    fixed = {k: v for k, v in hparams_lib.resolve(recipe.name, recipe.hparams, overrides=fixed).items()
             if k in fixed}  # type-checks --set; keeps only what the user fixed
    epochs = fixed.get("epochs", recipe.hparams["epochs"])
    if not search.RecipeHyperModel(recipe, fixed).space:
        raise UsageError(f"--set fixed every searched key of {recipe.name}; nothing is left to search")

    folder = Path(directory) if directory else Path("tuner") / recipe.name
    meta = {"recipe": recipe.name, "tuner": tuner, "objective": objective, "fixed": fixed, "epochs": epochs,
            "max_trials": max_trials, "executions_per_trial": executions, "seed": seed}
    worker = search.is_worker()
    if not worker:
        search.check_folder(folder, meta, resume)

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing warnings between trials are expected, not actionable
    precision = runtime.resolve_precision(precision)
    runtime.set_precision(precision)
    runtime.seed_everything(seed)
    hypermodel = search.RecipeHyperModel(recipe, fixed, data_dir=data_dir, seed=seed, verbose=verbose,
                                         reseed=executions == 1)
    # the data once before any trial: a missing or broken --data-dir is one error now, not a failure per trial
    recipe.data(hparams_lib.resolve(recipe.name, recipe.hparams, fixed), data_dir=data_dir, seed=seed)
    tuner_obj = search.make_tuner(tuner, hypermodel, objective=objective, direction=objectives[objective],
                                  max_trials=max_trials, epochs=epochs,
                                  executions=executions, directory=folder.parent, project=folder.name,
                                  resume=resume or worker, seed=seed, isolate=isolate)
    if not worker:
        runs.write_json(folder / search.SEARCH, {**meta, "precision": precision})
    log(f"searching {recipe.name} ({tuner}, {max_trials} trials, {epochs} epochs each) in {folder}"
        + (f" as worker {os.environ['KERASTUNER_TUNER_ID']}" if worker else ""))
    log(f"search space: {', '.join(hypermodel.space)}" + (f"; fixed: {fixed}" if fixed else ""))
    tuner_obj.search(verbose=verbose)
    if worker:
        return {"worker": os.environ["KERASTUNER_TUNER_ID"]}

    best = search.write_outputs(tuner_obj, hypermodel, folder, meta)
    if best is None:
        raise UsageError(f"no trial of the search in {folder} produced a score")
    log(f"best {objective} {best['score']:.4f} (trial {best['trial']}); wrote {folder / 'best_hparams.json'}, "
        f"{folder / 'summary.md'}")
    if train_best:
        from zoo.train import train

        result = train(recipe.name, config=best["hparams"], data_dir=data_dir, seed=seed, precision=precision,
                       verbose=verbose, log=log,
                       command=f"python -m zoo.train {recipe.name} --config {folder / 'best_hparams.json'}")
        best = {**best, "run_dir": str(result.run_dir), "run_metrics": result.metrics}
    return best


def main(argv=None) -> int:
    from zoo.runtime import PRECISIONS

    p = ArgumentParser(prog="python -m tuning", description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", help="recipe name (python -m zoo.train --list)")
    p.add_argument("--tuner", default="bayesian", help="random, bayesian or hyperband (default bayesian)")
    p.add_argument("--max-trials", type=int, default=10, help="number of trials (default 10; hyperband decides "
                   "its own count from --epochs)")
    p.add_argument("--epochs", type=int, help="epochs per trial (hyperband: the most any trial gets)")
    p.add_argument("--executions-per-trial", type=int, default=1, help="models trained per trial, averaged")
    from zoo.tasks import TASKS

    p.add_argument("--objective", help="the metric to optimise (default: the one that picks a run's best epoch); by "
                   "task kind, default first: " + "; ".join(
                       f"{name}: {', '.join(sorted(task.objectives, key=lambda k: k != task.monitor))}"
                       for name, task in TASKS.items()))
    p.add_argument("--dir", metavar="DIR", help="search folder (default tuner/RECIPE)")
    p.add_argument("--resume", action="store_true", help="continue the search in --dir; finished trials are kept")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a hyperparameter for every trial (repeatable); it is then not searched")
    p.add_argument("--train-best", action="store_true", help="train a normal run with the best values afterwards")
    p.add_argument("--in-process", action="store_true", help="train random/bayesian trials in this process instead "
                   "of one child process each (faster start, but TensorFlow keeps ~10 MB per trial)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset's files are (as for zoo.train)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    from zoo.cli import run_cli
    from zoo.hparams import parse_overrides

    try:
        return run_cli(lambda: run_search(
            args.recipe, tuner=args.tuner, max_trials=args.max_trials, epochs=args.epochs,
            executions=args.executions_per_trial, objective=args.objective, directory=args.dir, resume=args.resume,
            overrides=parse_overrides(args.set), data_dir=args.data_dir, seed=args.seed, precision=args.precision,
            train_best=args.train_best, isolate=not args.in_process, verbose=1 if sys.stdout.isatty() else 2),
            args.debug)
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: python -m tuning {args.recipe} --resume"
              + (f" --dir {args.dir}" if args.dir else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
