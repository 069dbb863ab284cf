"""Task kinds: what a recipe's task decides (loss, optimizer, monitored metric, evaluation).

Every recipe of one task kind shares the training hyperparameters below and
writes the same `metrics.json` keys, so runs compare across recipes. New kinds
(generative models with their own `train_step`, text classification) add an
entry to `TASKS` rather than special cases in training or export.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from zoo.optim import OPTIMIZERS, SCHEDULES, classification_loss, make_optimizer

# Training hyperparameters every classification recipe has (recipes override values, not keys).
CLASSIFIER_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 128,
    "optimizer": "adam",  # adam | adamw | sgd | rmsprop
    "learning_rate": 1e-3,
    "momentum": 0.9,  # sgd only
    "nesterov": True,  # sgd only
    "weight_decay": 0.0,  # decoupled weight decay (AdamW-style) for every optimizer
    "lr_schedule": "cosine",  # constant | cosine | step
    "warmup_epochs": 0.0,
    "l1": 0.0,  # L1 / L2 penalties on the kernels of convolutions and dense layers, added to the loss
    "l2": 0.0,
    "label_smoothing": 0.0,
    "early_stopping_patience": 0,  # epochs without val improvement before stopping; 0 = off
    "validation_fraction": 0.1,
}

CLASSIFIER_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
    "weight_decay": {"type": "choice", "values": [0.0, 1e-5, 1e-4, 1e-3]},
    "batch_size": {"type": "choice", "values": [64, 128, 256]},
}

# What the seed articles teach (optimizers, schedules, L1/L2, label smoothing), for recipes that search it.
TRAINING_SPACE: dict[str, dict[str, Any]] = {
    "optimizer": {"type": "choice", "values": list(OPTIMIZERS)},
    "lr_schedule": {"type": "choice", "values": list(SCHEDULES)},
    "warmup_epochs": {"type": "float", "min": 0.0, "max": 3.0, "step": 0.5},
    "label_smoothing": {"type": "choice", "values": [0.0, 0.05, 0.1, 0.2]},
    "l1": {"type": "choice", "values": [0.0, 1e-6, 1e-5]},
    "l2": {"type": "choice", "values": [0.0, 1e-5, 1e-4, 5e-4]},
}

CHOICES = {"optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES, "shortcut": ("A", "B")}  # checked when hyperparameters are resolved


class ClassificationTask:
    """Single-label classification; models output float32 class probabilities."""

    name = "classification"
    monitor = "val_accuracy"
    mode = "max"

    def compile(self, model, hp: Mapping[str, Any], steps_per_epoch: int) -> None:
        model.compile(
            optimizer=make_optimizer(hp, steps_per_epoch),
            loss=classification_loss(hp),
            metrics=["accuracy"],
        )

    def predict(self, model, dataset):
        """(inputs, labels, probabilities) over a whole dataset, as numpy arrays."""
        xs, ys, ps = [], [], []
        for x, y in dataset:
            xs.append(x.numpy())
            ys.append(y.numpy())
            ps.append(np.asarray(model.predict_on_batch(x), dtype=np.float32))
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(ps)

    def evaluate(self, model, dataset, class_names) -> dict[str, Any]:
        """Test metrics (the `metrics.json` keys) plus arrays the reports draw from."""
        return self.score(*self.predict(model, dataset), class_names)

    def score(self, x, y, probs, class_names) -> dict[str, Any]:
        """`evaluate` from predictions already made (an ensemble averages its members' once)."""
        from zoo.reports import classification_report

        pred = probs.argmax(axis=1)
        picked = probs[np.arange(len(y)), y]
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
        report = classification_report(y, pred, class_names)
        metrics = {
            "test_accuracy": float(np.mean(pred == y)),
            "test_loss": loss if math.isfinite(loss) else None,
            "test_macro_f1": report["macro avg"]["f1"],
            "test_weighted_f1": report["weighted avg"]["f1"],
            "test_examples": int(len(y)),
        }
        return {"metrics": metrics, "report": report, "inputs": x, "labels": y, "predictions": pred,
                "probabilities": probs}


TASKS = {"classification": ClassificationTask()}


def get_task(name: str):
    return TASKS[name]
