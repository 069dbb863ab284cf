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
import math
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from zoo import runs
from zoo.cli import ArgumentParser, run_cli
from zoo.errors import RunDirError, TrainingDiverged, UsageError
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
    from zoo import hparams as hparams_lib
    from zoo import distribute, finetune, registry, runtime
    from zoo.tasks import get_task

    recipe = registry.get(recipe_name)
    task = get_task(recipe.task)
    if strategy == "multi_worker" and not run_dir:
        raise UsageError("--strategy multi_worker needs --run-dir DIR, the same on every worker and on storage they "
                         "all see: the chief writes the run there and a restarted worker resumes from it")
    # the strategy itself is made after the checks below, which need only to know whether this process is the chief
    chief = strategy != "multi_worker" or distribute.is_chief(distribute.tf_config())
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {seed}")
    if resume and init_from:
        raise UsageError("--init-from starts a new run; a resumed run continues from its own checkpoint")
    if resume:
        folder = Path(run_dir) if run_dir else runs.latest_unfinished(runs_root, recipe.name)
        saved = runs.load_run(folder, need_model=False)
        if saved["recipe"] != recipe.name:
            raise RunDirError(f"{folder} is a run of {saved['recipe']}, not {recipe.name}")
        if (folder / runs.METRICS).exists():
            raise RunDirError(f"{folder} has finished already; re-evaluate it with python -m zoo.evaluate {folder}")
        hp = hparams_lib.resolve(recipe.name, recipe.hparams, saved["hparams"])
        _check_resume_matches(recipe, hp, saved, config, overrides, precision, seed, deterministic)
        precision, seed, deterministic = saved["precision"], saved["seed"], saved.get("deterministic", False)
        for leftover in runs.clean_temporaries(folder) if chief else ():
            log(f"removed {leftover.name}, left by the interrupted run")
    else:
        hp = hparams_lib.resolve(recipe.name, recipe.hparams, config, overrides)
        precision = runtime.resolve_precision(precision or "auto")
        seed = seed or 0
        deterministic = bool(deterministic)
        if run_dir and chief:
            runs.check_run_dir_free(run_dir)
        folder = None
        saved = None
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")

    dist = distribute.make(strategy or "auto", task.replicable, log=log)  # before TensorFlow runs anything
    runtime.set_precision(precision)
    runtime.seed_everything(seed, deterministic)
    if hp.get("freeze_backbone") and saved is None and not init_from:
        raise UsageError("freeze_backbone=true keeps the layers below the head as they are: give --init-from RUN_DIR "
                         "(a finished run of the same recipe) to take them from")
    init_source = finetune.source(init_from, recipe) if init_from else None
    if saved is None:  # a run started from another keeps that run's input encoding (its vocabulary)
        data = recipe.data(hp, data_dir=data_dir, seed=seed, files=init_source[2] if init_source else None)
    else:  # a resumed run encodes its inputs with the files it derived when it started (its vocabulary)
        data = runs.load_data(folder, saved, recipe, hp, data_dir)
    if dist.workers > 1:
        data = dataclasses.replace(data, train=distribute.shard_by_data(data.train),
                                   val=distribute.shard_by_data(data.val))
    info = data.info
    steps_per_epoch = math.ceil(info.num_train / hp["batch_size"])

    import keras
    import numpy as np

    with dist.scope():  # variables are created (mirrored across replicas) and the optimizer is made inside it
        model = recipe.build(hp, info)
        model(np.zeros((1, *info.input_shape), dtype=info.input_dtype))  # build the variables
        initialised = finetune.copy_weights(model, init_source[0]) if init_source else None
        if hp.get("freeze_backbone"):
            finetune.freeze_backbone(model)
        task.compile(model, {**hp, "steps_per_execution": dist.steps_per_execution(hp["steps_per_execution"])},
                     steps_per_epoch)
    if not dist.chief:  # the run folder is the chief's: this worker writes into a scratch copy of it
        folder = distribute.worker_folder(run_dir, resume)
    elif saved is None:  # everything checked: only now create the run folder
        folder = runs.claim_run_dir(run_dir) if run_dir else runs.new_run_dir(runs_root, recipe.name)
    if saved is None:
        runs.write_json(folder / runs.HPARAMS, {
            "recipe": recipe.name,
            "task": recipe.task,
            "hparams": hp,
            "precision": precision,
            "seed": seed,
            "deterministic": deterministic,
            "distribution": dist.to_json(hp["batch_size"]),
            "data": info.to_json(),
            **({"init_from": initialised} if initialised else {}),
            "versions": runtime.versions(),
            "machine": runtime.machine(),
            "command": command,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        for name, content in data.files.items():  # e.g. vocab.txt: the run's inputs are encoded with it
            runs.write_text(folder / name, content)
    log(f"{'resuming' if resume else 'training'} {recipe.name} in {folder}")
    log(f"data: {info.name} from {info.source} ({info.num_train} train / {info.num_val} val / {info.num_test} test)")
    if data.summary:
        log(data.summary)
    if initialised:
        log(f"weights from {initialised['run']}: {initialised['weights_copied']} copied"
            + (f"; layers initialised afresh: {', '.join(initialised['layers_rebuilt'])}"
               if initialised["layers_rebuilt"] else ""))
    log(f"model: {type(model).__name__}, {model.count_params():,} parameters; precision {precision}; seed {seed}")
    log(dist.describe(hp["batch_size"]))

    from zoo.callbacks import NaNGuard, RunCheckpoint

    guard = NaNGuard()
    checkpoint = RunCheckpoint(folder, monitor=task.monitor, mode=task.mode, patience=hp.get("early_stopping_patience", 0),
                               guard=guard)
    callbacks = [
        *task.callbacks(folder, data, hp, log=log),  # first: what they add to the logs (a GAN's scores) is saved
        guard,
        checkpoint,
        keras.callbacks.TensorBoard(log_dir=str(folder / "tensorboard"), write_graph=False, profile_batch=0),
        *callbacks,
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    with distribute.worker_loss_explained(dist, run_dir):
        model.fit(data.train, validation_data=data.val, epochs=hp["epochs"], callbacks=callbacks, verbose=verbose,
                  shuffle=False)  # the pipeline shuffles, with the run's seed
    if not dist.chief:
        shutil.rmtree(folder, ignore_errors=True)
        log(f"worker finished training; the chief evaluates the run and writes {run_dir}")
        with distribute.worker_loss_explained(dist, run_dir):
            dist.barrier()  # leave together with the chief
        return TrainResult(Path(run_dir), {}, hp)
    state = checkpoint.state
    if guard.where is not None:
        epoch, step = guard.where
        good = (f"the last good model is {folder / runs.MODEL} (epoch {state['best_epoch']})"
                if state["best_epoch"] else "no epoch finished, so there is no model to keep")
        raise TrainingDiverged(
            f"loss became NaN/inf at epoch {epoch}, step {step}; {good}. "
            f"Lower learning_rate (now {hp['learning_rate']}) and start a new run"
        )

    best = runs.load_model(folder / runs.MODEL)  # EarlyStopping-style: the best epoch's weights
    result = task.evaluate(best, data, hp, folder)
    from zoo import reports

    title = f"{recipe.name} ({folder.name})"
    reports.plot_curves(reports.read_history(folder / runs.HISTORY), folder / "curves.png", title=title)
    report_text = task.write_reports(folder, result, info, title)
    metrics = {
        **result["metrics"],
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        f"best_{task.monitor}": state["best"],
        "stopped_early": state["stopped_early"],
        "train_seconds": round(state["train_seconds"], 3),
        "train_examples_per_second": round(info.num_train * state["epoch"] / state["fit_seconds"], 1)
        if state["fit_seconds"] else None,
        "params": int(best.count_params()),
        "precision": precision,
        **({"replica_batch": model._zoo_replica_batch} if getattr(model, "_zoo_replica_batch", None) else {}),
    }
    runs.write_json(folder / runs.METRICS, metrics)
    shutil.rmtree(folder / runs.BACKUP, ignore_errors=True)
    log(report_text)
    log(f"{task.summary(metrics)}; {metrics['epochs_run']} epochs in {metrics['train_seconds']:.1f}s")
    log(f"run folder: {folder}")
    dist.barrier()  # the other workers wait for this one to finish before they leave
    return TrainResult(folder, metrics, hp)


def _check_resume_matches(recipe, hp, saved, config, overrides, precision, seed, deterministic) -> None:
    """Refuse `--resume` with an option whose value differs from the run's (the same values are fine)."""
    from zoo import hparams as hparams_lib

    given = hparams_lib.resolve(recipe.name, recipe.hparams, config, overrides)  # type-checks the command line
    differ = [(key, hp[key], given[key]) for key in {**(config or {}), **(overrides or {})} if given[key] != hp[key]]
    if precision not in (None, "auto") and precision != saved["precision"]:
        differ.append(("--precision", saved["precision"], precision))
    if seed is not None and seed != saved["seed"]:
        differ.append(("--seed", saved["seed"], seed))
    if deterministic and not saved.get("deterministic", False):
        differ.append(("--deterministic", False, True))
    if not differ:
        return
    what = "; ".join(f"{key} is {old!r} in the run, {new!r} on the command line" for key, old, new in differ)
    why = (" (the learning-rate schedule was laid out for the run's epochs, so a run cannot be lengthened)"
           if any(key == "epochs" for key, *_ in differ) else "")
    raise UsageError(f"--resume continues a run with the settings it started with, and this command changes them: "
                     f"{what}{why}. Drop or match those options, or start a new run without --resume")


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
