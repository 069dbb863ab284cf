"""Variational autoencoders: the loss is the negative ELBO; test numbers in nats per image, as papers give them.

`metrics.json` keys: test_elbo (nats per image, higher is better; one draw of z per image),
test_log_likelihood (importance-sampled with `iw_samples` draws of z per image on the first
`iw_examples` test images: a tighter lower bound on log p(x)), test_reconstruction_nats and
test_kl_nats (the ELBO's two terms), test_bce and test_mse (per pixel, decoding the mean
code), test_examples, test_iw_samples, test_iw_examples. Draws use fixed seeds, so
`zoo.evaluate` reproduces the numbers.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from zoo.tasks.base import Task
from zoo.tasks.reconstruction import ENCODED, SHOWN, pixel_bce

EVAL_SEED = 20240229
LOG_2PI = math.log(2 * math.pi)


def _bernoulli_nats(target: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """-log p(target | logits) summed over each image's pixels (numerically stable), shape (n,)."""
    nats = np.logaddexp(0.0, logits) - target * logits
    return nats.reshape(len(nats), -1).sum(axis=1)


def _normal_log_density(z, mean, log_var) -> np.ndarray:
    return -0.5 * np.sum(LOG_2PI + log_var + (z - mean) ** 2 / np.exp(log_var), axis=-1)


