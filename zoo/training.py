"""The stages of a training run, in the order `zoo.train.train` calls them: settle the settings (a new run, or a
resumed run's own), prepare (seed, data, model, compile: `zoo.prepare`), claim the run folder and write its record,
fit with the run's callbacks, then evaluate the best epoch's model and write the reports.

    python -m zoo.train cnn_mnist
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Optional

from zoo import runs
from zoo.errors import RunDirError, TrainingDiverged, UsageError
from zoo.runtime import PRECISIONS


@dataclasses.dataclass
class Setup:
    """What a run trains with, settled from the command line (a new run) or the run folder (`--resume`)."""
    recipe: Any
    task: Any
    hp: dict
    precision: str
    seed: int
    deterministic: bool
    folder: Optional[Path] = None  # a resumed run's folder
    saved: Optional[dict] = None  # a resumed run's record


def settle(recipe, chief: bool, *, overrides, config, precision, run_dir, runs_root, seed, deterministic, resume,
            log) -> Setup:
    from zoo import hparams as hparams_lib
    from zoo import runtime
    from zoo.tasks import get_task

    task = get_task(recipe.task)
    if resume:
        folder = Path(run_dir) if run_dir else runs.latest_unfinished(runs_root, recipe.name)
        saved = runs.load_run(folder, need_model=False)
        if saved["recipe"] != recipe.name:
            raise RunDirError(f"{folder} is a run of {saved['recipe']}, not {recipe.name}")
        if (folder / runs.METRICS).exists():
            raise RunDirError(f"{folder} has finished already; re-evaluate it with python -m zoo.evaluate {folder}")
        hp = hparams_lib.resolve(recipe.name, recipe.hparams, saved["hparams"])
        check_resume_matches(recipe, hp, saved, config, overrides, precision, seed, deterministic)
        for leftover in runs.clean_temporaries(folder) if chief else ():
            log(f"removed {leftover.name}, left by the interrupted run")
        setup = Setup(recipe, task, hp, saved["precision"], saved["seed"], saved.get("deterministic", False),
                       folder, saved)
    else:
        hp = hparams_lib.resolve(recipe.name, recipe.hparams, config, overrides)
        if run_dir and chief:
            runs.check_run_dir_free(run_dir)
        setup = Setup(recipe, task, hp, runtime.resolve_precision(precision or "auto"), seed or 0,
                       bool(deterministic))
    if setup.precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {setup.precision!r}")
    return setup


def prepare_run(setup: Setup, dist, *, data_dir, init_from):
    """Seed, data, model (weights from --init-from), compile: `zoo.prepare` inside the strategy's scope."""
    from zoo import distribute, finetune, runtime
    from zoo.prepare import prepare

    recipe, hp, saved = setup.recipe, setup.hp, setup.saved
    runtime.set_precision(setup.precision)
    if hp.get("freeze_backbone") and saved is None and not init_from:
        raise UsageError("freeze_backbone=true keeps the layers below the head as they are: give --init-from RUN_DIR "
                         "(a finished run of the same recipe) to take them from")
    init_source = finetune.source(init_from, recipe) if init_from else None
    initialised = {}

    def load_data():
        if saved is None:  # a run started from another keeps that run's input encoding (its vocabulary)
            data = recipe.data(hp, data_dir=data_dir, seed=setup.seed, files=init_source[2] if init_source else None)
        else:  # a resumed run encodes its inputs with the files it derived when it started (its vocabulary)
            data = runs.load_data(setup.folder, saved, recipe, hp, data_dir)
        if dist.workers > 1:
            data = dataclasses.replace(data, train=distribute.shard_by_data(data.train),
                                       val=distribute.shard_by_data(data.val))
        return data

    def adjust(model):
        if init_source:
            initialised.update(finetune.copy_weights(model, init_source[0]))
        if hp.get("freeze_backbone"):
            finetune.freeze_backbone(model)

    # variables are created (mirrored across replicas) and the optimizer is made inside the strategy's scope
    ready = prepare(recipe, hp, seed=setup.seed, deterministic=setup.deterministic, data=load_data, scope=dist.scope,
                    adjust=adjust,
                    compile_hp={**hp, "steps_per_execution": dist.steps_per_execution(hp["steps_per_execution"])})
    return ready, initialised


