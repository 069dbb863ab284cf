"""What every task kind shares unless it says otherwise."""

from __future__ import annotations

from typing import Any, Mapping

from zoo.optim import make_optimizer


class Task:
    """Defaults for a task kind: a model that computes its own loss (`compute_loss` or `train_step`) and one
    optimizer from the recipe's hyperparameters; no extra callbacks; not a classifier; not prunable; trained on one replica."""

    name = ""
    monitor = "val_loss"
    mode = "min"
    objectives: dict[str, str] = {"val_loss": "min", "loss": "min"}  # metric -> direction, for tuning
    gives_labels = False  # outputs class probabilities: zoo.predict, zoo.explain and zoo.ensemble apply
    prunable = False  # export --prune can fine-tune it
    replicable = False  # its loss is averaged over the global batch when replicas split it (Keras's compiled losses)

    def compile(self, model, hp: Mapping[str, Any], steps_per_epoch: int) -> None:
        model.compile(optimizer=make_optimizer(hp, steps_per_epoch), steps_per_execution=hp["steps_per_execution"])

    def callbacks(self, folder, data, hp, log=print) -> list:
        return []
