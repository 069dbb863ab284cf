"""Generative task kinds as a user meets them: `ae_mnist` trains from the documented command line with its
pictures and per-pixel metrics, evaluates again to the same numbers, exports an encoder and a decoder that
agree with Keras, tunes on its own objective, and the classifier-only commands refuse it clearly."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_mnist_like
from export import __main__ as export_cli
from export import verify
from tuning import __main__ as tuning_cli
from zoo import ensemble, evaluate, explain, predict
from zoo.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
QUIET = dict(log=lambda s: None)


def cli_train(root, recipe, *args):
    """`python -m zoo.train RECIPE ARGS` in a fresh process on synthetic MNIST; (data dir, run dir, stdout)."""
    data = write_mnist_like(root / "data")
    done = subprocess.run([sys.executable, "-m", "zoo.train", recipe, *args, "--batch-size", "32", "--set",
                           "filters=8", "--precision", "float32", "--data-dir", str(data), "--run-dir", str(root / "run")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    return data, root / "run", done.stdout


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    return cli_train(tmp_path_factory.mktemp("ae"), "ae_mnist", "--set", "noise_std=0.3", "--epochs", "3", "--set",
                     "learning_rate=3e-3")


def test_autoencoder_trains_from_the_command_line_with_pictures_and_pixel_metrics(ae_run):
    _, run, stdout = ae_run
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("test_bce", "test_mse", "test_denoised_bce", "test_denoised_mse"):
        assert 0 < metrics[key] < 1, key
    assert metrics["test_noise_std"] == 0.3 and metrics["best_val_loss"] > 0 and metrics["test_examples"] == 80
    header, *rows = (run / "history.csv").read_text().splitlines()
    assert {"loss", "mse", "val_loss", "val_mse"} <= set(header.split(","))
    losses = [float(r.split(",")[header.split(",").index("loss")]) for r in rows]
    assert losses[-1] < losses[0]
    assert (run / "reconstructions.png").read_bytes()[:4] == b"\x89PNG"
    assert not (run / "confusion_matrix.png").exists()
    assert "test reconstruction BCE" in stdout and "denoising" in stdout


def test_evaluate_reproduces_the_test_metrics(ae_run):
    data, run, _ = ae_run
    saved = json.loads((run / "metrics.json").read_text())
    again = evaluate.evaluate(run, data_dir=str(data), **QUIET)
    for key in ("test_bce", "test_mse", "test_denoised_bce"):  # the test noise is a fixed draw
        assert again[key] == pytest.approx(saved[key], rel=1e-5), key


def test_export_writes_an_encoder_and_a_decoder_that_chain_like_the_autoencoder(ae_run, tmp_path):
    data, run, _ = ae_run
    out = tmp_path / "export"
    report = export_cli.export_run(run, variants=["float32", "int8", "auto"], out=str(out), data_dir=str(data),
                                   latency_runs=3, **QUIET)
    assert report["failures"] == {}
    assert set(report["artifacts"]) == {f"{g}_{v}.tflite" for g in ("encoder", "decoder")
                                        for v in ("float32", "int8", "auto")}
    for g in ("encoder", "decoder"):  # auto without a validation metric: the graph's int8 agreement limit
        auto = report["artifacts"][f"{g}_auto.tflite"]["auto"]
        assert auto["unit"] == "mean |TFLite - Keras|" and auto["limit"] > 0
        assert auto["reached"] == (auto["loss"] <= auto["limit"]) and auto["rounds"][0]["kept_float"] == 0
    for art in report["artifacts"].values():
        assert art["shape_ops"] == [] and not any(op.startswith("Flex") for op in art["ops"]), art["ops"]
    decoder = report["artifacts"]["decoder_float32.tflite"]
    assert decoder["test_bce"] == pytest.approx(report["keras_decoder_test_bce"], abs=1e-5)
    graphs = json.loads((out / "signature.json").read_text())["graphs"]
    assert graphs["encoder"]["input"]["shape"] == [1, 28, 28, 1] and graphs["encoder"]["output"]["shape"] == [1, 64]
    assert graphs["decoder"]["input"]["kind"] == "latent" and graphs["decoder"]["output"]["shape"] == [1, 28, 28, 1]
    assert not (out / "labels.txt").exists()
    # an app chaining the two float32 files gets the Keras autoencoder's reconstruction
    from zoo import runs

    images = np.stack([np.full((28, 28, 1), 40.0, np.float32), np.zeros((28, 28, 1), np.float32)])
    images[0, 10:14] = 250.0
    encode = verify.Runner((out / "encoder_float32.tflite").read_bytes())
    decode = verify.Runner((out / "decoder_float32.tflite").read_bytes())
    keras_out = np.asarray(runs.load_model(run / "model.keras")(images))
    np.testing.assert_allclose(decode.predict(encode.predict(images)), keras_out, atol=1e-5)
    with pytest.raises(UsageError, match="--prune fine-tunes classifiers"):
        export_cli.export_run(run, variants=["float32"], out=str(tmp_path / "p"), data_dir=str(data), prune=0.5,
                              **QUIET)


def test_classifier_commands_refuse_an_autoencoder_in_one_line(ae_run, tmp_path, capsys):
    data, run, _ = ae_run
    import shutil

    png = tmp_path / "x.png"
    png.write_bytes(b"not really")
    twin = shutil.copytree(run, tmp_path / "twin")
    for command in (lambda: predict.main([str(run), str(png)]), lambda: explain.main([str(run)]),
                    lambda: ensemble.main([str(run), str(twin), "--data-dir", str(data)])):
        assert command() == 2
        err = capsys.readouterr().err.strip()
        assert "a reconstruction recipe" in err and "classifiers" in err and len(err.splitlines()) == 1, err


def test_tuning_searches_the_autoencoder_on_its_own_objective(ae_run, tmp_path):
    data, _, _ = ae_run
    args = dict(tuner="random", max_trials=2, epochs=1, overrides={"filters": 8, "batch_size": 32},
                data_dir=str(data), seed=0, isolate=False, verbose=0, precision="float32", **QUIET)
    with pytest.raises(UsageError, match="val_loss, val_mse"):
        tuning_cli.run_search("ae_mnist", objective="val_accuracy", directory=str(tmp_path / "bad"), **args)
    best = tuning_cli.run_search("ae_mnist", directory=str(tmp_path / "search"), **args)
    assert best["objective"] == "val_loss" and 0 < best["score"] < 1
    assert set(best["hparams"]) >= {"code_dim", "learning_rate"}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return cli_train(tmp_path_factory.mktemp("vae"), "vae_mnist", "--set", "latent_dim=2", "--set", "iw_samples=30",
                     "--epochs", "3", "--set", "learning_rate=3e-3")


def test_vae_reports_elbo_and_a_tighter_importance_sampled_likelihood(vae_run):
    _, run, stdout = vae_run
    m = json.loads((run / "metrics.json").read_text())
    assert m["test_elbo"] == pytest.approx(-(m["test_reconstruction_nats"] + m["test_kl_nats"]))
    assert m["test_elbo"] < 0 and m["test_kl_nats"] >= 0
    assert m["test_elbo"] <= m["test_log_likelihood"] + 1.0  # the IS estimate is the tighter bound (up to noise)
    assert m["test_iw_samples"] == 30 and m["test_iw_examples"] == 80 and 0 < m["test_bce"] < 1
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"} <= set(header)
    for picture in ("reconstructions.png", "samples.png", "latent_manifold.png", "curves.png"):
        assert (run / picture).read_bytes()[:4] == b"\x89PNG", picture
    assert "test ELBO" in stdout and "log-likelihood" in stdout


def test_vae_binarises_test_images_by_a_fixed_draw(vae_run):
    data, run, _ = vae_run
    from zoo import data as zoo_data

    hp = json.loads((run / "hparams.json").read_text())["hparams"]
    first, second = (next(iter(zoo_data.binarized_mnist(hp, data_dir=str(data), seed=s).test))[0] for s in (0, 5))
    assert set(np.unique(np.asarray(first))) <= {0.0, 255.0}
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    from zoo.data.images import binarize

    grey = np.full((4, 28, 28, 1), 128.0, np.float32)  # each pixel: 255 with probability ~1/2, a new draw per key
    a, b, a_again = (np.asarray(binarize(grey, np.array(k, np.int64))) for k in ([1, 2], [3, 4], [1, 2]))
    assert set(np.unique(a)) == {0.0, 255.0} and 0.4 < np.mean(a == 255) < 0.6
    assert np.mean(a != b) > 0.3 and np.array_equal(a, a_again)
    saved = json.loads((run / "metrics.json").read_text())
    again = evaluate.evaluate(run, data_dir=str(data), **QUIET)
    for key in ("test_elbo", "test_log_likelihood", "test_bce"):  # fixed draws: the same numbers again
        assert again[key] == pytest.approx(saved[key], rel=1e-5), key


def test_vae_exports_its_mean_encoder_and_probability_decoder(vae_run, tmp_path):
    data, run, _ = vae_run
    report = export_cli.export_run(run, variants=["float32", "dynamic"], out=str(tmp_path / "e"), data_dir=str(data),
                                   latency_runs=3, **QUIET)
    assert report["failures"] == {}
    graphs = json.loads((tmp_path / "e" / "signature.json").read_text())["graphs"]
    assert graphs["encoder"]["output"]["shape"] == [1, 2] and graphs["decoder"]["input"]["shape"] == [1, 2]
    from zoo import runs

    model = runs.load_model(run / "model.keras")
    z = np.array([[0.5, -1.0]], np.float32)
    decoder = verify.Runner((tmp_path / "e" / "decoder_float32.tflite").read_bytes())
    np.testing.assert_allclose(decoder.predict(z), np.asarray(model.decode(z)), atol=1e-5)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    return cli_train(tmp_path_factory.mktemp("gan"), "dcgan_mnist", "--epochs", "2", "--set", "judge_epochs=1",
                     "--set", "samples=300")


def test_gan_trains_with_its_judge_scores_and_an_animated_progress_grid(gan_run):
    _, run, stdout = gan_run
    m = json.loads((run / "metrics.json").read_text())
    assert 0 < m["test_confidence"] <= 1 and len(m["test_class_fractions"]) == 10
    assert 0.1 < m["test_confidence_real"] <= 1 and "real test images" in stdout
    assert sum(m["test_class_fractions"]) == pytest.approx(1.0, abs=1e-3)
    assert m["test_min_class_fraction"] == min(m["test_class_fractions"]) and m["test_examples"] == 300
    assert m["test_frechet_distance"] > m["test_frechet_floor"] >= 0 and "best_val_frechet" in m
    assert json.loads((run / "judge.json").read_text())["recipe"] == "cnn_mnist" and (run / "judge.keras").is_file()
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"d_loss", "g_loss", "d_real", "d_fake", "val_d_real", "val_frechet", "val_confidence"} <= set(header)
    assert sorted(p.name for p in (run / "progress").iterdir()) == ["epoch-001.png", "epoch-002.png"]
    from PIL import Image

    with Image.open(run / "training.gif") as gif:
        assert gif.n_frames == 2
    assert (run / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert "not the Inception FID" in stdout


def test_killed_gan_resumes_with_both_optimizers_state(tmp_path, monkeypatch):
    """Interrupted after epoch 1 of 2: the backup restores both networks and both optimizers, and the resumed run
    adds the second epoch's grid to the same GIF."""
    from zoo import callbacks, runs, train

    data = write_mnist_like(tmp_path / "data")
    real = callbacks.RunCheckpoint.on_epoch_end

    def dying(self, epoch, logs=None):
        real(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.RunCheckpoint, "on_epoch_end", dying)
    run = tmp_path / "run"
    args = dict(data_dir=str(data), run_dir=str(run), precision="float32", verbose=0, **QUIET)
    overrides = {"epochs": 2, "filters": 8, "judge_epochs": 1, "samples": 200, "batch_size": 32}
    with pytest.raises(KeyboardInterrupt):
        train.train("dcgan_mnist", overrides=overrides, **args)
    state = json.loads((run / "backup" / "state.json").read_text())
    assert state["epoch"] == 1
    monkeypatch.setattr(callbacks.RunCheckpoint, "on_epoch_end", real)

    import keras

    from zoo import registry
    from zoo.tasks import get_task

    recipe = registry.get("dcgan_mnist")
    hp = dict(recipe.hparams, **overrides)
    saved = runs.load_data(run, runs.load_run(run, need_model=False), recipe, hp, str(data))
    model = recipe.build(hp, saved.info)
    model(np.zeros((1, 28, 28, 1), "float32"))
    get_task("gan").compile(model, hp, 8)
    restore = callbacks.RunCheckpoint(run)
    restore.set_model(model)
    restore.on_train_begin()
    steps = int(np.ceil(saved.info.num_train / 32))
    assert int(model.d_optimizer.iterations) == int(model.g_optimizer.iterations) == steps
    keras.backend.clear_session()

    result = train.train("dcgan_mnist", resume=True, **args)
    assert result.metrics["epochs_run"] == 2
    assert [r.split(",")[0] for r in (run / "history.csv").read_text().splitlines()[1:]] == ["1", "2"]
    assert len(list((run / "progress").glob("epoch-*.png"))) == 2


