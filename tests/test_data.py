import dataclasses
import gzip
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import synthetic_images, write_idx, write_mnist_like
from zoo.data import images, sources
from zoo.errors import DataError, UsageError

HP = {"batch_size": 16, "validation_fraction": 0.25}


def test_read_idx_gzip_and_plain(tmp_path):
    x, y = synthetic_images(20)
    write_idx(tmp_path / "x.gz", x)
    write_idx(tmp_path / "y", y, compress=False)
    np.testing.assert_array_equal(sources.read_idx(tmp_path / "x.gz", 3), x)
    np.testing.assert_array_equal(sources.read_idx(tmp_path / "y", 1), y)


def test_read_npz(tmp_path):
    x, y = synthetic_images(30)
    np.savez(tmp_path / "mnist.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    (x_train, y_train, x_test, y_test), where = images.MNIST.load_arrays(str(tmp_path))
    assert "mnist.npz" in where and x_train.shape == (20, 28, 28, 1) and len(y_test) == 10
    np.testing.assert_array_equal(x_test[..., 0], x[20:])


def test_bundled_mnist_is_the_byte_exact_original():
    expected = {  # sha256 of the decompressed IDX files, as published for the original MNIST
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }
    folder = sources.bundled_folder("mnist")
    for name, digest in expected.items():
        assert hashlib.sha256(gzip.decompress((folder / name).read_bytes())).hexdigest() == digest


def test_default_mnist_source_is_the_bundled_copy():
    desc = [s.description for s in images.MNIST.sources(None)]
    assert "files/mnist" in desc[0] and "tensorflow-datasets" in desc[-1]


def test_data_dir_subfolder_and_env_var(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "root" / "fashion-mnist", seed=1)
    write_mnist_like(tmp_path / "root" / "mnist", seed=2)
    _, where = images.FASHION_MNIST.load_arrays(str(tmp_path / "root"))
    assert where.startswith(str(tmp_path / "root" / "fashion-mnist"))
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "root"))
    _, where = images.MNIST.load_arrays()
    assert where.startswith(str(tmp_path / "root" / "mnist"))


def _fail_tfds(monkeypatch):
    import tensorflow_datasets as tfds

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(tfds, "load", offline)


def test_missing_data_says_where_it_looked_and_what_to_do(tmp_path, monkeypatch):
    _fail_tfds(monkeypatch)
    nowhere = dataclasses.replace(images.FASHION_MNIST, system_dirs=(str(tmp_path / "sys"),))
    with pytest.raises(DataError) as e:
        nowhere.load_arrays()
    msg = str(e.value)
    assert "fashion_mnist not found" in msg and str(tmp_path / "sys") in msg and "keras-home" in msg
    assert "tensorflow-datasets 'fashion_mnist'" in msg and "no network" in msg and "--data-dir" in msg
    assert "\n" not in msg


def test_explicit_data_dir_is_the_only_place_looked(tmp_path, monkeypatch):
    _fail_tfds(monkeypatch)
    with pytest.raises(DataError, match="not found") as e:
        images.MNIST.load_arrays(str(tmp_path / "empty"))
    assert "files/mnist" not in str(e.value)


def _corrupt(tmp_path, name, data):
    folder = write_mnist_like(tmp_path / "d")
    (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize("case,name,match", [
    ("magic", "train-images-idx3-ubyte.gz", "bad magic"),
    ("truncated", "train-images-idx3-ubyte.gz", "truncated"),
    ("not gzip", "t10k-labels-idx1-ubyte.gz", "damaged"),
    ("wrong ndim", "train-labels-idx1-ubyte.gz", "expected 1-dimensional"),
])
def test_malformed_idx_files_are_refused(tmp_path, case, name, match):
    folder = write_mnist_like(tmp_path / "d")
    raw = gzip.decompress((folder / name).read_bytes())
    bad = {
        "magic": gzip.compress(b"\x08\x03\x00\x00" + raw[4:]),
        "truncated": gzip.compress(raw[:-7]),
        "not gzip": b"\x1f\x8b" + b"garbage" * 10,
        "wrong ndim": gzip.compress(gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes())),
    }[case]
    (folder / name).write_bytes(bad)
    with pytest.raises(DataError, match=match) as e:
        images.MNIST.load_arrays(str(folder))
    assert name in str(e.value)


