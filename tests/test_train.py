"""The training and evaluation command lines, end to end on synthetic data."""

import csv
import json
import zipfile

import keras
import numpy as np
import pytest

from conftest import write_mnist_like
import zoo
from zoo import callbacks, evaluate, runs, runtime, train
from zoo.errors import TrainingDiverged

TINY = ["--set", "filters=4", "--set", "dense_units=8", "--set", "augment_translate=0", "--batch-size", "32",
        "--precision", "float32"]


def run_cli(main, argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One complete tiny cnn_mnist run shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("run")
    data = write_mnist_like(root / "data")
    code = train.main(["cnn_mnist", "--epochs", "2", *TINY, "--data-dir", str(data),
                       "--run-dir", str(root / "run"), "--seed", "1"])
    assert code == 0
    return root / "run", data


def test_run_folder_has_everything(finished_run):
    run, _ = finished_run
    for name in ("hparams.json", "model.keras", "history.csv", "metrics.json", "classification_report.txt",
                 "confusion_matrix.png", "curves.png", "misclassified.png", "tensorboard"):
        assert (run / name).exists(), name
    assert not (run / "backup").exists()
    saved = json.loads((run / "hparams.json").read_text())
    assert saved["recipe"] == "cnn_mnist" and saved["seed"] == 1 and saved["precision"] == "float32"
    assert saved["hparams"]["filters"] == 4 and saved["hparams"]["epochs"] == 2
    assert {"tensorflow", "keras"} <= set(saved["versions"]) and saved["data"]["num_classes"] == 10
    machine = saved["machine"]  # what the speed numbers depend on: CPU model and flags, cores, GPU
    assert machine["cpu"] == runtime.cpu_model() and machine["cores"] >= 1
    assert machine["cpu_flags"] == [f for f in runtime.SPEED_FLAGS if f in runtime.usable_flags()]
    assert machine["native_bf16"] == bool(runtime.usable_flags() & {"avx512_bf16", "amx_bf16"}) and "gpu" in machine
    assert saved["command"].startswith("python -m zoo.train cnn_mnist --epochs 2")
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "epochs_run", "train_seconds", "train_examples_per_second",
                "test_macro_f1", "best_epoch"):
        assert metrics[key] is not None, key
    assert metrics["epochs_run"] == 2 and 0 <= metrics["test_accuracy"] <= 1
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "val_accuracy" in rows[0]
    report = (run / "classification_report.txt").read_text()
    assert "macro avg" in report and "weighted avg" in report
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_saved_model_loads_and_matches_metrics(finished_run):
    run, data = finished_run
    model = runs.load_model(run / "model.keras")
    assert model.count_params() == json.loads((run / "metrics.json").read_text())["params"]


def test_evaluate_reproduces_the_test_metrics(finished_run, capsys):
    run, data = finished_run
    code, out, _ = run_cli(evaluate.main, [str(run), "--data-dir", str(data)], capsys)
    assert code == 0 and "macro avg" in out
    trained = json.loads((run / "metrics.json").read_text())["test_accuracy"]
    assert f"test accuracy {trained:.4f}" in out


def test_existing_run_folder_is_refused(finished_run, capsys):
    run, data = finished_run
    before = (run / "model.keras").read_bytes()
    code, _, err = run_cli(train.main, ["cnn_mnist", *TINY, "--data-dir", str(data), "--run-dir", str(run)], capsys)
    assert code == 1 and "already exists" in err and "--resume" in err and err.count("\n") == 1
    assert (run / "model.keras").read_bytes() == before


def test_resume_of_finished_run_is_refused(finished_run, capsys):
    run, data = finished_run
    code, _, err = run_cli(train.main, ["cnn_mnist", "--resume", "--run-dir", str(run), "--data-dir", str(data)],
                           capsys)
    assert code == 1 and "finished already" in err and "zoo.evaluate" in err


