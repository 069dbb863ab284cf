"""Data-parallel training on TensorFlow's own engine (`tf.distribute`), for `python -m zoo.train --strategy`.

    auto          MirroredStrategy when the machine has more than one GPU, else TensorFlow's default strategy
    default       one device, no replicas
    mirrored      MirroredStrategy: one replica per local GPU (one CPU replica without a GPU)
    multi_worker  MultiWorkerMirroredStrategy, one process per machine, configured by $TF_CONFIG

With several replicas, `batch_size` is the global batch: every step splits it across the replicas and averages
their gradients, so a run's hyperparameters mean the same on one machine and on several. Every worker of a
multi-worker run is started with the same command line and `--run-dir` on storage they all see; only the chief
(the `chief` task, else worker 0) writes there. The others write into a scratch folder they delete at the end,
and on `--resume` they restore the chief's last finished epoch from the run folder's `backup/`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from zoo.errors import UsageError, WorkerLost

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


class Distribution:
    """The strategy a run trains under and this process's place in it."""

    def __init__(self, name: str, strategy, chief: bool, workers: int):
        self.name = name  # the resolved name: default, mirrored or multi_worker
        self.strategy = strategy
        self.chief = chief
        self.workers = workers

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def scope(self):
        return self.strategy.scope()

    def barrier(self) -> None:
        """Wait for every worker (a tiny all-reduce), so none leaves while another still needs the cluster: a
        worker that exits early is reported by the coordination service as crashed."""
        if self.workers > 1:
            import tensorflow as tf

            @tf.function  # run eagerly, a collective prints TensorFlow's "significant overhead" warning
            def everyone():
                return self.strategy.run(lambda: tf.constant(1.0))

            self.strategy.reduce("SUM", everyone(), axis=None)

    def steps_per_execution(self, wanted: int) -> int:
        """Optimizer steps per training call under this strategy: Keras 3.15's multi-step loop fails under
        MultiWorkerMirroredStrategy (InvalidArgumentError at its while/cond placeholders), so a run with more
        than one process or replica takes one step per call."""
        return wanted if self.replicas == 1 and self.workers == 1 else 1

    def describe(self, global_batch: int) -> str:
        if self.replicas == 1 and self.workers == 1:
            return f"strategy {self.name}: one replica, batch {global_batch}"
        where = f"{self.workers} workers" if self.workers > 1 else "one worker"
        return (f"strategy {self.name}: {where}, {self.replicas} replicas; each step splits the global batch of "
                f"{global_batch} into {global_batch // self.replicas} examples per replica")

    def to_json(self, global_batch: int) -> dict:
        return {"strategy": self.name, "workers": self.workers, "replicas": self.replicas,
                "global_batch": global_batch}


