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

from zoo.errors import UsageError

# Training hyperparameters every classification recipe has (recipes override values, not keys).
CLASSIFIER_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 128,
    "optimizer": "adam",  # adam | adamw | sgd | rmsprop
    "learning_rate": 1e-3,
    "weight_decay": 0.0,  # decoupled weight decay (AdamW-style) for every optimizer
    "lr_schedule": "cosine",  # constant | cosine
    "warmup_epochs": 0.0,
    "early_stopping_patience": 0,  # epochs without val improvement before stopping; 0 = off
    "validation_fraction": 0.1,
}

CLASSIFIER_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
    "weight_decay": {"type": "choice", "values": [0.0, 1e-5, 1e-4, 1e-3]},
    "batch_size": {"type": "choice", "values": [64, 128, 256]},
}

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")
CHOICES = {"optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES}  # checked when hyperparameters are resolved


def learning_rate(hp: Mapping[str, Any], steps_per_epoch: int):
    """A float, or a serializable Keras schedule stepped by optimizer iterations (so resume continues it)."""
    lr = hp["learning_rate"]
    schedule = hp.get("lr_schedule", "constant")
    if schedule not in SCHEDULES:
        raise UsageError(f"lr_schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    warmup = int(round(hp.get("warmup_epochs", 0.0) * steps_per_epoch))
    total = max(1, steps_per_epoch * hp["epochs"])
    if schedule == "constant":
        return lr
    import keras

    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else lr,
        decay_steps=max(1, total - warmup),
        warmup_target=lr if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(hp: Mapping[str, Any], steps_per_epoch: int):
    import keras

    name = hp.get("optimizer", "adam")
    lr = learning_rate(hp, steps_per_epoch)
    wd = hp.get("weight_decay", 0.0) or None
    if name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=wd or 0.004)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, weight_decay=wd)
    raise UsageError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


class ClassificationTask:
    """Single-label classification; models output float32 class probabilities."""

    name = "classification"
    monitor = "val_accuracy"
    mode = "max"

    def compile(self, model, hp: Mapping[str, Any], steps_per_epoch: int) -> None:
        import keras

        model.compile(
            optimizer=make_optimizer(hp, steps_per_epoch),
            loss=keras.losses.SparseCategoricalCrossentropy(),
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
        from zoo.reports import classification_report

        x, y, probs = self.predict(model, dataset)
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
        return {"metrics": metrics, "report": report, "inputs": x, "labels": y, "predictions": pred}


TASKS = {"classification": ClassificationTask()}


def get_task(name: str):
    return TASKS[name]
