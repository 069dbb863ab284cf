"""Re-evaluate a finished (or interrupted) run on its recipe's test split.

    python -m zoo.evaluate runs/cnn_mnist/20261122-213000
    python -m zoo.evaluate runs/cnn_mnist/20261122-213000 --data-dir ~/data/mnist --write

Loads the run's `model.keras` and `hparams.json`, rebuilds the recipe's test
pipeline and prints the same classification report as training. With
`--write`, the report files in the run folder are refreshed (metrics.json is
updated with the new test numbers; training numbers are kept).
"""

from __future__ import annotations

import argparse
import sys

from zoo.cli import ArgumentParser, run_cli


def evaluate(run_dir, data_dir=None, write: bool = False, log=print) -> dict:
    from zoo import runs
    from zoo.run import Run

    run = Run(run_dir)
    folder, recipe, hp, task = run.folder, run.recipe, run.hparams, run.task
    model = run.model()
    data = run.data(data_dir)
    result = task.evaluate(model, data, hp, folder)
    if write:
        task.write_reports(folder, result, data.info, f"{recipe.name} ({folder.name})")
        metrics = runs.read_json(folder / runs.METRICS) if (folder / runs.METRICS).is_file() else {}
        runs.write_json(folder / runs.METRICS, {**metrics, **result["metrics"]})
    log(f"{recipe.name} run {folder} on {data.info.name} test ({data.info.source})")
    log(task.report_text(result, data.info))
    log(task.summary(result["metrics"]))
    return result["metrics"]


def main(argv=None) -> int:
    p = ArgumentParser(
        prog="python -m zoo.evaluate",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", help="a run folder written by python -m zoo.train")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset's files are (as for zoo.train)")
    p.add_argument("--write", action="store_true", help="refresh the report files and metrics.json in the run folder")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    return run_cli(lambda: evaluate(args.run_dir, data_dir=args.data_dir, write=args.write), args.debug)


if __name__ == "__main__":
    sys.exit(main())