def tf_config() -> dict:
    """$TF_CONFIG, checked: `{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}`."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UsageError("--strategy multi_worker reads the cluster from $TF_CONFIG, which is not set; see "
                         "docs/training.md, 'Training on several GPUs or machines', for the two-machine example")
    form = '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": N}}'
    try:
        config = json.loads(text)
    except ValueError as e:
        raise UsageError(f"$TF_CONFIG is not a valid cluster description (not JSON: {e}); it needs {form}") from None
    problem = _tf_config_problem(config)
    if problem:
        raise UsageError(f"$TF_CONFIG is not a valid cluster description: {problem}; it needs {form}")
    return config


ROLES = ("chief", "worker")  # the task types MultiWorkerMirroredStrategy trains with


def _tf_config_problem(config) -> Optional[str]:
    """What is wrong with a parsed $TF_CONFIG for multi-worker training, or None."""
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) or \
            not isinstance(config.get("task"), dict):
        return "expected an object with a 'cluster' object and a 'task' object"
    cluster, task = config["cluster"], config["task"]
    unknown = sorted(set(cluster) - set(ROLES))
    if unknown:
        return f"cluster task type(s) {', '.join(map(repr, unknown))} are not trained by --strategy multi_worker " \
               f"(it uses {' and '.join(ROLES)})"
    if not cluster.get("worker") and not cluster.get("chief"):
        return "the cluster lists no worker"
    for role, members in cluster.items():
        if not isinstance(members, list) or not all(isinstance(m, str) and re.fullmatch(r"\S+:\d{1,5}", m)
                                                    for m in members):
            return f"cluster.{role} must be a list of 'host:port' strings, got {json.dumps(members)[:80]}"
    if len(cluster.get("chief") or []) > 1:
        return "a cluster has at most one chief"
    role, index = task.get("type"), task.get("index")
    if role not in cluster:
        return f"task.type {role!r} is not one of the cluster's task types ({', '.join(cluster)})"
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[role]):
        return f"task.index must be a whole number from 0 to {len(cluster[role]) - 1} (the {role} list), got {index!r}"
    return None


def localhost_cluster(workers: int) -> list[str]:
    """$TF_CONFIG for each of `workers` processes on this machine (free ports found now): trying multi-worker
    training, benchmarks and tests."""
    import socket

    sockets = [socket.socket() for _ in range(workers)]
    for s in sockets:
        s.bind(("localhost", 0))
    hosts = [f"localhost:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}) for i in range(workers)]


def is_chief(config: dict) -> bool:
    task = config["task"]
    has_chief = bool(config["cluster"].get("chief"))
    return task["type"] == "chief" or (not has_chief and task["type"] == "worker" and int(task["index"]) == 0)


def make(name: str, replicable: bool, log=print) -> Distribution:
    """The strategy `name` asks for. `replicable` is False for tasks whose training step does not scale its loss
    for replicas (custom `train_step`s): those train only where one replica does the work."""
    if name not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    from zoo.runtime import import_tensorflow

    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 and replicable else "default"
    if name == "default":
        return Distribution("default", tf.distribute.get_strategy(), chief=True, workers=1)
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        _refuse_replicas(strategy.num_replicas_in_sync, replicable)
        return Distribution("mirrored", strategy, chief=True, workers=1)
    config = tf_config()
    _refuse_replicas(2, replicable)
    _patch_keras_for_multi_worker()
    workers = sum(len(config["cluster"].get(kind, [])) for kind in ("chief", "worker"))
    log(f"waiting for the {workers} workers in $TF_CONFIG to start (this is {config['task']['type']} "
        f"{config['task']['index']})")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Distribution("multi_worker", strategy, chief=is_chief(config), workers=workers)


def _refuse_replicas(replicas: int, replicable: bool) -> None:
    if replicas > 1 and not replicable:
        raise UsageError("this recipe's training step (its own train_step) is not written for several replicas; "
                         "train it with --strategy default")


def shard_by_data(dataset):
    """Every worker reads the whole (seeded, identically shuffled) pipeline and keeps its part of each global batch;
    sharding by file would give a worker whole files, or none where there are fewer files than workers."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def worker_folder(run_dir: Path, resume: bool) -> Path:
    """A scratch folder for a worker that is not the chief: its callbacks write there (the run folder is the
    chief's); with `resume` it starts from a copy of the run folder's training state."""
    from zoo import runs

    scratch = Path(tempfile.mkdtemp(prefix="zoo-worker-"))
    if resume:
        shutil.copytree(Path(run_dir) / runs.BACKUP, scratch / runs.BACKUP)
    return scratch


@contextlib.contextmanager
def worker_loss_explained(dist: Distribution, run_dir):
    """In a multi-worker run, a peer that stops (killed, preempted, out of memory) aborts the collective ops of all
    the others: say so in one line, with the command that resumes the run."""
    if dist.workers == 1:
        yield
        return
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError,
            tf.errors.AbortedError, tf.errors.InternalError) as e:
        peer = re.search(r"/job:\w+/replica:\d+/task:\d+", str(e))
        which = f"{type(e).__name__} from {peer.group(0)}" if peer else type(e).__name__
        raise WorkerLost(f"a worker of this {dist.workers}-worker run stopped ({which}); {run_dir} keeps the last "
                         "finished epoch: start every worker again with its command plus --resume") from None


_patched = False


def _patch_keras_for_multi_worker() -> None:
    """Two fixes Keras 3.15's TensorFlow trainer needs before `fit` runs under MultiWorkerMirroredStrategy
    (keras-team/keras#20585; Keras 3 documents MirroredStrategy only):

    - `_maybe_symbolic_build` averages the first batch across workers to learn its shapes; the collective reduce
      refuses that batch. Its shapes are one replica's, so take that replica's tensors instead (and note the
      replica's batch size: the measured split of the global batch).
    - `reduce_per_replica` averages every step's scalar logs across workers along axis 0, which scalars do not
      have; average them as scalars.
    """
    global _patched
    if _patched:
        return
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = next(it)
                break
        strategy = self.distribute_strategy

        def one_replica(value):
            if isinstance(value, tf.distribute.DistributedValues):
                return strategy.experimental_local_results(value)[0]
            return value

        data_batch = tree.map_structure(one_replica, data_batch)
        first = tree.flatten(data_batch)[0]
        self._zoo_replica_batch = int(first.shape[0]) if first.shape.rank else None
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    _patched = True