def _numpy(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


class VariationalTask(Task):
    """The loss is the negative ELBO the model's `train_step` computes; `val_loss` picks the best epoch."""

    name = "vae"
    objectives = {"val_loss": "min", "val_reconstruction": "min", "loss": "min"}  # for tuning

    def evaluate(self, model, data, hp=None, folder=None) -> dict[str, Any]:
        rng = np.random.default_rng(EVAL_SEED)
        sums = {"reconstruction": 0.0, "kl": 0.0, "bce": 0.0, "mse": 0.0}
        info = data.info
        n, kept, shown = 0, [], None
        for x, _ in data.test:
            x = np.asarray(x, np.float32)
            target = x / 255.0
            mean, log_var = map(_numpy, model.encode(x))
            z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
            sums["reconstruction"] += _bernoulli_nats(target, _numpy(model.decoder(z.astype(np.float32)))).sum()
            sums["kl"] += (-0.5 * np.sum(1 + log_var - mean**2 - np.exp(log_var), axis=1)).sum()
            probs = np.asarray(model.predict_on_batch(x), np.float32)
            sums["bce"] += pixel_bce(target, probs) * len(x)
            sums["mse"] += float(np.mean((target - probs) ** 2)) * len(x)
            if shown is None:
                shown = (x[:SHOWN], probs[:SHOWN])
            if n < hp["iw_examples"]:
                kept.append(x[: hp["iw_examples"] - n])
            n += len(x)
        m = {k: v / max(n, 1) for k, v in sums.items()}
        held = np.concatenate(kept) if kept else np.zeros((0, *info.input_shape), np.float32)
        metrics = {
            "test_elbo": float(-(m["reconstruction"] + m["kl"])),
            "test_log_likelihood": self.log_likelihood(model, held, hp["iw_samples"], rng),
            "test_reconstruction_nats": float(m["reconstruction"]), "test_kl_nats": float(m["kl"]),
            "test_bce": float(m["bce"]), "test_mse": float(m["mse"]), "test_examples": n,
            "test_iw_samples": int(hp["iw_samples"]), "test_iw_examples": int(len(held)),
        }
        return {"metrics": metrics, "shown": shown, **self.pictures(model)}

    @staticmethod
    def log_likelihood(model, images: np.ndarray, k: int, rng, batch: int = 50) -> float:
        """Mean over `images` of log (1/k) sum_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x) (Burda et al. 2016)."""
        total = 0.0
        for start in range(0, len(images), batch):
            x = images[start : start + batch]
            target = x / 255.0
            mean, log_var = map(_numpy, model.encode(x))
            z = mean[None] + np.exp(0.5 * log_var)[None] * rng.standard_normal((k, *mean.shape))  # (k, b, d)
            logits = _numpy(model.decoder(z.reshape(-1, z.shape[-1]).astype(np.float32)))
            log_px_z = -_bernoulli_nats(np.tile(target, (k, 1, 1, 1)), logits).reshape(k, len(x))
            log_w = log_px_z + _normal_log_density(z, 0.0, 0.0) - _normal_log_density(z, mean[None], log_var[None])
            top = log_w.max(axis=0)
            total += float(np.sum(top + np.log(np.mean(np.exp(log_w - top), axis=0))))
        return total / max(len(images), 1)

    def report_text(self, result, info) -> str:
        m = result["metrics"]
        return (f"test ELBO {m['test_elbo']:.2f} nats per image (reconstruction {m['test_reconstruction_nats']:.2f}, "
                f"KL {m['test_kl_nats']:.2f}) over {m['test_examples']} images; importance-sampled log-likelihood "
                f"{m['test_log_likelihood']:.2f} nats (k = {m['test_iw_samples']}, first {m['test_iw_examples']} "
                f"test images); per pixel: BCE {m['test_bce']:.4f}, MSE {m['test_mse']:.5f}")

    def write_reports(self, folder, result, info, title: str) -> str:
        from zoo.reports import image_grid

        originals, reconstructions = result["shown"]
        image_grid(np.concatenate([originals, reconstructions * 255.0]),
                   ["original" if i == 0 else "" for i in range(len(originals))] +
                   ["reconstructed" if i == 0 else "" for i in range(len(originals))],
                   folder / "reconstructions.png", title, cols=len(originals))
        image_grid(result["samples"] * 255.0, [""] * len(result["samples"]), folder / "samples.png",
                   f"{title}: samples from the prior", cols=8)
        if "manifold" in result:
            side = int(round(len(result["manifold"]) ** 0.5))
            image_grid(result["manifold"] * 255.0, [""] * len(result["manifold"]), folder / "latent_manifold.png",
                       f"{title}: decodes over the 2-D code (prior quantiles 5%..95%)", cols=side)
        return self.report_text(result, info)

    @staticmethod
    def pictures(model) -> dict[str, np.ndarray]:
        """Decodes of 64 codes from the prior (fixed seed) and, for a 2-D code, of a 15 x 15 grid over it."""
        from scipy.special import ndtri

        z = np.random.default_rng(EVAL_SEED).standard_normal((64, model.latent_dim)).astype(np.float32)
        out = {"samples": _numpy(model.decode(z))}
        if model.latent_dim == 2:
            grid = ndtri(np.linspace(0.05, 0.95, 15))  # evenly spaced quantiles of the prior
            z = np.array([[a, b] for b in grid[::-1] for a in grid], np.float32)
            out["manifold"] = _numpy(model.decode(z))
        return out

    def summary(self, metrics: Mapping[str, Any]) -> str:
        return (f"test ELBO {metrics['test_elbo']:.2f} nats, log-likelihood {metrics['test_log_likelihood']:.2f} "
                f"nats (k = {metrics['test_iw_samples']}) per image over {metrics['test_examples']} images")

    def export_graphs(self, model, original, data, batch: int, calibration: int, reference=None) -> list:
        """`encoder` (raw pixels -> the mean code) and `decoder` (code -> Bernoulli pixel probabilities)."""
        import keras

        from zoo.tasks.graphs import ExportGraph, calibration_batches, predict, take

        def encoder(m):
            return keras.Sequential([m.encoder, m.z_mean], name="encoder_mean")

        def decoder(m):
            return keras.Sequential([m.decoder, keras.layers.Activation("sigmoid", dtype="float32")], name="decoder")

        info = data.info
        x, _ = take(data.test, min(ENCODED, info.num_test))
        enc, dec = encoder(model), decoder(model)
        codes = predict(enc, x)
        decoded = predict(dec, codes)
        keras_bce = pixel_bce(x / 255.0, decoded)
        limits = {"dynamic": 0.05, "int8": 0.05}  # mean |TFLite - Keras| relative to the output's scale
        return [
            ExportGraph(name="encoder", model=enc, original=encoder(original), inputs=x, mean_abs=limits, outputs=codes,
                        input={"kind": "image", "shape": list(info.input_shape), "dtype": "float32", "layout": "NHWC",
                               "range": list(info.input_range), "preprocessing": info.preprocessing},
                        output={"name": "code", "shape": [model.latent_dim], "dtype": "float32",
                                "meaning": "the mean of q(z | image): the image's code"},
                        calibration=calibration_batches(lambda: (np.asarray(b) for b, _ in data.train), calibration,
                                                        batch)),
            ExportGraph(name="decoder", model=dec, original=decoder(original), inputs=codes, mean_abs=limits,
                        input={"kind": "latent", "shape": [model.latent_dim], "dtype": "float32",
                               "range": [-3.0, 3.0], "sample": "standard normal",
                               "meaning": "a code: draw from N(0, I) to generate a digit, or use the encoder's output "
                               "to reconstruct one"},
                        output={"name": "image", "shape": list(info.input_shape), "dtype": "float32",
                                "meaning": "Bernoulli pixel probabilities 0..1 (x 255 for 8-bit pixels)"},
                        calibration=calibration_batches(
                            lambda: iter([np.random.default_rng(EVAL_SEED).standard_normal(
                                (max(calibration, batch), model.latent_dim)).astype(np.float32)]),
                            calibration, batch),
                        score=lambda out: {"test_bce": pixel_bce(x / 255.0, out)},
                        summary={"keras_decoder_test_bce": keras_bce, "test_examples": int(len(x))},
                        outputs=decoded),
        ]
