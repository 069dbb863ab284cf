"""Training callbacks that keep a run folder consistent through kills and resumes.

Keras ships `ModelCheckpoint`, `EarlyStopping` and `BackupAndRestore`, but they
write files in place (a kill mid-write leaves a truncated file) and a resumed run
forgets the best score so far, so the next epoch would overwrite a better model.
`RunCheckpoint` does the three jobs with one shared, atomically written state.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import keras

from zoo import runs
from zoo.errors import first_line

STATE = "state.json"


class NaNGuard(keras.callbacks.Callback):
    """Stop training at the first non-finite loss and remember where it happened. Keras reports the loss after
    every call into the training function, so with `steps_per_execution` N the step named is the last of the N
    in which the loss diverged."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.where = None  # (epoch, step), 1-based, once the loss diverged

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.where is None:
            self.where = (self.epoch + 1, batch + 1)
            self.model.stop_training = True


class RunCheckpoint(keras.callbacks.Callback):
    """Per epoch: append history, save the best model, back up the full training state.

    - `model.keras` is replaced (atomically) whenever `monitor` improves.
    - `backup/epoch-N.weights.h5` + `backup/state.json` hold model and optimizer
      weights, the epoch count, the best score and the early-stopping counter;
      the state names its weights file, so the two always agree;
      `on_train_begin` restores them, so a killed run loses at most one epoch.
    - With `patience` > 0, training stops after that many epochs without improvement.
    - An epoch whose loss is not finite is not saved: the last good state stays.
    """

    def __init__(self, run_dir, monitor="val_accuracy", mode="max", patience=0, guard=None):
        super().__init__()
        self.guard = guard  # a NaNGuard: once it trips, nothing more is saved
        self.run_dir = Path(run_dir)
        self.backup = self.run_dir / runs.BACKUP
        self.monitor = monitor
        self.better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
        self.patience = patience
        self.state = {"epoch": 0, "best": None, "best_epoch": None, "wait": 0, "train_seconds": 0.0,
                      "fit_seconds": 0.0, "stopped_early": False}
        self._epoch_start = None
        self._fit_end = None

    # -- resume -------------------------------------------------------------
    def on_train_begin(self, logs=None):
        state_path = self.backup / STATE
        if state_path.is_file():
            self.state.update(runs.read_json(state_path))
            if hasattr(self.model, "build_optimizers"):  # models with several optimizers (a GAN) build their own
                self.model.build_optimizers()
            elif self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            weights = self.backup / self.state["weights"]
            try:
                self.model.load_weights(weights)
            except Exception as e:  # noqa: BLE001
                raise runs.RunDirError(
                    f"cannot restore {weights}: {first_line(e, 200)}; "
                    f"delete {self.backup} to restart the run from scratch"
                ) from None
            self.model._initial_epoch = self.state["epoch"]
        self._trim_history(self.state["epoch"])

    def _trim_history(self, epochs_done):
        """Drop history rows of epochs that the backup does not cover (they will be rerun)."""
        path = self.run_dir / runs.HISTORY
        if not path.is_file():
            return
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        kept = [r for r in rows if int(r["epoch"]) <= epochs_done]
        if len(kept) != len(rows):
            self._write_history(kept)

    def _write_history(self, rows):
        keys = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        runs.write_text(self.run_dir / runs.HISTORY, buf.getvalue())

    # -- per epoch ----------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._fit_end = None

    def on_test_begin(self, logs=None):
        if self._epoch_start is not None and self._fit_end is None:
            self._fit_end = time.perf_counter()  # validation starts: the training part of the epoch is over

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.guard is not None and self.guard.where is not None:
            return  # diverged during this epoch: keep the last good state
        if not all(math.isfinite(float(v)) for v in logs.values() if isinstance(v, (int, float))):
            return  # diverged: keep the last good state
        now = time.perf_counter()
        seconds = now - (self._epoch_start or now)
        self.state["train_seconds"] += seconds  # wall time of the epoch, validation included
        self.state["fit_seconds"] += (self._fit_end or now) - (self._epoch_start or now)  # training steps only
        value = logs.get(self.monitor)
        if value is None:
            raise KeyError(f"metric {self.monitor!r} missing from epoch logs {sorted(logs)}")
        value = float(value)
        if self.state["best"] is None or self.better(value, self.state["best"]):
            self.state.update(best=value, best_epoch=epoch + 1, wait=0)
            with runs.atomic_path(self.run_dir / runs.MODEL) as tmp:
                self.model.save(tmp)
        else:
            self.state["wait"] += 1

        path = self.run_dir / runs.HISTORY
        rows = list(csv.DictReader(path.open(encoding="utf-8"))) if path.is_file() else []
        lr = self.model.optimizer.learning_rate if self.model.optimizer is not None else None
        row = {"epoch": epoch + 1, **{k: f"{float(v):.6g}" for k, v in logs.items() if k != "learning_rate"},
               "learning_rate": f"{float(keras.ops.convert_to_numpy(lr)):.6g}" if lr is not None else "",
               "seconds": f"{seconds:.2f}"}
        self._write_history(rows + [row])

        self.state["epoch"] = epoch + 1
        if self.patience and self.state["wait"] >= self.patience:
            self.state["stopped_early"] = True
            self.model.stop_training = True
        # New weights file first, then the state that names it, then the old file goes.
        old = self.state.get("weights")
        self.state["weights"] = f"epoch-{epoch + 1}.weights.h5"
        with runs.atomic_path(self.backup / self.state["weights"]) as tmp:
            self.model.save_weights(tmp)
        runs.write_json(self.backup / STATE, self.state)
        if old and old != self.state["weights"]:
            (self.backup / old).unlink(missing_ok=True)
