"""Magnitude pruning for Keras 3 models (tensorflow-model-optimization only supports Keras 2).

Schedule + masks + fine-tune + strip, without wrapping layers:

- `PolynomialDecay` raises the target sparsity from `initial` to `final` between
  `begin_step` and `end_step` along (1 - progress)^3, updating every `frequency` steps.
- `Pruner` is a callback: at each update it sets, per kernel, a mask that zeroes the
  smallest-magnitude weights for the current target; after every training step it
  multiplies the kernel by its mask again, so optimizer updates cannot revive pruned
  weights. Layers keep their class, so the pruned model saves and exports as usual.
- `strip()` applies the final masks once more, checks the sparsity, and drops the
  masks: what is left is a plain model whose zeros compress (gzip) and stay zero.

Kernels of Dense and Conv layers are pruned; biases, normalisation and kernels with
fewer than `min_size` weights (a 3x3x1x32 first convolution) are left dense.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


@dataclass(frozen=True)
class PolynomialDecay:
    final_sparsity: float
    begin_step: int
    end_step: int
    initial_sparsity: float = 0.0
    power: float = 3.0
    frequency: int = 50

    def __post_init__(self):
        if not 0.0 <= self.initial_sparsity <= self.final_sparsity < 1.0:
            raise ValueError("need 0 <= initial_sparsity <= final_sparsity < 1")
        if self.end_step < self.begin_step:
            raise ValueError("end_step must not come before begin_step")

    def sparsity(self, step: int) -> float:
        if step <= self.begin_step:
            return self.initial_sparsity if step == self.begin_step else 0.0
        span = max(1, self.end_step - self.begin_step)
        progress = min(1.0, (step - self.begin_step) / span)
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1 - progress) ** self.power

    def should_update(self, step: int) -> bool:
        return self.begin_step <= step <= self.end_step and (
            (step - self.begin_step) % self.frequency == 0 or step == self.end_step
        )


def prunable_kernels(model, min_size: int = 1024):
    """The kernel variables magnitude pruning applies to."""
    kinds = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    out = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, kinds) and int(np.prod(layer.kernel.shape)) >= min_size:
            out.append(layer.kernel)
    return out


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """1 where the weight survives: all but the `sparsity` fraction of smallest magnitudes."""
    k = int(round(sparsity * weights.size))
    if k <= 0:
        return np.ones_like(weights, dtype=np.float32)
    flat = np.abs(weights).ravel()
    order = np.argsort(flat, kind="stable")
    mask = np.ones(weights.size, dtype=np.float32)
    mask[order[:k]] = 0.0
    return mask.reshape(weights.shape)


def sparsity_of(variables) -> float:
    total = sum(int(np.prod(v.shape)) for v in variables)
    zeros = sum(int(np.sum(keras.ops.convert_to_numpy(v) == 0)) for v in variables)
    return zeros / total if total else 0.0


class Pruner(keras.callbacks.Callback):
    """Keeps masks for the prunable kernels of a model during fine-tuning."""

    def __init__(self, schedule: PolynomialDecay, min_size: int = 1024):
        super().__init__()
        self.schedule = schedule
        self.min_size = min_size
        self.kernels = []
        self.masks = []
        self.step = 0

    def set_model(self, model):
        super().set_model(model)
        self.kernels = prunable_kernels(model, self.min_size)
        if not self.kernels:
            raise ValueError("the model has no Dense/Conv kernels large enough to prune")
        self.masks = [np.ones(tuple(v.shape), np.float32) for v in self.kernels]

    def update_masks(self, sparsity: float) -> None:
        for i, v in enumerate(self.kernels):
            self.masks[i] = magnitude_mask(keras.ops.convert_to_numpy(v), sparsity)
        self.apply_masks()

    def apply_masks(self) -> None:
        for v, m in zip(self.kernels, self.masks):
            v.assign(keras.ops.convert_to_numpy(v) * m)

    def on_train_batch_begin(self, batch, logs=None):
        if self.schedule.should_update(self.step):
            self.update_masks(self.schedule.sparsity(self.step))

    def on_train_batch_end(self, batch, logs=None):
        self.apply_masks()  # undo whatever the optimizer did to pruned weights
        self.step += 1

    def strip(self) -> float:
        """Apply the final masks, drop them, and return the kernels' sparsity."""
        self.apply_masks()
        sparsity = sparsity_of(self.kernels)
        self.masks = []
        return sparsity


def prune_and_finetune(model, train_ds, compile_fn, sparsity: float, epochs: int, validation_ds=None,
                       frequency: int = 50, min_size: int = 1024, verbose: int = 2):
    """Fine-tune `model` in place for `epochs` while raising sparsity to `sparsity`; return the stripped sparsity.

    The target is reached after 70% of the fine-tuning steps; the rest recovers accuracy at full sparsity.
    `compile_fn(model, steps_per_epoch)` compiles the model (typically with a lower learning rate).
    """
    steps = int(train_ds.cardinality())
    if steps <= 0:
        steps = sum(1 for _ in train_ds)
    total = steps * epochs
    schedule = PolynomialDecay(final_sparsity=sparsity, begin_step=0, end_step=max(1, int(0.7 * total)),
                               frequency=max(1, min(frequency, total // 10 or 1)))
    pruner = Pruner(schedule, min_size)
    compile_fn(model, steps)
    model.fit(train_ds, validation_data=validation_ds, epochs=epochs, callbacks=[pruner], verbose=verbose,
              shuffle=False)
    if schedule.end_step > pruner.step:  # fewer steps ran than planned: reach the target anyway
        pruner.update_masks(sparsity)
    return pruner.strip(), pruner.kernels