def claim_folder(setup: Setup, dist, ready, *, run_dir, runs_root, resume, initialised, command) -> Path:
    """The run folder, created only now that everything is checked, with its record (hparams.json) and the files
    its inputs are encoded with; a worker other than the chief writes into a scratch copy."""
    from zoo import distribute, runtime

    if not dist.chief:
        return distribute.worker_folder(run_dir, resume)
    if setup.saved is not None:
        return setup.folder
    recipe, hp, info = setup.recipe, setup.hp, ready.data.info
    folder = runs.claim_run_dir(run_dir) if run_dir else runs.new_run_dir(runs_root, recipe.name)
    runs.write_json(folder / runs.HPARAMS, {
        "recipe": recipe.name,
        "task": recipe.task,
        "hparams": hp,
        "precision": setup.precision,
        "seed": setup.seed,
        "deterministic": setup.deterministic,
        "distribution": dist.to_json(hp["batch_size"]),
        "data": info.to_json(),
        **({"init_from": initialised} if initialised else {}),
        "versions": runtime.versions(),
        "machine": runtime.machine(),
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    for name, content in ready.data.files.items():  # e.g. vocab.txt: the run's inputs are encoded with it
        runs.write_text(folder / name, content)
    return folder


def describe_start(setup: Setup, dist, ready, folder, resume, initialised, log) -> None:
    info, model = ready.data.info, ready.model
    log(f"{'resuming' if resume else 'training'} {setup.recipe.name} in {folder}")
    log(f"data: {info.name} from {info.source} ({info.num_train} train / {info.num_val} val / {info.num_test} test)")
    if ready.data.summary:
        log(ready.data.summary)
    if initialised:
        log(f"weights from {initialised['run']}: {initialised['weights_copied']} copied"
            + (f"; layers initialised afresh: {', '.join(initialised['layers_rebuilt'])}"
               if initialised["layers_rebuilt"] else ""))
    log(f"model: {type(model).__name__}, {model.count_params():,} parameters; precision {setup.precision}; "
        f"seed {setup.seed}")
    log(dist.describe(setup.hp["batch_size"]))


def fit(setup: Setup, dist, ready, folder, *, run_dir, callbacks, verbose, log):
    """model.fit with the run's callbacks: the task's, the NaN guard, the checkpoint (best model, resume state,
    early stopping), TensorBoard, then the caller's."""
    import keras

    from zoo import distribute
    from zoo.callbacks import NaNGuard, RunCheckpoint

    task, hp, data = setup.task, setup.hp, ready.data
    guard = NaNGuard()
    checkpoint = RunCheckpoint(folder, monitor=task.monitor, mode=task.mode, patience=hp["early_stopping_patience"],
                               guard=guard)
    everything = [
        *task.callbacks(folder, data, hp, log=log),  # first: what they add to the logs (a GAN's scores) is saved
        guard,
        checkpoint,
        keras.callbacks.TensorBoard(log_dir=str(folder / "tensorboard"), write_graph=False, profile_batch=0),
        *callbacks,
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    with distribute.worker_loss_explained(dist, run_dir):
        ready.model.fit(data.train, validation_data=data.val, epochs=hp["epochs"], callbacks=everything,
                        verbose=verbose, shuffle=False)  # the pipeline shuffles, with the run's seed
    return checkpoint, guard


def finish(setup: Setup, ready, folder, state, guard, log) -> dict:
    """Refuse a diverged run; else evaluate the best epoch's model and write the reports and metrics.json."""
    from zoo import reports

    task, hp, info = setup.task, setup.hp, ready.data.info
    if guard.where is not None:
        epoch, step = guard.where
        good = (f"the last good model is {folder / runs.MODEL} (epoch {state['best_epoch']})"
                if state["best_epoch"] else "no epoch finished, so there is no model to keep")
        raise TrainingDiverged(
            f"loss became NaN/inf at epoch {epoch}, step {step}; {good}. "
            f"Lower learning_rate (now {hp['learning_rate']}) and start a new run"
        )
    best = runs.load_model(folder / runs.MODEL)  # EarlyStopping-style: the best epoch's weights
    result = task.evaluate(best, ready.data, hp, folder)
    title = f"{setup.recipe.name} ({folder.name})"
    reports.plot_curves(reports.read_history(folder / runs.HISTORY), folder / "curves.png", title=title)
    report_text = task.write_reports(folder, result, info, title)
    replica_batch = getattr(ready.model, "_zoo_replica_batch", None)
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
        "precision": setup.precision,
        **({"replica_batch": replica_batch} if replica_batch else {}),
    }
    runs.write_json(folder / runs.METRICS, metrics)
    shutil.rmtree(folder / runs.BACKUP, ignore_errors=True)
    log(report_text)
    log(f"{task.summary(metrics)}; {metrics['epochs_run']} epochs in {metrics['train_seconds']:.1f}s")
    log(f"run folder: {folder}")
    return metrics


def check_resume_matches(recipe, hp, saved, config, overrides, precision, seed, deterministic) -> None:
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
