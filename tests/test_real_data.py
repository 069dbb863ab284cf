"""Opt-in checks on the real datasets (`pytest -m slow`); the benchmarks measure the targets."""

import os

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
