"""Using trained runs: zoo.predict on image files, zoo.explain (Grad-CAM), zoo.ensemble and its export."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import QUIET_TRAIN, write_cifar_like, write_mnist_like
from export import __main__ as export_cli
from zoo import ensemble, evaluate, explain, predict, runs, train
from zoo.run import Run

ROOT = Path(__file__).resolve().parents[1]
CIFAR_TINY = {"epochs": 2, "filters": 8, "dense_units": 16, "batch_size": 32, "augment_crop": 0}


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("use")
    data = write_cifar_like(root / "data")
    run_dirs = [train.train("cnn_cifar10", overrides=CIFAR_TINY, data_dir=str(data), run_dir=str(root / f"run{s}"),
                            seed=s, **QUIET_TRAIN).run_dir for s in (0, 1)]
    return root, data, run_dirs


def write_image(path, pixels):
    encode = tf.io.encode_jpeg if str(path).endswith(".jpg") else tf.io.encode_png
    path.write_bytes(encode(tf.constant(pixels, tf.uint8)).numpy())
    return path


def test_predict_prints_top_labels_and_names_bad_files(cifar, tmp_path, capsys):
    root, data, (run, _) = cifar
    x_test = np.concatenate([x.numpy() for x, _ in Run(run).recipe.data(
        json.loads((run / "hparams.json").read_text())["hparams"], data_dir=str(data)).test])
    png = write_image(tmp_path / "a.png", x_test[0].astype(np.uint8))
    big = write_image(tmp_path / "big.jpg", np.kron(x_test[1], np.ones((3, 3, 1))).astype(np.uint8))  # 96x96
    gray = write_image(tmp_path / "gray.png", x_test[2, ..., :1].astype(np.uint8))  # one channel -> RGB
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    code = predict.main([str(run), str(png), str(junk), str(big), str(tmp_path / "missing.png"), str(gray),
                         "--top", "3"])
    out, err = capsys.readouterr()
    assert code == 1
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [str(png), str(big), str(gray)]
    assert all(len(line.split(":", 1)[1].split(",")) == 3 for line in lines)
    assert err.splitlines() == [f"error: {junk}: not a PNG, JPEG, GIF or BMP image",
                                f"error: {tmp_path / 'missing.png'}: no such file"]
    model = runs.load_model(run / "model.keras")
    probs = np.asarray(model(x_test[:1]))[0]
    labels = json.loads((run / "hparams.json").read_text())["data"]["class_names"]
    assert lines[0].split(": ")[1].startswith(f"{labels[int(probs.argmax())]} {probs.max():.3f}")


def test_predict_as_a_user_runs_it(cifar, tmp_path):
    _, _, (run, _) = cifar
    png = write_image(tmp_path / "x.png", np.full((32, 32, 3), 128, np.uint8))
    done = subprocess.run([sys.executable, "-m", "zoo.predict", str(run), str(png), "--top", "2"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith(f"{png}: ") and done.stdout.count(",") == 1


def test_predict_converts_colour_to_a_grayscale_model(tmp_path, capsys):
    data = write_mnist_like(tmp_path / "mnist", n_train=96, n_test=32)
    run = train.train("cnn_mnist", overrides={"epochs": 1, "filters": 4, "dense_units": 8, "batch_size": 32},
                      data_dir=str(data), run_dir=str(tmp_path / "run"), **QUIET_TRAIN).run_dir
    colour = write_image(tmp_path / "c.png", np.zeros((56, 40, 3), np.uint8))
    assert predict.main([str(run), str(colour), "--invert"]) == 0
    assert capsys.readouterr().out.startswith(f"{colour}: ")
    assert predict.read_image(colour, (28, 28, 1), invert=True).min() == 255.0


def test_explain_writes_a_grad_cam_grid(cifar, tmp_path, capsys):
    _, data, (run, _) = cifar
    assert explain.main([str(run), "--samples", "6", "--data-dir", str(data), "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    model = runs.load_model(run / "model.keras")
    x = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3)).astype("float32")
    cams, pred, conf = explain.grad_cam(model, x)
    assert cams.shape == (5, 32, 32) and cams.min() >= 0 and cams.max() <= 1
    np.testing.assert_array_equal(pred, np.asarray(model(x)).argmax(1))
    np.testing.assert_allclose(conf, np.asarray(model(x)).max(1), rtol=1e-5)
    assert all("call" not in vars(layer) for layer in model.layers)  # the recording hooks are gone afterwards
    img = write_image(tmp_path / "cat.png", np.full((32, 32, 3), 90, np.uint8))
    assert explain.main([str(run), "--image", str(img), "--out", str(tmp_path / "cat_cam.png")]) == 0
    assert (tmp_path / "cat_cam.png").is_file()


def test_explain_refuses_a_model_without_convolutions(tmp_path, capsys):
    data = write_mnist_like(tmp_path / "mnist", n_train=96, n_test=32)
    run = train.train("mlp_mnist", overrides={"epochs": 1, "units": 8}, data_dir=str(data),
                      run_dir=str(tmp_path / "run"), **QUIET_TRAIN).run_dir
    code = explain.main([str(run), "--data-dir", str(data), "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert code == 2 and "MLP has no convolution" in err and err.count("\n") == 1
    assert not (tmp_path / "g.png").exists()


def test_ensemble_averages_members_and_exports_as_one_graph(cifar, tmp_path, capsys):
    root, data, members = cifar
    out = tmp_path / "ens"
    assert ensemble.main([*map(str, members), "--out", str(out), "--data-dir", str(data)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    accs = [json.loads((m / "metrics.json").read_text())["test_accuracy"] for m in members]
    assert [m["test_accuracy"] for m in metrics["members"]] == pytest.approx(accs)
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in printed and "vs the best member" in printed
    for name in ("hparams.json", "model.keras", "members.csv", "classification_report.txt", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    model = runs.load_model(out / "model.keras")
    x = np.random.default_rng(1).integers(0, 255, (4, 32, 32, 3)).astype("float32")
    mean = np.mean([np.asarray(runs.load_model(m / "model.keras")(x)) for m in members], axis=0)
    np.testing.assert_allclose(np.asarray(model(x)), mean, atol=1e-6)
    assert evaluate.main([str(out), "--data-dir", str(data)]) == 0  # the folder is a run folder to every tool
    capsys.readouterr()
    report = export_cli.export_run(out, variants=["float32", "int8"], data_dir=str(data), latency_runs=3,
                                   log=lambda s: None)
    assert report["failures"] == {}
    assert report["artifacts"]["model_float32.tflite"]["max_abs_diff_vs_keras"] <= 1e-5
    assert report["artifacts"]["model_int8.tflite"]["argmax_agreement_vs_keras"] >= 0.9
    signature = json.loads((out / "export" / "signature.json").read_text())
    assert signature["ensemble_of"] == [str(m) for m in members]


def test_ensemble_refuses_odd_members(cifar, tmp_path, capsys):
    root, data, members = cifar
    mnist = write_mnist_like(tmp_path / "mnist", n_train=96, n_test=32)
    other = train.train("cnn_mnist", overrides={"epochs": 1, "filters": 4, "dense_units": 8}, data_dir=str(mnist),
                        run_dir=str(tmp_path / "m"), **QUIET_TRAIN).run_dir
    code = ensemble.main([str(members[0]), str(other), "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err
    assert code == 2 and f"{other} does not fit the ensemble: its dataset is 'mnist'" in err
    assert err.count("\n") == 1 and not (tmp_path / "e").exists()
    code = ensemble.main([str(members[0]), str(members[0]), "--out", str(tmp_path / "e")])
    assert code == 2 and "the same run folder is given twice" in capsys.readouterr().err


def test_explain_refuses_runs_whose_inputs_are_not_images(cifar, tmp_path, capsys):
    import shutil

    _, _, (run, _) = cifar
    fake = tmp_path / "text_run"
    shutil.copytree(run, fake)
    saved = json.loads((fake / "hparams.json").read_text())
    saved["data"].update(name="imdb_reviews", input_shape=[200], input_kind="tokens")
    (fake / "hparams.json").write_text(json.dumps(saved))
    assert explain.main([str(fake)]) == 2
    err = capsys.readouterr().err
    assert "whose inputs are not images (shape [200])" in err and "Grad-CAM works on image models" in err