def test_dcgan_weight_average_starts_as_the_generator_then_trails_it_by_ema():
    import keras

    from zoo.models.gan import DCGAN

    model = DCGAN((28, 28, 1), filters=8, ema=0.75)
    model(np.zeros((1, 28, 28, 1), "float32"))
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).uniform(0, 255, (16, 28, 28, 1)).astype("float32")
    weights = lambda net: [w.numpy().copy() for w in net.weights]  # noqa: E731 (batch-norm statistics included)
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    for average, current in zip(weights(model.average), weights(model.generator)):
        np.testing.assert_array_equal(average, current)
    before = weights(model.average)
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    moved = 0.0
    for old, average, current in zip(before, weights(model.average), weights(model.generator)):
        np.testing.assert_allclose(average, 0.75 * old + 0.25 * current, rtol=1e-5, atol=1e-6)
        moved = max(moved, float(np.abs(average - current).max()))
    assert moved > 0  # the average lags the generator it follows
    np.testing.assert_array_equal(model.generate(np.zeros((1, 64), "float32")),
                                  model.average(np.zeros((1, 64), "float32")) * 255.0)


def test_dcgan_base_convs_deepen_the_generator_at_its_base_resolution_and_survive_saving(tmp_path):
    import keras

    from zoo import runs
    from zoo.models.gan import DCGAN

    model = DCGAN((28, 28, 1), filters=8, base_convs=2)
    model(np.zeros((1, 28, 28, 1), "float32"))
    transposed = [layer for layer in model.generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.strides for layer in transposed] == [(1, 1), (1, 1), (2, 2), (2, 2)]
    assert tuple(transposed[0].compute_output_shape((None, 7, 7, 16))) == (None, 7, 7, 16)
    model.save(tmp_path / "m.keras")
    loaded = runs.load_model(tmp_path / "m.keras")
    z = np.random.default_rng(0).standard_normal((2, 64)).astype("float32")
    assert loaded.base_convs == 2
    np.testing.assert_allclose(np.asarray(loaded.generate(z)), np.asarray(model.generate(z)), atol=1e-4)


