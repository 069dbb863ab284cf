"""Hyperparameter tables shared by recipes: the training defaults every recipe has, what every classifier adds,
their search spaces, and the allowed values of choice-valued keys (checked by `zoo.hparams.resolve`).

    from zoo.defaults import CLASSIFIER_DEFAULTS, CLASSIFIER_SPACE, TRAINING_SPACE
"""

from __future__ import annotations

from typing import Any

from zoo.optim import OPTIMIZERS, SCHEDULES

# Training hyperparameters every recipe has (recipes override values, not keys).
TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 128,
    "optimizer": "adam",  # adam | adamw | sgd | rmsprop
    "learning_rate": 1e-3,
    "momentum": 0.9,  # sgd only
    "nesterov": True,  # sgd only
    "weight_decay": 0.0,  # decoupled weight decay (AdamW-style) for every optimizer
    "lr_schedule": "cosine",  # constant | cosine | step
    "warmup_epochs": 0.0,
    "early_stopping_patience": 0,  # epochs without val improvement before stopping; 0 = off
    "validation_fraction": 0.1,
    # optimizer steps per call into the compiled training function (Keras's `steps_per_execution`): the same
    # training with about 1.8 ms less Python per step on a 2-core CPU, and the progress bar moves once per call.
    # Recipes with millisecond steps raise it (cnn_mnist: bf16 epochs 3.0 -> 2.25 s with 32)
    "steps_per_execution": 8,
}

# ... and every classifier adds these.
CLASSIFIER_DEFAULTS: dict[str, Any] = {
    **TRAINING_DEFAULTS,
    "l1": 0.0,  # L1 / L2 penalties on the kernels of convolutions and dense layers, added to the loss
    "l2": 0.0,
    "label_smoothing": 0.0,
    "freeze_backbone": False,  # with --init-from: train only the classifier head (zoo/finetune.py)
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

CHOICES = {"optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES, "shortcut": ("A", "B"),
           "positions": ("learned", "sine", "none"), "truncating": ("post", "pre"),
           "tokenizer": ("keras", "regex"),
           "padding": ("same", "valid")}  # checked when hyperparameters are resolved
