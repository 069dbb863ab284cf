"""GANs: no loss measures sample quality, so a classifier the run trains itself on the same dataset judges it.

Before the first epoch the run trains a judge (the dataset's CNN recipe, `judge_epochs`
epochs on the run's training split; `judge.keras`, `judge.json`). After every epoch the
generator draws 1,000 images and the judge's penultimate features give their Fréchet
distance to 1,000 validation images (`val_frechet`, which picks the best epoch and is
tuning's objective) and the judge's mean top-class probability (`val_confidence`).

`metrics.json` keys, from `samples` generated images: test_confidence (the judge's mean
top-class probability), test_class_fractions (the share of images per class) and
test_min_class_fraction, test_frechet_distance (to the test split, in the judge's feature
space) beside test_frechet_floor (the same distance between real training and test
images: what a perfect generator would get), test_confidence_real (the judge's mean top-class
probability on the real test images: the ceiling for test_confidence), judge_test_accuracy,
test_examples. This is not the Inception FID: the features are a small classifier's, so
the numbers compare only with each other.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras
import numpy as np

from zoo.tasks.base import Task
from zoo.tasks.graphs import predict

EVAL_SEED = 20240229
PER_EPOCH = 1000  # generated and validation images behind val_frechet and val_confidence
GRID = 64  # images in each epoch's sample grid


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows = examples)."""
    import warnings

    from scipy import linalg

    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a singular product (few or collapsed samples) is handled below
        root = linalg.sqrtm(cov_a @ cov_b)
        if not np.all(np.isfinite(root)):  # as the reference FID code does: nudge both covariances off singular
            eps = 1e-6 * np.eye(len(cov_a))
            root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(root)))


def fixed_noise(n: int, dim: int, seed: int = EVAL_SEED) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def real_images(dataset, n: int) -> np.ndarray:
    from zoo.tasks.graphs import take

    return take(dataset, n)[0].astype(np.float32)


class EpochJudge(keras.callbacks.Callback):
    """After each epoch: val_frechet and val_confidence in the logs (before the checkpoint reads them) and, with a
    run folder, the epoch's sample grid (progress/epoch-NNN.png) and training.gif of all grids so far."""

    def __init__(self, judge, val_images, noise_dim: int, folder=None):
        super().__init__()
        self.judge, self.folder = judge, folder
        self.real = predict(self.judge.embed, val_images)
        self.noise = fixed_noise(PER_EPOCH, noise_dim)

    def on_epoch_end(self, epoch, logs=None):
        images = predict(self.model.generate, self.noise)
        logs = logs if logs is not None else {}
        logs["val_frechet"] = frechet_distance(predict(self.judge.embed, images), self.real)
        logs["val_confidence"] = float(np.mean(np.max(predict(self.judge, images), axis=1)))
        if self.folder is not None:
            from zoo.reports import save_frames_gif, tile_png

            tile_png(images[:GRID] / 255.0, self.folder / "progress" / f"epoch-{epoch + 1:03d}.png")
            save_frames_gif(sorted((self.folder / "progress").glob("epoch-*.png")), self.folder / "training.gif")


