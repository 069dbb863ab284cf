"""The task contract: what every task kind implements, so training, evaluation, resume, tuning and export stay one
path. A new kind is one subclass of `Task` and one entry in `zoo.tasks.TASKS`; the abstract methods below are the
ones it must write, the others have defaults that fit a model which computes its own loss."""

from __future__ import annotations

import abc
from typing import Any, Mapping

from zoo.optim import make_optimizer

# What a task's model outputs, as code downstream may assume it (`Task.output`).
SOFTMAX_CLASSES = "softmax classes"  # one probability per class, summing to 1: argmax is the label
IMAGE = "image"  # pixels: an autoencoder's reconstruction, a VAE's decoding, a GAN's sample
TOKENS = "next-token probabilities"  # per position, one probability per vocabulary entry
OUTPUTS = (SOFTMAX_CLASSES, IMAGE, TOKENS)


class Task(abc.ABC):
    """A task kind. Defaults: a model that computes its own loss (`compute_loss` or `train_step`) and one
    optimizer from the recipe's hyperparameters; no extra callbacks; not prunable; trained on one replica."""

    name = ""
    output = IMAGE  # one of OUTPUTS: what the model outputs (code that needs softmax classes checks it)
    monitor = "val_loss"  # the validation metric that picks the best epoch, and tuning's default objective
    mode = "min"
    objectives: dict[str, str] = {"val_loss": "min", "loss": "min"}  # metric -> direction, for tuning
    prunable = False  # export --prune can fine-tune it
    replicable = False  # its loss is averaged over the global batch when replicas split it (Keras's compiled losses)

    @property
    def gives_labels(self) -> bool:
        """Whether the model outputs softmax class probabilities (zoo.predict, zoo.explain, zoo.ensemble apply)."""
        return self.output == SOFTMAX_CLASSES

    def compile(self, model, hp: Mapping[str, Any], steps_per_epoch: int) -> None:
        """Compile `model` for training with the recipe's hyperparameters."""
        model.compile(optimizer=make_optimizer(hp, steps_per_epoch), steps_per_execution=hp["steps_per_execution"])

    def callbacks(self, folder, data, hp, log=print) -> list:
        """Extra Keras callbacks for training (per-epoch work such as a GAN's scores and sample grid)."""
        return []

    @abc.abstractmethod
    def evaluate(self, model, data, hp=None, folder=None) -> dict[str, Any]:
        """Score `model` on `data.test`: {"metrics": the metrics.json keys of this kind, ...arrays the reports
        draw from}."""

    @abc.abstractmethod
    def report_text(self, result, info) -> str:
        """The printed test report of an `evaluate` result."""

    @abc.abstractmethod
    def write_reports(self, folder, result, info, title: str) -> str:
        """Write the report files and pictures into the run folder; return the text report."""

    @abc.abstractmethod
    def summary(self, metrics: Mapping[str, Any]) -> str:
        """One line of the headline test numbers."""

    @abc.abstractmethod
    def export_graphs(self, model, original, data, batch: int, calibration: int, reference=None) -> list:
        """The graphs export writes (`zoo.tasks.graphs.ExportGraph`), each with its inputs, calibration data,
        agreement limits and scores; `model` is the float32 export twin of the trained `original`."""
