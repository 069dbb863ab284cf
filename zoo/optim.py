"""Optimizers, learning-rate schedules and losses that every classifier shares, chosen by hyperparameters.

    --set optimizer=sgd --set momentum=0.9 --set nesterov=true     SGD with (Nesterov) momentum
    --set optimizer=adam | adamw | rmsprop                        adaptive methods
    --set lr_schedule=cosine --set warmup_epochs=2                 linear warm-up, then cosine decay to 0
    --set lr_schedule=step                                         x0.1 at 50% and again at 75% of the epochs
    --set label_smoothing=0.1 --set l2=5e-4 --set weight_decay=1e-4

Schedules step with the optimizer's iteration count, which the run's backup restores,
so a resumed run continues the schedule where it stopped.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from zoo.errors import UsageError

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "step")
STEP_MILESTONES = (0.5, 0.75)  # fractions of training after which the step schedule divides the rate by 10


@keras.saving.register_keras_serializable(package="zoo")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `learning_rate` over `warmup_steps`, then times `factor` at each boundary."""

    def __init__(self, learning_rate, boundaries, factor=0.1, warmup_steps=0):
        self.learning_rate = float(learning_rate)
        self.boundaries = [int(b) for b in boundaries]
        self.factor = float(factor)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        drops = sum(keras.ops.cast(step >= b, "float32") for b in self.boundaries) if self.boundaries else 0.0
        rate = self.learning_rate * keras.ops.power(self.factor, drops)
        if self.warmup_steps:
            rate = rate * keras.ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return rate

    def get_config(self):
        return {"learning_rate": self.learning_rate, "boundaries": self.boundaries, "factor": self.factor,
                "warmup_steps": self.warmup_steps}


def learning_rate(hp: Mapping[str, Any], steps_per_epoch: int):
    """A float, or a serializable Keras schedule stepped by optimizer iterations (so resume continues it)."""
    lr = hp["learning_rate"]
    schedule = hp["lr_schedule"]
    if schedule not in SCHEDULES:
        raise UsageError(f"lr_schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    warmup = int(round(hp["warmup_epochs"] * steps_per_epoch))
    total = max(1, steps_per_epoch * hp["epochs"])
    if schedule == "step":
        return WarmupStepDecay(lr, [int(total * m) for m in STEP_MILESTONES], 0.1, warmup)
    if schedule == "constant":
        return WarmupStepDecay(lr, [], 1.0, warmup) if warmup else lr
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else lr,
        decay_steps=max(1, total - warmup),
        warmup_target=lr if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(hp: Mapping[str, Any], steps_per_epoch: int):
    """The optimizer named by `optimizer`; `weight_decay` is decoupled (AdamW-style) for every optimizer."""
    name = hp["optimizer"]
    lr = learning_rate(hp, steps_per_epoch)
    wd = hp["weight_decay"] or None
    if name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=wd or 0.004)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=hp["momentum"], nesterov=hp["nesterov"],
                                    weight_decay=wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, weight_decay=wd)
    raise UsageError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


@keras.saving.register_keras_serializable(package="zoo")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing (Keras's sparse loss has no smoothing): the target is
    `1 - label_smoothing` on the true class plus `label_smoothing / num_classes` on every class."""

    def __init__(self, label_smoothing=0.1, name="sparse_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        classes = keras.ops.shape(y_pred)[-1]
        onehot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), classes,
                                   dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(onehot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def classification_loss(hp: Mapping[str, Any]):
    smoothing = hp["label_smoothing"]
    if smoothing:
        return SparseSmoothedCrossentropy(smoothing)
    return keras.losses.SparseCategoricalCrossentropy()