def test_dcgan_refuses_a_weight_average_decay_outside_0_to_1_in_one_line():
    from zoo import registry
    from zoo.hparams import resolve

    recipe = registry.get("dcgan_mnist")
    for bad in ("1.0", "-0.1"):
        with pytest.raises(UsageError, match=r"'ema' must be in \[0.0, 1.0\), got"):
            resolve(recipe.name, recipe.hparams, overrides={"ema": bad})
    assert resolve(recipe.name, recipe.hparams, overrides={"ema": "0"})["ema"] == 0.0  # 0 turns the average off


def test_gan_exports_its_generator_and_refuses_nothing_else(gan_run, tmp_path):
    data, run, _ = gan_run
    report = export_cli.export_run(run, variants=["float32", "dynamic"], out=str(tmp_path / "e"), data_dir=str(data),
                                   latency_runs=3, **QUIET)
    assert report["failures"] == {} and set(report["artifacts"]) == {"generator_float32.tflite",
                                                                      "generator_dynamic.tflite"}
    graph = json.loads((tmp_path / "e" / "signature.json").read_text())["graphs"]["generator"]
    assert graph["input"]["kind"] == "noise" and graph["output"]["shape"] == [1, 28, 28, 1]
    from zoo import runs

    model = runs.load_model(run / "model.keras")
    z = np.random.default_rng(1).standard_normal((1, model.noise_dim)).astype(np.float32)
    generator = verify.Runner((tmp_path / "e" / "generator_float32.tflite").read_bytes())
    np.testing.assert_allclose(generator.predict(z) * 255.0, np.asarray(model.generate(z)), atol=1e-3)


def test_tuning_searches_a_gan_on_its_judge_score(gan_run, tmp_path):
    data, _, _ = gan_run
    best = tuning_cli.run_search("dcgan_mnist", tuner="random", max_trials=1, epochs=1, directory=str(tmp_path / "s"),
                                 overrides={"filters": 8, "batch_size": 32, "judge_epochs": 1}, data_dir=str(data),
                                 seed=0, isolate=False, verbose=0, precision="float32", **QUIET)
    assert best["objective"] == "val_frechet" and best["score"] > 0
