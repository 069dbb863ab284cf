"""A recipe as a keras-tuner HyperModel, the tuner, and the files a search leaves behind.

The search folder (`--dir`, default `tuner/RECIPE`) holds keras-tuner's own state
(oracle and trials, which is what `--resume` continues from) plus:

    search.json          what was searched: recipe, tuner, objective, fixed values (guards --resume)
    best_hparams.json    the winning hyperparameters, usable as `python -m zoo.train RECIPE --config ...`
    trials.csv           one row per trial: id, status, score, searched values
    summary.md           trials ranked by score
    trials.png           the objective per trial, with the best so far
    executions.jsonl     one line per finished trial: which tuner (worker) ran it, status, score
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Mapping, Optional

import keras_tuner as kt
import numpy as np

from tuning import space as space_lib
from zoo import hparams as hparams_lib
from zoo import runs
from zoo.prepare import prepare
from zoo.errors import RunDirError, UsageError
from zoo.tasks import get_task

TUNERS = ("random", "bayesian", "hyperband")
SEARCH = "search.json"


class RecipeHyperModel(kt.HyperModel):
    """Builds and fits a recipe's model for one set of keras-tuner values."""

    def __init__(self, recipe, fixed: Mapping[str, Any], data_dir=None, seed=0, verbose=2, reseed=True):
        super().__init__(name=recipe.name, tunable=True)
        self.recipe = recipe
        self.fixed = dict(fixed)
        self.space = space_lib.restrict(recipe.search_space, fixed)
        self.data_dir = data_dir
        self.seed = seed
        self.verbose = verbose
        self.task = get_task(recipe.task)
        self.reseed = reseed  # seed before each build (off when a trial trains several executions)
        self._info = None
        self._last = None

    def values(self, hp) -> dict[str, Any]:
        """Full recipe hyperparameters for these keras-tuner values (defaults < --set < sampled)."""
        sampled = space_lib.sample(hp, self.space)
        return hparams_lib.resolve(self.recipe.name, self.recipe.hparams, self.fixed, sampled)

    def build(self, hp):
        # zoo.prepare, as zoo.train does (seed, data, model, compile), so a trial and a retraining with its values
        # start from the same weights and see the same batches.
        values = self.values(hp)
        ready = prepare(self.recipe, values, seed=self.seed if self.reseed else None,
                        data=lambda: self.recipe.data(values, data_dir=self.data_dir, seed=self.seed))
        self._last = (values, ready.data)
        self._info = ready.data.info
        return ready.model

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        values = self.values(hp)
        if self._last is None or self._last[0] != values:
            self._last = (values, self.recipe.data(values, data_dir=self.data_dir, seed=self.seed))
        data = self._last[1]
        self._last = None  # each pipeline serves one fit; the next trial builds its own
        # the task's callbacks first, as in zoo.train: a GAN's judge adds the scores the objective reads
        scoring = self.task.callbacks(None, data, values, log=lambda line: None)
        return model.fit(
            data.train,
            validation_data=data.val,
            epochs=kwargs.get("epochs", values["epochs"]),
            initial_epoch=kwargs.get("initial_epoch", 0),
            callbacks=[*scoring, *(callbacks or [])],
            verbose=self.verbose,
            shuffle=False,
        )


EXECUTIONS = "executions.jsonl"


def is_worker() -> bool:
    """A keras-tuner distributed worker (KERASTUNER_ORACLE_IP set, KERASTUNER_TUNER_ID not 'chief')."""
    import os

    return bool(os.environ.get("KERASTUNER_ORACLE_IP")) and os.environ.get("KERASTUNER_TUNER_ID") != "chief"