class AdversarialTask(Task):
    """Two optimizers (Adam with `beta_1`), the judge's per-epoch scores; `val_frechet` picks the best epoch."""

    name = "gan"
    monitor = "val_frechet"
    objectives = {"val_frechet": "min", "val_confidence": "max"}  # for tuning

    @staticmethod
    def judge_for(data, hp, folder=None, log=print):
        """The classifier that scores generated images: given by `zoo.judge` (which trains one with a recipe of
        the registry, which a task does not import) when `zoo` is imported."""
        raise NotImplementedError("the GAN task has no judge: import zoo (zoo.judge installs it)")

    def compile(self, model, hp: Mapping[str, Any], steps_per_epoch: int) -> None:
        def adam():
            optimizer = keras.optimizers.Adam(hp["learning_rate"], beta_1=hp["beta_1"])
            if keras.mixed_precision.global_policy().name == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            return optimizer

        model.compile(d_optimizer=adam(), g_optimizer=adam(), steps_per_execution=hp["steps_per_execution"])

    def callbacks(self, folder, data, hp, log=print) -> list:
        judge = self.judge_for(data, hp, folder, log)
        return [EpochJudge(judge, real_images(data.val, PER_EPOCH), hp["noise_dim"], folder)]

    def evaluate(self, model, data, hp=None, folder=None) -> dict[str, Any]:
        judge = self.judge_for(data, hp, folder)
        images = predict(model.generate, fixed_noise(hp["samples"], model.noise_dim, EVAL_SEED + 1))
        probs = predict(judge, images)
        fractions = np.bincount(probs.argmax(1), minlength=data.info.num_classes) / len(images)
        test = real_images(data.test, data.info.num_test)
        train = real_images(data.train, min(data.info.num_train, len(test)))
        test_features = predict(judge.embed, test)
        test_probs = predict(judge, test)
        metrics = {
            "test_confidence": float(np.mean(probs.max(axis=1))),
            "test_min_class_fraction": float(fractions.min()),
            "test_class_fractions": [round(float(f), 4) for f in fractions],
            "test_frechet_distance": frechet_distance(predict(judge.embed, images), test_features),
            "test_frechet_floor": frechet_distance(predict(judge.embed, train), test_features),
            "test_confidence_real": float(np.mean(test_probs.max(axis=1))),  # the same on real test images
            "judge_test_accuracy": float(np.mean(test_probs.argmax(1) == real_labels(data.test))),
            "test_examples": int(len(images)),
        }
        return {"metrics": metrics, "grid": predict(model.generate, fixed_noise(GRID, model.noise_dim))}

    def report_text(self, result, info) -> str:
        m = result["metrics"]
        shares = ", ".join(f"{name} {f:.1%}" for name, f in zip(info.class_names, m["test_class_fractions"]))
        return (f"{m['test_examples']} generated images, as the judge (test accuracy {m['judge_test_accuracy']:.4f}) "
                f"sees them: mean top-class probability {m['test_confidence']:.4f} (real test images: "
                f"{m['test_confidence_real']:.4f}); classes: {shares}\n"
                f"Fréchet distance in the judge's features: {m['test_frechet_distance']:.3f} to the test images "
                f"(real training vs test images: {m['test_frechet_floor']:.3f}; not the Inception FID)")

    def write_reports(self, folder, result, info, title: str) -> str:
        from zoo.reports import image_grid

        image_grid(result["grid"], [""] * len(result["grid"]), folder / "samples.png",
                   f"{title}: samples (fixed noise)", cols=8)
        return self.report_text(result, info)

    def summary(self, metrics: Mapping[str, Any]) -> str:
        return (f"judge confidence {metrics['test_confidence']:.4f}, smallest class {metrics['test_min_class_fraction']:.1%}"
                f", Fréchet distance {metrics['test_frechet_distance']:.3f} (floor {metrics['test_frechet_floor']:.3f})"
                f" over {metrics['test_examples']} generated images")

    def export_graphs(self, model, original, data, batch: int, calibration: int, reference=None) -> list:
        """`generator`: noise -> image intensities 0..1, checked against Keras on 1,000 fixed noise vectors."""
        from zoo.tasks.graphs import ExportGraph, calibration_batches

        noise = fixed_noise(1000, model.noise_dim)
        return [ExportGraph(
            name="generator", model=model.sampler, original=original.sampler, inputs=noise,
            input={"kind": "noise", "shape": [model.noise_dim], "dtype": "float32", "range": [-4.0, 4.0],
                   "sample": "standard normal", "meaning": "a draw from N(0, I): each draw gives one image"},
            output={"name": "image", "shape": list(data.info.input_shape), "dtype": "float32",
                    "meaning": "pixel intensities 0..1 (x 255 for 8-bit pixels)"},
            calibration=calibration_batches(lambda: iter([fixed_noise(max(calibration, batch), model.noise_dim, 7)]),
                                            calibration, batch),
            mean_abs={"dynamic": 0.05, "int8": 0.05},
        )]


def real_labels(dataset) -> np.ndarray:
    return np.concatenate([np.asarray(y) for _, y in dataset])
