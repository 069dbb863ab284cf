"""Train a registered recipe and write a self-describing run folder.

    python -m zoo.train --list
    python -m zoo.train cnn_mnist
    python -m zoo.train cnn_mnist --epochs 3 --set dropout=0.2 --set learning_rate=1e-3
    python -m zoo.train cnn_fashion_mnist --config best_hparams.json --run-dir runs/fashion-best
    python -m zoo.train cnn_mnist --resume                      # continue the newest unfinished run
    python -m zoo.train cnn_mnist --resume --run-dir runs/cnn_mnist/20261122-213000
    python -m zoo.train cnn_mnist --strategy multi_worker --run-dir /shared/runs/mw   # on each machine, with
        # TF_CONFIG='{"cluster": {"worker": ["a:2222", "b:2222"]}, "task": {"type": "worker", "index": 0}}'
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from zoo.cli import ArgumentParser, run_cli
from zoo.errors import UsageError
from zoo.distribute import STRATEGIES
from zoo.runtime import PRECISIONS


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    hparams: dict[str, Any]


def train(
    recipe_name: str,
    *,
    overrides: Optional[Mapping[str, Any]] = None,
    config: Optional[Mapping[str, Any]] = None,
    precision: Optional[str] = None,
    data_dir: Optional[str] = None,
    run_dir: Optional[str] = None,
    runs_root: str = "runs",
    seed: Optional[int] = None,
    deterministic: Optional[bool] = None,
    resume: bool = False,
    init_from: Optional[str] = None,
    verbose: Optional[int] = None,
    log: Callable[[str], None] = print,
    command: Optional[str] = None,
    callbacks: Sequence[Any] = (),
    strategy: Optional[str] = None,
) -> TrainResult:
    """Train `recipe_name` end to end; the library form of `python -m zoo.train`.

    `precision` (default "auto"), `seed` (default 0) and `deterministic` (default False) left as None take their
    defaults in a new run and the run's saved values with `resume`; given with `resume`, they (like `overrides` and
    `config`) must equal the saved values, so the command that started a run continues it with `--resume` added.
    `callbacks` are Keras callbacks called after the run's own (benchmarks use one to score every epoch).
    `strategy` (default "auto") is one of `zoo.distribute.STRATEGIES`; a resumed run may use another.
    """
    from zoo import distribute, registry, training

    recipe = registry.get(recipe_name)
    if strategy == "multi_worker" and not run_dir:
        raise UsageError("--strategy multi_worker needs --run-dir DIR, the same on every worker and on storage they "
                         "all see: the chief writes the run there and a restarted worker resumes from it")
    # the strategy itself is made after the checks, which need only to know whether this process is the chief
    chief = strategy != "multi_worker" or distribute.is_chief(distribute.tf_config())
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {seed}")
    if resume and init_from:
        raise UsageError("--init-from starts a new run; a resumed run continues from its own checkpoint")
    setup = training.settle(recipe, chief, overrides=overrides, config=config, precision=precision,
                            run_dir=run_dir, runs_root=runs_root, seed=seed, deterministic=deterministic,
                            resume=resume, log=log)
    dist = distribute.make(strategy or "auto", setup.task.replicable, log=log)  # before TensorFlow runs anything
    ready, initialised = training.prepare_run(setup, dist, data_dir=data_dir, init_from=init_from)
    folder = training.claim_folder(setup, dist, ready, run_dir=run_dir, runs_root=runs_root, resume=resume,
                                   initialised=initialised, command=command)
    training.describe_start(setup, dist, ready, folder, resume, initialised, log)
    checkpoint, guard = training.fit(setup, dist, ready, folder, run_dir=run_dir, callbacks=callbacks,
                                     verbose=verbose, log=log)
    if not dist.chief:
        shutil.rmtree(folder, ignore_errors=True)
        log(f"worker finished training; the chief evaluates the run and writes {run_dir}")
        with distribute.worker_loss_explained(dist, run_dir):
            dist.barrier()  # leave together with the chief
        return TrainResult(Path(run_dir), {}, setup.hp)
    metrics = training.finish(setup, ready, folder, checkpoint.state, guard, log)
    dist.barrier()  # the other workers wait for this one to finish before they leave
    return TrainResult(folder, metrics, setup.hp)


def _describe_recipes() -> str:
    from zoo import registry

    names = registry.list_recipes()
    width = max(map(len, names))
    return "\n".join(f"{n:<{width}}  {registry.get(n).task:<15} {registry.get(n).description}" for n in names)


def _describe_hparams(name, config, overrides) -> str:
    from zoo import registry
    from zoo.hparams import resolve

    recipe = registry.get(name)
    hp = resolve(recipe.name, recipe.hparams, config, overrides)
    width = max(map(len, hp))
    lines = [f"{recipe.name}: {recipe.description}", "", f"{'hyperparameter':<{width}}  value (default)  search space"]
    for key, value in hp.items():
        default = "" if value == recipe.hparams[key] else f"  (default {recipe.hparams[key]!r})"
        space = recipe.search_space.get(key)
        searched = ""
        if space:
            searched = "  " + ", ".join(f"{k}={v}" for k, v in space.items())
        lines.append(f"{key:<{width}}  {value!r}{default}{searched}")
    return "\n".join(lines)


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m zoo.train",
        description="Train a registered recipe (model + data + hyperparameters) and write a run folder "
        "with the best model, history, test metrics and plots.",
        epilog=__doc__.split("\n\n", 1)[1] + "\nHyperparameters: defaults < --config < --set/--epochs/--batch-size. "
        "`python -m zoo.train RECIPE --show` lists a recipe's keys, values and search space.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    p.add_argument("--list", action="store_true", help="list the registered recipes and exit")
    p.add_argument("--show", action="store_true", help="print the recipe's final hyperparameters (after --config "
                   "and --set) and its search space, then exit without training")
    p.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    p.add_argument("--batch-size", type=int, help="shortcut for --set batch_size=N")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hyperparameter (repeatable); type-checked against the recipe's default")
    p.add_argument("--config", metavar="FILE", help="JSON or YAML hyperparameters (a run's hparams.json or a "
                   "search's best_hparams.json work as they are)")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="auto: mixed_float16 on a GPU with compute capability 7.0+, mixed_bfloat16 on a CPU "
                   "with native bf16 (AVX512_BF16/AMX), else float32 (default: auto; with --resume, the run's)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the dataset's standard files (else $ZOO_DATA_DIR, "
                   "the bundled copy, the Keras cache, system folders, then a tfds download)")
    p.add_argument("--run-dir", metavar="DIR", help="run folder to create (default runs/RECIPE/TIMESTAMP) or, with "
                   "--resume, to continue")
    p.add_argument("--runs-root", default="runs", metavar="DIR", help="parent of default run folders (default runs)")
    p.add_argument("--seed", type=int, help="random seed for weights, shuffling and augmentation (default 0; "
                   "with --resume, the run's)")
    p.add_argument("--deterministic", action="store_true", default=None,
                   help="enable TensorFlow op determinism: same seed, bit-identical weights on CPU (slower)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run (--run-dir, or the newest "
                   "unfinished run of the recipe) from its last finished epoch; the command that started the run "
                   "works with --resume added (options that change the run's settings are refused)")
    p.add_argument("--init-from", metavar="RUN_DIR", help="start from a finished run's weights (same recipe): "
                   "every matching weight is copied, the classifier head rebuilt when the number of classes differs; "
                   "add --set freeze_backbone=true to train the head only")
    p.add_argument("--strategy", choices=STRATEGIES, help="auto (default): every GPU of this machine when it has "
                   "several, else one device; mirrored: one replica per local GPU; multi_worker: this process is one "
                   "worker of the cluster in $TF_CONFIG (start each with the same command and --run-dir). "
                   "batch_size is the global batch, split across replicas")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def body():
        if args.list:
            print(_describe_recipes())
            return
        if not args.recipe:
            from zoo import registry

            raise UsageError(f"name a recipe to train: one of {', '.join(registry.list_recipes())} (or --list)")
        from zoo.hparams import load_config, parse_overrides

        overrides = parse_overrides(args.set)
        if args.epochs is not None:
            overrides["epochs"] = args.epochs
        if args.batch_size is not None:
            overrides["batch_size"] = args.batch_size
        config = load_config(args.config) if args.config else None
        if args.show:
            print(_describe_hparams(args.recipe, config, overrides))
            return
        train(
            args.recipe,
            overrides=overrides,
            config=config,
            precision=args.precision,
            data_dir=args.data_dir,
            run_dir=args.run_dir,
            runs_root=args.runs_root,
            seed=args.seed,
            deterministic=args.deterministic,
            resume=args.resume,
            init_from=args.init_from,
            strategy=args.strategy,
            command=" ".join(["python -m zoo.train", *(argv if argv is not None else sys.argv[1:])]),
        )

    try:
        return run_cli(body, args.debug)
    except KeyboardInterrupt:
        given = list(argv if argv is not None else sys.argv[1:])
        print("\ninterrupted; continue with: " + shlex.join(["python", "-m", "zoo.train", *given,
                                                             *([] if args.resume else ["--resume"])]), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
