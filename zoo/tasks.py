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
    """Single-label classification; models output float32 class probabilities.

    `metrics.json` keys: test_accuracy, test_loss, test_macro_f1, test_weighted_f1, test_examples; a two-class
    model adds test_precision, test_recall, test_f1 (of the second class, e.g. "positive") and test_roc_auc.
    """

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

    def evaluate(self, model, dataset, info) -> dict[str, Any]:
        """Test metrics (the `metrics.json` keys) plus arrays the reports draw from."""
        return self.score(*self.predict(model, dataset), info)

    def score(self, x, y, probs, info) -> dict[str, Any]:
        """`evaluate` from predictions already made (an ensemble averages its members' once); scikit-learn's
        metrics."""
        from sklearn import metrics as sk

        from zoo.reports import classification_report

        pred = probs.argmax(axis=1)
        report = classification_report(y, pred, info.class_names)
        labels = list(range(len(info.class_names)))
        loss = float(sk.log_loss(y, probs, labels=labels)) if len(y) else math.nan
        metrics = {
            "test_accuracy": float(sk.accuracy_score(y, pred)),
            "test_loss": loss if math.isfinite(loss) else None,
            "test_macro_f1": float(report["macro avg"]["f1-score"]),
            "test_weighted_f1": float(report["weighted avg"]["f1-score"]),
            "test_examples": int(len(y)),
        }
        if len(labels) == 2:  # the second class is the positive one ("positive" for sentiment)
            precision, recall, f1, _ = sk.precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
            both = len(np.unique(y)) == 2  # ROC AUC needs both classes in the test split
            metrics.update(test_precision=float(precision), test_recall=float(recall), test_f1=float(f1),
                           test_roc_auc=float(sk.roc_auc_score(y, probs[:, 1])) if both else None)
        return {"metrics": metrics, "report": report, "inputs": x, "labels": y, "predictions": pred,
                "probabilities": probs}

    def report_text(self, result, info) -> str:
        """The classification report as printed (scikit-learn's table)."""
        from zoo.reports import format_report

        return format_report(result["labels"], result["predictions"], info.class_names)

    def write_reports(self, folder, result, info, title: str) -> str:
        """Report files and pictures in the run folder; returns the text report."""
        from zoo.reports import write_classification_reports

        return write_classification_reports(folder, result, info, title)

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """One line of the headline test numbers."""
        line = f"test accuracy {metrics['test_accuracy']:.4f}"
        if metrics.get("test_loss") is not None:
            line += f", loss {metrics['test_loss']:.4f}"
        if metrics.get("test_roc_auc") is not None:
            line += f", F1 {metrics['test_f1']:.4f}, ROC AUC {metrics['test_roc_auc']:.4f}"
        return line + f" over {metrics['test_examples']} examples"


TASKS = {"classification": ClassificationTask()}


def get_task(name: str):
    return TASKS[name]
