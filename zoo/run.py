"""A run folder opened as what it is a run of: its record, recipe, task and checked hyperparameters.

    from zoo.run import Run
    run = Run("runs/cnn_mnist/20261122-213000")
    model, data = run.model(), run.data()      # data: encoded with the run's own vocabulary, checked against it

Every command that reads a finished run (evaluate, predict, explain, ensemble, export, the web benchmark) opens
it this way, so the hyperparameters it uses are the ones training checked (`zoo.hparams.resolve`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zoo import runs
from zoo.errors import RunDirError, UsageError, ZooError


class Run:
    """`folder`, `record` (hparams.json), `recipe`, `task`, `hparams`; `model()` and `data()` load the rest."""

    def __init__(self, folder: str | os.PathLike, need_model: bool = True):
        from zoo import hparams, registry
        from zoo.tasks import get_task

        self.folder = Path(folder)
        self.record: dict[str, Any] = runs.load_run(self.folder, need_model=need_model)
        try:
            self.recipe = registry.get(self.record["recipe"])
        except ZooError:
            raise RunDirError(f"{self.folder} is a run of {self.record['recipe']!r}, which this version of zoo does "
                              "not know") from None
        self.task = get_task(self.recipe.task)
        try:  # checked as training checked them: a hand-edited value is refused, not used
            self.hparams = hparams.resolve(self.recipe.name, self.recipe.hparams, self.record["hparams"])
        except ZooError as e:
            raise RunDirError(f"{self.folder / runs.HPARAMS}: {e}") from None

    @property
    def info(self) -> dict[str, Any]:
        """What hparams.json says about the data (input shape and kind, class names, ...)."""
        return self.record["data"]

    def model(self):
        return runs.load_model(self.folder / runs.MODEL)

    def data(self, data_dir=None):
        """The recipe's datasets for this run (its own vocabulary; its own image or text folder unless `data_dir`
        names another), refused when they do not match what the run was trained on."""
        return runs.load_data(self.folder, self.record, self.recipe, self.hparams, data_dir)

    def require_classifier(self, command: str) -> None:
        """Refuse a run whose model does not output class probabilities (an autoencoder) for `command`."""
        if not self.task.gives_labels:
            raise UsageError(f"{self.folder} is a run of {self.recipe.name}, a {self.recipe.task} recipe whose model "
                             f"outputs {self.task.output}; {command} works on classifiers (softmax classes)")