def test_inconsistent_arrays_are_refused(tmp_path):
    x, y = synthetic_images(20)
    folder = tmp_path / "d"
    write_mnist_like(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y[:10])
    with pytest.raises(DataError, match="320 train images but 10 labels"):
        images.MNIST.load_arrays(str(folder))
    write_mnist_like(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(80, 12, np.uint8))
    with pytest.raises(DataError, match=r"labels must be integers in 0..9, found 12..12"):
        images.MNIST.load_arrays(str(folder))
    write_mnist_like(folder)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((80, 32, 32), np.uint8))
    with pytest.raises(DataError, match=r"shape \(32, 32, 1\), expected \(28, 28, 1\)"):
        images.MNIST.load_arrays(str(folder))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_idx_reader_parses_or_raises_data_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "f.idx"
    path.write_bytes(blob)
    for ndim in (1, 3):
        try:
            arr = sources.read_idx(path, ndim)
        except DataError:
            continue
        assert arr.ndim == ndim and arr.dtype == np.uint8


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_npz_reader_parses_or_raises_data_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "mnist.npz"
    path.write_bytes(blob)
    try:
        arrays = sources.read_npz(path)
    except DataError:
        return
    assert len(arrays) == 4


def test_validation_split_is_fixed_disjoint_and_seed_independent(mnist_dir):
    a = images.mnist(HP, data_dir=str(mnist_dir), seed=0)
    b = images.mnist(HP, data_dir=str(mnist_dir), seed=7)
    val_a = np.concatenate([x.numpy() for x, _ in a.val])
    val_b = np.concatenate([x.numpy() for x, _ in b.val])
    train = np.concatenate([x.numpy() for x, _ in a.train])
    np.testing.assert_array_equal(val_a, val_b)
    assert a.info.num_val == 80 and a.info.num_train == 240 and len(train) == 240
    flat_train = {t.tobytes() for t in train}
    assert not any(v.tobytes() in flat_train for v in val_a)
    with pytest.raises(UsageError, match="validation_fraction"):
        images.mnist({**HP, "validation_fraction": 0.0001}, data_dir=str(mnist_dir))


def test_pipelines_batch_float_pixels_and_shuffle_by_seed(mnist_dir):
    d = images.mnist(HP, data_dir=str(mnist_dir), seed=3)
    epoch1 = np.concatenate([y.numpy() for _, y in d.train])
    epoch2 = np.concatenate([y.numpy() for _, y in d.train])
    x, y = next(iter(d.train))
    assert x.dtype.name == "float32" and tuple(x.shape) == (16, 28, 28, 1) and y.dtype.name == "int32"
    assert float(np.max(x)) > 100 and float(np.min(x)) >= 0  # 0..255, not rescaled
    assert not np.array_equal(epoch1, epoch2)  # reshuffled each epoch
    again = images.mnist(HP, data_dir=str(mnist_dir), seed=3)
    np.testing.assert_array_equal(epoch1, np.concatenate([y.numpy() for _, y in again.train]))
    test1 = np.concatenate([y.numpy() for _, y in d.test])
    np.testing.assert_array_equal(test1, np.concatenate([y.numpy() for _, y in d.test]))  # test order is fixed


def test_augmentation_only_on_train(mnist_dir):
    hp = {**HP, "augment_translate": 0.2, "augment_flip": True}
    plain = images.mnist(HP, data_dir=str(mnist_dir), seed=0)
    aug = images.mnist(hp, data_dir=str(mnist_dir), seed=0)
    x_plain, _ = next(iter(plain.train))
    x_aug, _ = next(iter(aug.train))
    assert not np.array_equal(x_plain.numpy(), x_aug.numpy())
    for split in ("val", "test"):
        a = np.concatenate([x.numpy() for x, _ in getattr(plain, split)])
        b = np.concatenate([x.numpy() for x, _ in getattr(aug, split)])
        np.testing.assert_array_equal(a, b)