@pytest.mark.parametrize("argv,message", [
    (["cnn_mnst"], "unknown recipe 'cnn_mnst'. Did you mean 'cnn_mnist'? Known recipes: ae_mnist, bilstm_imdb, cnn_cifar10"),
    (["cnn_mnist", "--set", "dropuot=0.1"], "unknown hyperparameter 'dropuot' for cnn_mnist (did you mean 'dropout'?)"),
    (["cnn_mnist", "--set", "epochs=many"], "'epochs' expects int"),
    (["cnn_mnist", "--epochs", "0"], "'epochs' must be in [1, inf)"),
    (["cnn_mnist", "--epochs", "-3"], "'epochs' must be in [1, inf)"),
    (["cnn_mnist", "--set", "optimizer=adamm"], "'optimizer' must be one of adam, adamw, sgd, rmsprop"),
    ([], "name a recipe to train"),
])
def test_usage_errors_are_one_line_with_exit_2(argv, message, capsys, tmp_path, mnist_dir):
    argv = argv + ["--data-dir", str(mnist_dir), "--run-dir", str(tmp_path / "r")] if argv else argv
    code, _, err = run_cli(train.main, argv, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err
    assert not (tmp_path / "r").exists()  # a refused command creates nothing


def test_missing_data_is_a_clear_error(capsys, tmp_path):
    code, _, err = run_cli(train.main, ["cnn_mnist", *TINY, "--data-dir", str(tmp_path / "nothing"),
                                        "--run-dir", str(tmp_path / "r")], capsys)
    assert code == 1 and "mnist not found. Looked in: " in err and str(tmp_path / "nothing") in err
    assert not (tmp_path / "r").exists()


def test_list_prints_one_line_per_recipe(capsys):
    code, out, _ = run_cli(train.main, ["--list"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == len(__import__("zoo").list_recipes())
    assert any(line.startswith("cnn_mnist ") and "classification" in line for line in lines)


def test_evaluate_refuses_non_runs_and_corrupt_models(tmp_path, finished_run, capsys):
    code, _, err = run_cli(evaluate.main, [str(tmp_path)], capsys)
    assert code == 1 and "not a run folder" in err
    run, data = finished_run
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "hparams.json").write_text((run / "hparams.json").read_text())
    (broken / "model.keras").write_bytes((run / "model.keras").read_bytes()[:500])
    code, _, err = run_cli(evaluate.main, [str(broken), "--data-dir", str(data)], capsys)
    assert code == 1 and "cannot load" in err and "damaged" in err and err.count("\n") == 1
    (broken / "hparams.json").write_text("{not json")
    code, _, err = run_cli(evaluate.main, [str(broken)], capsys)
    assert code == 1 and "not valid JSON" in err


def test_killed_run_resumes_and_finishes_all_epochs(tmp_path, mnist_dir, monkeypatch):
    """Interrupt after epoch 2 of 4 (as a kill would), then --resume: 4 epochs, each once in history."""
    real = callbacks.RunCheckpoint.on_epoch_end

    def dying(self, epoch, logs=None):
        real(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.RunCheckpoint, "on_epoch_end", dying)
    run = tmp_path / "run"
    args = dict(data_dir=str(mnist_dir), run_dir=str(run), precision="float32", verbose=0, log=lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        train.train("cnn_mnist", overrides={"epochs": 4, "filters": 4, "dense_units": 8, "batch_size": 32}, **args)
    state = json.loads((run / "backup" / "state.json").read_text())
    assert state["epoch"] == 2 and (run / "backup" / state["weights"]).is_file()
    assert not (run / "metrics.json").exists()
    with zipfile.ZipFile(run / "model.keras") as z:
        assert z.testzip() is None
    leftovers = [p.name for p in run.rglob("*") if ".tmp" in p.name]
    assert leftovers == []

    monkeypatch.setattr(callbacks.RunCheckpoint, "on_epoch_end", real)
    result = train.train("cnn_mnist", resume=True, **args)
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert result.metrics["epochs_run"] == 4 and result.hparams["filters"] == 4


def _interrupt_after_epoch(monkeypatch, last):
    real = callbacks.RunCheckpoint.on_epoch_end

    def dying(self, epoch, logs=None):
        real(self, epoch, logs)
        if epoch == last - 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.RunCheckpoint, "on_epoch_end", dying)
    return lambda: monkeypatch.setattr(callbacks.RunCheckpoint, "on_epoch_end", real)


def test_resume_accepts_the_command_that_started_the_run(tmp_path, mnist_dir, capsys, monkeypatch):
    """Up-arrow, add --resume: the options of the original command are accepted when their values agree."""
    start = ["mlp_mnist", "--epochs", "3", "--set", "units=16", "--batch-size", "32", "--seed", "1",
             "--precision", "float32", "--data-dir", str(mnist_dir), "--run-dir", str(tmp_path / "run")]
    undo = _interrupt_after_epoch(monkeypatch, 2)
    code, _, err = run_cli(train.main, start, capsys)
    assert code == 130 and "continue with: python -m zoo.train mlp_mnist --epochs 3" in err and "--resume" in err
    undo()
    code, _, err = run_cli(train.main, start + ["--resume"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    saved = json.loads((tmp_path / "run" / "hparams.json").read_text())
    assert saved["seed"] == 1 and saved["hparams"]["units"] == 16


@pytest.mark.parametrize("change,message", [
    (["--epochs", "5"], "epochs is 3 in the run, 5 on the command line (the learning-rate schedule was laid out"),
    (["--set", "units=32"], "units is 16 in the run, 32 on the command line"),
    (["--seed", "2"], "--seed is 1 in the run, 2 on the command line"),
    (["--precision", "mixed_bfloat16"], "--precision is 'float32' in the run, 'mixed_bfloat16' on the command line"),
])
def test_resume_refuses_a_changed_setting_naming_it(change, message, tmp_path, mnist_dir, capsys, monkeypatch):
    run = tmp_path / "run"
    start = ["mlp_mnist", "--epochs", "3", "--set", "units=16", "--batch-size", "32", "--seed", "1",
             "--precision", "float32", "--data-dir", str(mnist_dir), "--run-dir", str(run)]
    _interrupt_after_epoch(monkeypatch, 1)
    assert run_cli(train.main, start, capsys)[0] == 130
    before = (run / "backup" / "state.json").read_text()
    code, _, err = run_cli(train.main, start + change + ["--resume"], capsys)
    assert code == 2 and err.startswith("error: --resume continues a run with the settings it started with")
    assert message in err and err.count("\n") == 1
    assert (run / "backup" / "state.json").read_text() == before  # nothing touched


def test_resume_restores_weights_and_optimizer_state(tmp_path, mnist_dir):
    import zoo

    r = zoo.get("cnn_mnist")
    hp = dict(r.hparams, filters=4, dense_units=8, batch_size=32, augment_translate=0.0, epochs=1)
    data = r.data(hp, data_dir=str(mnist_dir))
    from zoo.tasks import get_task

    def fresh():
        m = r.build(hp, data.info)
        m(np.zeros((1, 28, 28, 1), "float32"))
        get_task("classification").compile(m, hp, 8)
        return m

    model = fresh()
    ck = callbacks.RunCheckpoint(tmp_path)
    model.fit(data.train, validation_data=data.val, epochs=1, callbacks=[ck], verbose=0, shuffle=False)
    other = fresh()
    callbacks.RunCheckpoint(tmp_path).set_model(other)
    ck2 = callbacks.RunCheckpoint(tmp_path)
    ck2.set_model(other)
    ck2.on_train_begin()
    assert other._initial_epoch == 1
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(other.optimizer.iterations) == int(model.optimizer.iterations) > 0


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_model(tmp_path, mnist_dir):
    run = tmp_path / "run"
    common = dict(data_dir=str(mnist_dir), run_dir=str(run), precision="float32", verbose=0, log=lambda s: None)
    real = callbacks.NaNGuard.on_train_batch_end

    def poisoned(self, batch, logs=None):  # the loss turns NaN at epoch 2, step 3
        if self.epoch == 1 and batch == 2:
            logs = {**(logs or {}), "loss": float("nan")}
        real(self, batch, logs)

    callbacks.NaNGuard.on_train_batch_end = poisoned
    try:
        with pytest.raises(TrainingDiverged) as e:
            train.train("cnn_mnist", overrides={"epochs": 3, "filters": 4, "dense_units": 8, "batch_size": 32,
                                                "steps_per_execution": 1},  # the guard then sees every step
                        **common)
    finally:
        callbacks.NaNGuard.on_train_batch_end = real
    assert "epoch 2, step 3" in str(e.value) and "(epoch 1)" in str(e.value) and "learning_rate" in str(e.value)
    runs.load_model(run / "model.keras")  # the last good checkpoint is still loadable


def test_huge_learning_rate_really_diverges(tmp_path, mnist_dir):
    with pytest.raises(TrainingDiverged, match="NaN/inf at epoch 1"):
        train.train("mlp_mnist", overrides={"epochs": 1, "units": 16, "learning_rate": 1e30, "optimizer": "sgd",
                                            "lr_schedule": "constant"},
                    data_dir=str(mnist_dir), run_dir=str(tmp_path / "r"), precision="float32", verbose=0,
                    log=lambda s: None)


def test_precision_auto(monkeypatch):
    monkeypatch.setattr(runtime, "gpu_compute_capability", lambda: None)
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert runtime.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"amx_bf16"})
    assert runtime.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2"})
    assert runtime.resolve_precision("auto") == "float32"
    monkeypatch.setattr(runtime, "gpu_compute_capability", lambda: (8, 0))
    assert runtime.resolve_precision("auto") == "mixed_float16"
    monkeypatch.setattr(runtime, "gpu_compute_capability", lambda: (6, 1))
    assert runtime.resolve_precision("auto") == "float32"
    assert runtime.resolve_precision("float32") == "float32"


def test_mixed_precision_run_saves_a_model_with_float32_outputs(tmp_path, mnist_dir):
    result = train.train("cnn_mnist", overrides={"epochs": 1, "filters": 4, "dense_units": 8, "batch_size": 32},
                         data_dir=str(mnist_dir), run_dir=str(tmp_path / "r"), precision="mixed_bfloat16",
                         verbose=0, log=lambda s: None)
    keras.mixed_precision.set_global_policy("float32")
    model = runs.load_model(result.run_dir / "model.keras")
    out = model(np.zeros((2, 28, 28, 1), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert json.loads((result.run_dir / "hparams.json").read_text())["precision"] == "mixed_bfloat16"


def test_show_prints_final_hparams_and_space_without_training(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = zoo.get("cnn_mnist").hparams["dropout"]
    code, out, _ = run_cli(train.main, ["cnn_mnist", "--show", "--set", "dropout=0.45"], capsys)
    assert code == 0 and f"dropout                  0.45  (default {default!r})  type=float" in out
    assert "learning_rate" in out and not (tmp_path / "runs").exists()
