"""`--strategy`: TensorFlow's data-parallel strategies, and a two-worker MultiWorkerMirroredStrategy run on localhost
started the way docs/training.md tells a user to (one `python -m zoo.train` per worker, $TF_CONFIG naming the cluster)."""

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_mnist_like
from zoo import distribute
from zoo.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
# No dropout: a replica's random masks are its own, and without them one worker's run and two workers' runs
# differ only by the order of floating-point sums.
SMALL = ["mlp_mnist", "--set", "units=64", "--set", "depth=1", "--set", "dropout=0.0", "--set", "learning_rate=3e-4",
         "--batch-size", "64", "--precision", "float32"]


def start_worker(index, cluster, args, tmp_path, tag):
    env = {**os.environ, "TMPDIR": str(tmp_path / f"tmp{index}"), "TF_CPP_MIN_LOG_LEVEL": "2",
           "TF_CONFIG": cluster[index]}
    (tmp_path / f"tmp{index}").mkdir(exist_ok=True)
    log = open(tmp_path / f"{tag}-worker{index}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "zoo.train", *args, "--strategy", "multi_worker"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def finish(procs, tmp_path, tag, timeout=300):
    codes = [p.wait(timeout=timeout) for p in procs]
    logs = [(tmp_path / f"{tag}-worker{i}.log").read_text() for i in range(len(procs))]
    return codes, logs


def history(run_dir):
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # two workers, a kill and a resume: 80-170 s on 2 cores; `pytest -m slow` (and CI) run it
def test_two_workers_split_the_batch_match_one_process_only_the_chief_writes_and_a_killed_worker_resumes(tmp_path):
    data = write_mnist_like(tmp_path / "data", n_train=1280, n_test=200)
    one = tmp_path / "one"
    single = subprocess.run([sys.executable, "-m", "zoo.train", *SMALL, "--epochs", "3", "--data-dir", str(data),
                             "--run-dir", str(one)], cwd=ROOT, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-2000:]

    # 1. A whole two-worker run.
    two = tmp_path / "two"
    args = [*SMALL, "--epochs", "3", "--data-dir", str(data), "--run-dir", str(two)]
    cluster = distribute.localhost_cluster(2)
    codes, logs = finish([start_worker(i, cluster, args, tmp_path, "two") for i in range(2)], tmp_path, "two")
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    assert "2 workers, 2 replicas; each step splits the global batch of 64 into 32 examples per replica" in logs[0]
    assert f"worker finished training; the chief evaluates the run and writes {two}" in logs[1]
    assert not any("unhealthy" in log or "crashed" in log for log in logs)  # the workers left together
    assert not any("eagerly has significant overhead" in log for log in logs)
    metrics = json.loads((two / "metrics.json").read_text())
    reference = json.loads((one / "metrics.json").read_text())
    assert metrics["replica_batch"] == 32  # measured on the first batch a replica received
    assert json.loads((two / "hparams.json").read_text())["distribution"] == {
        "strategy": "multi_worker", "workers": 2, "replicas": 2, "global_batch": 64}
    # The same number of steps: 1,152 training images / 64 = 18 per epoch on each worker, not 36.
    assert "18/18" in logs[1] and "36/36" not in logs[1]
    assert abs(metrics["test_accuracy"] - reference["test_accuracy"]) <= 0.02, (metrics, reference)
    assert metrics["test_loss"] == pytest.approx(reference["test_loss"], rel=0.25, abs=0.02), (metrics, reference)
    # Only the chief wrote: one TensorBoard event file per split, and the other worker's scratch folder is gone.
    assert len(list((two / "tensorboard" / "train").glob("events.*"))) == 1
    assert list((tmp_path / "tmp1").iterdir()) == []
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())

    # 2. Worker 1 killed in the second epoch: the chief stops with a one-line error; restarted, both resume.
    killed = tmp_path / "killed"
    args = [*SMALL, "--epochs", "4", "--data-dir", str(data), "--run-dir", str(killed)]
    cluster = distribute.localhost_cluster(2)
    procs = [start_worker(i, cluster, args, tmp_path, "killed") for i in range(2)]
    deadline = time.time() + 180
    while not (killed / "backup" / "state.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    procs[1].kill()
    codes, logs = finish(procs, tmp_path, "killed")
    assert codes[0] == 1, logs[0][-2000:]
    error = [line for line in logs[0].splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "a worker of this 2-worker run stopped" in error[0] and "--resume" in error[0], error
    assert not (killed / "metrics.json").exists()
    finished = json.loads((killed / "backup" / "state.json").read_text())["epoch"]
    assert 1 <= finished < 4

    cluster = distribute.localhost_cluster(2)
    codes, logs = finish([start_worker(i, cluster, [*args, "--resume"], tmp_path, "resumed") for i in range(2)],
                         tmp_path, "resumed")
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    assert f"Epoch {finished + 1}/4" in logs[1] and f"Epoch {finished}/4" not in logs[1]  # the worker resumed too
    assert [int(row["epoch"]) for row in history(killed)] == [1, 2, 3, 4]
    assert json.loads((killed / "metrics.json").read_text())["epochs_run"] == 4
    assert not (killed / "backup").exists()


def test_multi_worker_needs_a_cluster_and_a_shared_run_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UsageError, match=r"\$TF_CONFIG, which is not set"):
        distribute.make("multi_worker", replicable=True)
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}')
    with pytest.raises(UsageError, match="not a valid cluster description"):
        distribute.make("multi_worker", replicable=True)
    with pytest.raises(UsageError, match="--strategy must be one of auto, default, mirrored, multi_worker"):
        distribute.make("horovod", replicable=True)
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, '
                                    '"task": {"type": "worker", "index": 1}}')
    with pytest.raises(UsageError, match="not written for several replicas"):
        distribute.make("multi_worker", replicable=False)


def test_the_command_line_refuses_multi_worker_without_a_run_dir(tmp_path):
    env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                                                  "task": {"type": "worker", "index": 0}})}
    done = subprocess.run([sys.executable, "-m", "zoo.train", "mlp_mnist", "--strategy", "multi_worker"], cwd=tmp_path,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: --strategy multi_worker needs --run-dir DIR")
    assert not (tmp_path / "runs").exists()


def test_chief_is_the_chief_task_else_worker_zero():
    workers = {"worker": ["a:1", "b:1"]}
    assert distribute.is_chief({"cluster": workers, "task": {"type": "worker", "index": 0}})
    assert not distribute.is_chief({"cluster": workers, "task": {"type": "worker", "index": 1}})
    with_chief = {"chief": ["c:1"], **workers}
    assert distribute.is_chief({"cluster": with_chief, "task": {"type": "chief", "index": 0}})
    assert not distribute.is_chief({"cluster": with_chief, "task": {"type": "worker", "index": 0}})
