"""Faults: SIGKILL at random points, half-written checkpoints, full disks, determinism."""

import csv
import errno
import json
import random
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import write_mnist_like
from zoo import runs, train
from zoo.errors import RunDirError

TINY = ["--set", "filters=4", "--set", "dense_units=8", "--set", "augment_translate=0", "--batch-size", "16",
        "--precision", "float32"]
ROOT = Path(__file__).resolve().parents[1]


def train_cmd(data, run_dir, epochs=5, *extra):
    return [sys.executable, "-m", "zoo.train", "cnn_mnist", "--epochs", str(epochs), *TINY, "--data-dir", str(data),
            "--run-dir", str(run_dir), *extra]


def history_epochs(run_dir):
    with open(run_dir / "history.csv") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def assert_clean_and_complete(run_dir, epochs):
    leftovers = [p for p in run_dir.rglob(".*") if runs.is_temporary(p)]
    assert leftovers == [], leftovers
    assert history_epochs(run_dir) == list(range(1, epochs + 1))
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == epochs
    with zipfile.ZipFile(run_dir / "model.keras") as z:
        assert z.testzip() is None
    assert not (run_dir / "backup").exists()


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow)])  # a second random point: slow set
def test_sigkill_at_a_random_point_then_resume(seed, tmp_path):
    data = write_mnist_like(tmp_path / "data", n_train=1200, n_test=100)
    run_dir = tmp_path / "run"
    # 12 epochs: enough that a kill within 1.5 s of the first finished epoch lands mid-run
    proc = subprocess.Popen(train_cmd(data, run_dir, 12), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run_dir / "history.csv").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)  # wait for the first epoch, then kill somewhere in the following ones
    time.sleep(random.Random(seed).uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if (run_dir / "metrics.json").exists():
        pytest.skip("the run finished before the kill landed")
    # what a user does: the same command again, with --resume added
    resumed = subprocess.run(train_cmd(data, run_dir, 12, "--resume"), cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_clean_and_complete(run_dir, 12)


def test_kill_in_the_middle_of_a_checkpoint_write(tmp_path):
    """The process dies while epoch 2's backup checkpoint is half written: resume finds epoch 1's intact."""
    data = write_mnist_like(tmp_path / "data")
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import os, signal, sys, keras
        from zoo import train
        real_save = keras.Model.save_weights
        calls = []
        def dying_save(self, path, *a, **k):
            calls.append(path)
            if len(calls) == 2:
                real_save(self, path, *a, **k)
                data = open(path, "rb").read()
                open(path, "wb").write(data[: len(data) // 2])   # half written...
                os.kill(os.getpid(), signal.SIGKILL)              # ...and killed
            return real_save(self, path, *a, **k)
        keras.Model.save_weights = dying_save
        sys.exit(train.main({train_cmd(data, run_dir, 4)[3:]!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert any(runs.is_temporary(p) for p in run_dir.rglob(".*"))  # the half-written temporary
    assert json.loads((run_dir / "backup" / "state.json").read_text())["epoch"] == 1
    runs.load_model(run_dir / "model.keras")  # the checkpoint of epoch 1 is intact
    code = train.main(["cnn_mnist", "--resume", "--run-dir", str(run_dir), "--data-dir", str(data)])
    assert code == 0
    assert_clean_and_complete(run_dir, 4)


def test_killed_export_leaves_no_truncated_tflite(tmp_path):
    data = write_mnist_like(tmp_path / "data")
    run_dir = tmp_path / "run"
    assert train.main(train_cmd(data, run_dir, 1)[3:]) == 0
    cmd = [sys.executable, "-m", "export", str(run_dir), "--data-dir", str(data), "--latency-runs", "5"]
    for delay in (6.0, 9.0):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        from export import verify

        for f in (run_dir / "export").glob("model_*.tflite"):
            verify.Runner(f.read_bytes())  # every file that looks finished loads and runs
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [p for p in (run_dir / "export").rglob(".*") if runs.is_temporary(p)] == []
    assert len(list((run_dir / "export").glob("model_*.tflite"))) == 4 * 2  # model and model_rgb (grayscale input)


@pytest.mark.slow  # 55-80 s: the interrupted-search resume logic also runs in test_tuning's default set
def test_killed_search_resumes(tmp_path):
    data = write_mnist_like(tmp_path / "data")
    folder = tmp_path / "search"
    cmd = [sys.executable, "-m", "tuning", "cnn_mnist", "--tuner", "random", "--max-trials", "5", "--epochs", "1",
           "--dir", str(folder), "--data-dir", str(data), "--set", "filters=4", "--set", "dense_units=8",
           "--precision", "float32"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        log = folder / "executions.jsonl"
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(x) for x in (folder / "executions.jsonl").read_text().splitlines()]
    ids = [x["trial"] for x in lines]
    assert len(ids) == len(set(ids)) == 5, ids


def test_full_disk_keeps_what_was_written(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    runs.write_json(target, {"ok": 1})

    def no_space(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(RunDirError) as e:
        runs.write_json(target, {"ok": 2})
    monkeypatch.undo()
    assert "No space left on device" in str(e.value) and "previous version is kept" in str(e.value)
    assert json.loads(target.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_full_disk_during_training_is_one_line_and_resumable(tmp_path, mnist_dir, monkeypatch, capsys):
    import keras

    real_save = keras.Model.save_weights
    calls = []

    def save(self, path, *a, **k):
        calls.append(path)
        if len(calls) == 2:  # epoch 2's backup
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, path, *a, **k)

    run_dir = tmp_path / "run"
    monkeypatch.setattr(keras.Model, "save_weights", save)
    code = train.main(["cnn_mnist", "--epochs", "3", *TINY, "--data-dir", str(mnist_dir), "--run-dir", str(run_dir)])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and "--resume" in err and err.count("\n") == 1
    runs.load_model(run_dir / "model.keras")
    monkeypatch.setattr(keras.Model, "save_weights", real_save)
    assert train.main(["cnn_mnist", "--resume", "--run-dir", str(run_dir), "--data-dir", str(mnist_dir)]) == 0
    assert_clean_and_complete(run_dir, 3)


@pytest.mark.slow  # 25-30 s: two full trainings
def test_deterministic_runs_are_bit_identical(tmp_path, mnist_dir):
    """Two CPU runs with --seed N --deterministic, each in a fresh process, give identical weights."""
    weights = []
    for i in range(2):
        run_dir = tmp_path / f"run{i}"
        cmd = [sys.executable, "-m", "zoo.train", "cnn_mnist", "--epochs", "2", "--seed", "7", "--deterministic",
               "--set", "filters=4", "--set", "dense_units=8", "--data-dir", str(mnist_dir), "--run-dir",
               str(run_dir)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        weights.append(runs.load_model(run_dir / "model.keras").get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    assert sum(w.size for w in weights[0]) > 1000


def test_run_folders_of_other_or_unknown_recipes_are_refused(tmp_path, mnist_dir, capsys):
    from zoo import evaluate

    run_dir = tmp_path / "run"
    assert train.main(["cnn_mnist", "--epochs", "1", *TINY, "--data-dir", str(mnist_dir), "--run-dir",
                       str(run_dir)]) == 0
    capsys.readouterr()
    # resuming it as another recipe
    assert train.main(["mlp_mnist", "--resume", "--run-dir", str(run_dir), "--data-dir", str(mnist_dir)]) == 1
    assert "is a run of cnn_mnist, not mlp_mnist" in capsys.readouterr().err
    # a run of a recipe this version does not know, given to evaluate and export
    hp = json.loads((run_dir / "hparams.json").read_text())
    (run_dir / "hparams.json").write_text(json.dumps({**hp, "recipe": "vit_imagenet"}))
    from export import __main__ as export_cli

    for main in (evaluate.main, export_cli.main):
        assert main([str(run_dir), "--data-dir", str(mnist_dir)]) == 1
        err = capsys.readouterr().err
        assert "is a run of 'vit_imagenet', which this version of zoo does not know" in err and err.count("\n") == 1
