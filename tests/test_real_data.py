"""Opt-in checks on the real datasets (`pytest -m slow`); the benchmarks measure the targets."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from zoo.data import images
from zoo.train import train

pytestmark = pytest.mark.slow


def test_bundled_mnist_loads_with_the_published_label_counts():
    (x_train, y_train, x_test, y_test), where = images.MNIST.load_arrays()
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(map(int, (y_test == 1).sum(keepdims=True))) == [1135]


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_the_debian_package():
    (x_train, _, x_test, _), where = images.FASHION_MNIST.load_arrays()
    assert where.startswith("/usr/share/datasets/fashion-mnist") and len(x_train) == 60000 and len(x_test) == 10000


def test_one_epoch_of_cnn_mnist_on_real_mnist(tmp_path):
    result = train("cnn_mnist", overrides={"epochs": 1}, run_dir=str(tmp_path / "run"), verbose=0,
                   log=lambda s: None)
    assert result.metrics["test_accuracy"] >= 0.98


SHARED_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"


@pytest.mark.skipif(not SHARED_CIFAR.is_dir(), reason="the staged CIFAR-10 copy (../shared/data/cifar10) is absent")
def test_staged_cifar10_reads_as_its_readme_says():
    """The staged copy's published sha256 of the arrays, read through the zoo's own (restricted) reader."""
    (x_train, y_train, x_test, y_test), where = images.CIFAR10.load_arrays(str(SHARED_CIFAR))
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert hashlib.sha256(x_train.tobytes()).hexdigest().startswith("5aaf8a2cf2e577ff4dbb15e4f368840f")
    assert hashlib.sha256(y_test.astype("uint8").tobytes()).hexdigest().startswith("bcb0228c70fcd46ed2fcaa2447a1b211")
    assert list(y_train[:10]) == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]


SHARED_IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"


@pytest.mark.skipif(not SHARED_IMDB.is_dir(), reason="the staged IMDB copy (../shared/data/imdb) is absent")
def test_staged_imdb_reads_as_its_readme_says():
    from zoo.data import text

    ((x_train, y_train), (x_test, y_test)), where = text.load_splits(text.IMDB, str(SHARED_IMDB))
    assert len(x_train) == len(x_test) == 25_000
    assert np.bincount(y_train).tolist() == np.bincount(y_test).tolist() == [12_500, 12_500]
    assert x_train[12_500].startswith("Bromwell High is a cartoon comedy")  # train/pos/0_9, the first positive
    assert x_test[0].startswith("Once again Mr. Costner has dragged out a movie")  # test/neg/0_2
