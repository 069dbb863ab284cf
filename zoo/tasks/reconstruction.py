"""Reconstruction (autoencoders): pixels in, the same pixels out; scored per pixel on the test split.

The model takes raw 0..255 pixels and returns intensities in [0, 1]; it computes its own loss
against its input (`compute_loss`), so the pipelines are the classifiers' (images, labels).
A model with `noise_std` > 0 is a denoising autoencoder: it sees noisy inputs in training,
and the test split is also scored from inputs with that noise (a fixed draw).

`metrics.json` keys: test_bce and test_mse (mean binary cross-entropy and squared error per
pixel, clean inputs), test_examples; denoising adds test_denoised_bce, test_denoised_mse.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from zoo.tasks.base import Task

NOISE_SEED = 20240229  # the fixed draw of test-time noise, so denoising numbers compare across runs
SHOWN = 12  # test images in reconstructions.png
ENCODED = 1000  # test images whose codes and reconstructions export checks


def pixel_bce(target: np.ndarray, output: np.ndarray) -> float:
    """Mean binary cross-entropy per pixel (natural log), outputs clipped away from 0 and 1 as Keras does."""
    out = np.clip(output.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(np.mean(-(target * np.log(out) + (1 - target) * np.log(1 - out))))


def add_noise(images: np.ndarray, std: float, seed: int = NOISE_SEED) -> np.ndarray:
    """Raw 0..255 images with Gaussian noise of `std` (on the 0..1 scale) added and clipped, as the model's
    training does."""
    noise = np.random.default_rng(seed).normal(0.0, std, images.shape)
    return (np.clip(images / 255.0 + noise, 0.0, 1.0) * 255.0).astype(np.float32)


class ReconstructionTask(Task):
    """The loss is the model's `compute_loss` (pixel cross-entropy against its input)."""

    name = "reconstruction"
    objectives = {"val_loss": "min", "val_mse": "min", "loss": "min", "mse": "min"}  # for tuning

    def evaluate(self, model, data, hp=None, folder=None) -> dict[str, Any]:
        std = float(getattr(model, "noise_std", 0.0))
        totals = {"bce": 0.0, "mse": 0.0, "denoised_bce": 0.0, "denoised_mse": 0.0}
        n, shown = 0, {}
        for x, _ in data.test:
            x = np.asarray(x, np.float32)
            target = x / 255.0
            pairs = [("", x)] + ([("denoised_", add_noise(x, std, NOISE_SEED + n))] if std else [])
            for prefix, given in pairs:
                out = np.asarray(model.predict_on_batch(given), np.float32)
                totals[prefix + "bce"] += pixel_bce(target, out) * len(x)
                totals[prefix + "mse"] += float(np.mean((target - out) ** 2)) * len(x)
                if not n:
                    shown[prefix or "clean"] = (given[:SHOWN], out[:SHOWN])
            n += len(x)
        metrics = {f"test_{k}": v / max(n, 1) for k, v in totals.items() if std or not k.startswith("denoised")}
        metrics["test_examples"] = n
        if std:
            metrics["test_noise_std"] = std
        return {"metrics": metrics, "shown": shown}

    def report_text(self, result, info) -> str:
        m = result["metrics"]
        lines = [f"reconstruction of {m['test_examples']} test images, per pixel: "
                 f"BCE {m['test_bce']:.4f}, MSE {m['test_mse']:.5f}"]
        if "test_denoised_bce" in m:
            lines.append(f"from inputs with noise std {m['test_noise_std']}: BCE {m['test_denoised_bce']:.4f}, "
                         f"MSE {m['test_denoised_mse']:.5f}")
        return "\n".join(lines)

    def write_reports(self, folder, result, info, title: str) -> str:
        from zoo.reports import image_grid

        clean_in, clean_out = result["shown"]["clean"]
        rows = [("original", clean_in), ("reconstructed", clean_out * 255.0)]
        if "denoised_" in result["shown"]:
            noisy_in, denoised = result["shown"]["denoised_"]
            rows += [("noisy input", noisy_in), ("denoised", denoised * 255.0)]
        image_grid(np.concatenate([images for _, images in rows]),
                   [name if i == 0 else "" for name, images in rows for i in range(len(images))],
                   folder / "reconstructions.png", title, cols=len(clean_in))
        return self.report_text(result, info)

    def summary(self, metrics: Mapping[str, Any]) -> str:
        line = f"test reconstruction BCE {metrics['test_bce']:.4f}, MSE {metrics['test_mse']:.5f} per pixel"
        if "test_denoised_bce" in metrics:
            line += f" (denoising: BCE {metrics['test_denoised_bce']:.4f})"
        return line + f" over {metrics['test_examples']} images"

    def export_graphs(self, model, original, data, batch: int, calibration: int, reference=None) -> list:
        """`encoder` (raw pixels -> code) and `decoder` (code -> pixels 0..1); the decoder is fed the Keras
        encoder's codes of test images and scored by its reconstruction BCE against them."""
        from zoo.tasks.graphs import ExportGraph, calibration_batches, predict, take

        info = data.info
        x, _ = take(data.test, min(ENCODED, info.num_test))
        codes = predict(model.encoder, x)
        decoded = predict(model.decoder, codes)
        keras_bce = pixel_bce(x / 255.0, decoded)
        image = {"kind": "image", "shape": list(info.input_shape), "dtype": "float32", "layout": "NHWC",
                 "range": list(info.input_range), "preprocessing": info.preprocessing}
        code = {"kind": "latent", "shape": list(codes.shape[1:]), "dtype": "float32",
                "range": [float(codes.min()), float(codes.max())],
                "meaning": "an image's code, as the encoder gives it (range: over the checked test images)"}
        batches = calibration_batches(lambda: (np.asarray(xb) for xb, _ in data.train), calibration, batch)
        coded = calibration_batches(lambda: (predict(model.encoder, np.asarray(xb)) for xb, _ in data.train),
                                    calibration, batch)
        limits = {"dynamic": 0.05, "int8": 0.05}  # mean |TFLite - Keras| relative to the output's scale
        return [
            ExportGraph(name="encoder", model=model.encoder, original=original.encoder, inputs=x, input=image,
                        output={"name": "code", "shape": list(codes.shape[1:]), "dtype": "float32",
                                "meaning": "the image's code (the decoder's input)"},
                        calibration=batches, mean_abs=limits, outputs=codes),
            ExportGraph(name="decoder", model=model.decoder, original=original.decoder, inputs=codes, input=code,
                        output={"name": "image", "shape": list(info.input_shape), "dtype": "float32",
                                "meaning": "pixel intensities 0..1 (x 255 for 8-bit pixels)"},
                        calibration=coded, mean_abs=limits, outputs=decoded,
                        score=lambda out: {"test_bce": pixel_bce(x / 255.0, out)},
                        summary={"keras_decoder_test_bce": keras_bce, "test_examples": int(len(x))}),
        ]