def _logged(tuner_class, isolate: bool = False):
    """The tuner class, also appending one JSON line per finished trial to executions.jsonl
    (which trial ran on which tuner/worker, with what status and score) and, with `isolate`,
    running each trial's training in a child process (see tuning/trial.py)."""

    class Logged(tuner_class):
        def run_trial(self, trial, *args, **kwargs):
            if not isolate:
                return super().run_trial(trial, *args, **kwargs)
            hm = self.hypermodel
            values = hm.values(trial.hyperparameters)
            return [run_isolated(hm, values, self.oracle.objective, execution)
                    for execution in range(self.executions_per_trial)]

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            line = json.dumps({"trial": trial.trial_id, "tuner_id": self.tuner_id, "status": trial.status,
                               "score": None if trial.score is None else float(trial.score)})
            with open(Path(self.project_dir) / EXECUTIONS, "a", encoding="utf-8") as f:
                f.write(line + "\n")  # one short O_APPEND write: lines from several workers do not interleave

    Logged.__name__ = tuner_class.__name__
    return Logged


def run_isolated(hypermodel, values, objective, execution: int) -> dict[str, float]:
    """Train one execution of a trial in a child process; return its best epoch's metrics."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile

    def die_with_parent():  # Linux: a killed search does not leave its trial running
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    import keras

    with tempfile.TemporaryDirectory(prefix="zoo-trial-") as tmp:
        spec = {"recipe": hypermodel.recipe.name, "values": values, "data_dir": hypermodel.data_dir,
                "seed": hypermodel.seed + execution, "verbose": hypermodel.verbose, "reseed": True,
                "precision": keras.mixed_precision.global_policy().name}
        Path(tmp, "spec.json").write_text(json.dumps(spec))
        done = subprocess.run([sys.executable, "-m", "tuning.trial", str(Path(tmp, "spec.json")),
                               str(Path(tmp, "result.json"))], stderr=subprocess.PIPE, text=True,
                              preexec_fn=die_with_parent if os.name == "posix" else None)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"trial process exited with {done.returncode}: {tail}")
        history = json.loads(Path(tmp, "result.json").read_text())["history"]
    scores = history[objective.name]
    best = int(np.argmax(scores) if objective.direction == "max" else np.argmin(scores))
    return {k: v[best] for k, v in history.items()}


def make_tuner(kind: str, hypermodel, *, objective: str, direction: str, max_trials: int, epochs: int,
               executions: int, directory: Path, project: str, resume: bool, seed: int, isolate: bool = True):
    if kind not in TUNERS:
        raise UsageError(f"unknown tuner {kind!r}; choose one of {', '.join(TUNERS)}")
    common = dict(hypermodel=hypermodel, objective=kt.Objective(objective, direction), directory=str(directory),
                  project_name=project, overwrite=not resume, seed=seed)
    if kind == "random":
        tuner = _logged(kt.RandomSearch, isolate)(max_trials=max_trials, executions_per_trial=executions, **common)
    elif kind == "bayesian":
        # keras-tuner's default, 3 random points per dimension, would make a 10-trial search purely random.
        initial = max(2, min(3 * len(hypermodel.space), max_trials // 3))
        tuner = _logged(kt.BayesianOptimization, isolate)(max_trials=max_trials, executions_per_trial=executions,
                                                          num_initial_points=initial, **common)
    else:  # hyperband hands weights from one bracket to the next in memory: trials stay in process
        return _logged(kt.Hyperband)(max_epochs=epochs, factor=3, executions_per_trial=executions, **common)
    start_from_defaults(tuner.oracle, hypermodel)
    return tuner


def start_from_defaults(oracle, hypermodel) -> None:
    """Make a new search's first trial the recipe's own values (defaults and --set), so the
    search never reports less than the recipe and later trials are compared against it."""
    if is_worker():
        return  # the chief's oracle decides
    original = oracle.populate_space
    start = {k: hypermodel.recipe.hparams[k] for k in hypermodel.space}

    def populate_space(trial_id):
        if not oracle.trials:
            return {"status": "RUNNING", "values": {hp.name: start[hp.name] for hp in oracle.hyperparameters.space
                                                    if hp.name in start}}
        return original(trial_id)

    oracle.populate_space = populate_space


def trial_rows(tuner, space_keys) -> list[dict[str, Any]]:
    rows = []
    for trial in tuner.oracle.trials.values():
        score = trial.score
        row = {"trial": trial.trial_id, "status": trial.status,
               "score": None if score is None else float(score),
               "epochs": trial.hyperparameters.values.get("tuner/epochs")}
        row.update({k: trial.hyperparameters.values.get(k) for k in space_keys})
        rows.append(row)
    return sorted(rows, key=lambda r: r["trial"])


def write_outputs(tuner, hypermodel, folder: Path, meta: Mapping[str, Any]) -> Optional[dict]:
    """best_hparams.json, trials.csv, summary.md and trials.png for a finished (or partial) search."""
    keys = list(hypermodel.space)
    rows = trial_rows(tuner, keys)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["trial", "status", "score", "epochs", *keys], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    runs.write_text(folder / "trials.csv", buf.getvalue())

    scored = [r for r in rows if r["score"] is not None]
    maximize = tuner.oracle.objective.direction == "max"
    ranked = sorted(scored, key=lambda r: r["score"], reverse=maximize)
    lines = [f"# Search: {meta['recipe']} ({meta['tuner']}, objective {meta['objective']})", "",
             f"{len(scored)} scored trials of {len(rows)}; {meta['epochs']} epochs per trial.", "",
             "| rank | trial | " + " | ".join([meta["objective"], *keys]) + " |",
             "|---" * (3 + len(keys)) + "|"]
    for i, r in enumerate(ranked, 1):
        lines.append(f"| {i} | {r['trial']} | {r['score']:.4f} | " + " | ".join(_fmt(r[k]) for k in keys) + " |")
    runs.write_text(folder / "summary.md", "\n".join(lines) + "\n")
    _plot(rows, folder / "trials.png", meta, maximize)
    if not ranked:
        return None
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_values = hypermodel.values(best_trial.hyperparameters.copy())
    best = {"recipe": meta["recipe"], "hparams": best_values, "objective": meta["objective"],
            "score": float(best_trial.score), "trial": best_trial.trial_id, "tuner": meta["tuner"],
            "searched": keys}
    runs.write_json(folder / "best_hparams.json", best)
    return best


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _plot(rows, path, meta, maximize) -> None:
    from zoo.reports import pyplot, save_figure

    scored = [(i, r["score"]) for i, r in enumerate(rows) if r["score"] is not None]
    if not scored:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    xs, ys = zip(*scored)
    best = np.maximum.accumulate(ys) if maximize else np.minimum.accumulate(ys)
    ax.scatter(xs, ys, label="trial")
    ax.step(xs, best, where="post", color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(meta["objective"])
    ax.set_title(f"{meta['recipe']}: {meta['tuner']} search")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def check_folder(folder: Path, meta: Mapping[str, Any], resume: bool) -> None:
    """Refuse to overwrite a search, or to resume one of another recipe / tuner / objective."""
    marker = folder / SEARCH
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise RunDirError(f"--dir {folder} is a file, not a folder; nothing was written. Choose another --dir")
    if not marker.exists():
        if resume:
            raise RunDirError(f"no search to resume in {folder}; run without --resume to start one")
        if folder.exists() and any(folder.iterdir()):
            raise RunDirError(f"{folder} exists and is not a zoo search folder; choose another --dir")
        return
    saved = runs.read_json(marker)
    if not isinstance(saved, dict):
        raise RunDirError(f"{marker} is not a zoo search record (a JSON object); was it edited by hand?")
    if not resume:
        raise RunDirError(f"a search of {saved.get('recipe')} already exists in {folder}; pass --resume to "
                          "continue it, or choose another --dir")
    for key in ("recipe", "tuner", "objective", "fixed", "epochs"):
        if key not in saved:
            raise RunDirError(f"{marker} lacks the key {key!r}; it is incomplete or from another version of zoo: "
                              "start a new search in another --dir")
        if saved.get(key) != meta.get(key):
            raise RunDirError(f"{folder} holds a search with {key}={saved.get(key)!r}, not {meta.get(key)!r}; "
                              "resume it with the same settings or choose another --dir")
