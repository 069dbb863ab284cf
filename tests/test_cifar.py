"""CIFAR-10: the standard python batches from every place they are looked for, validation, augmentation."""

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from conftest import cifar_batch, synthetic_images, write_cifar_like
from zoo.data import images
from zoo.errors import DataError

HP = {"batch_size": 32, "validation_fraction": 0.2}


def test_reads_the_standard_layout_pixel_exact(tmp_path):
    folder = write_cifar_like(tmp_path / "data")
    x, y = synthetic_images(5 * 60 + 80, shape=(32, 32, 3))
    (x_train, y_train, x_test, y_test), where = images.CIFAR10.load_arrays(str(tmp_path / "data"))
    assert where.startswith(str(folder) + " (cifar-10-batches-py/")
    assert x_train.shape == (300, 32, 32, 3) and x_train.dtype == np.uint8 and x_test.shape == (80, 32, 32, 3)
    np.testing.assert_array_equal(x_train, x[:300])  # R, G, B planes turned into NHWC correctly
    np.testing.assert_array_equal(y_test, y[300:])


def test_a_copy_that_names_jpg_files_is_labelled_jpeg_lossy_in_the_source(tmp_path):
    """The official batches name .png files; a copy that names .jpg ones was re-encoded, and every record of a run
    on it (hparams.json's data source, the model card) says so."""
    folder = write_cifar_like(tmp_path / "data") / "cifar-10-batches-py"
    _, where = images.CIFAR10.load_arrays(str(tmp_path / "data"))
    assert "JPEG" not in where
    test = pickle.loads((folder / "test_batch").read_bytes())
    test[b"filenames"] = [b"test/cat/%04d.jpg" % i for i in range(len(test[b"labels"]))]
    (folder / "test_batch").write_bytes(pickle.dumps(test, protocol=2))
    _, where = images.CIFAR10.load_arrays(str(tmp_path / "data"))
    assert where.startswith(str(folder.parent)) and "JPEG-lossy copy" in where and "not comparable" in where


def test_tar_archive_keras_cache_and_data_dir_subfolder(tmp_path, monkeypatch):
    src = write_cifar_like(tmp_path / "src") / "cifar-10-batches-py"
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    arrays, where = images.CIFAR10.load_arrays(str(archive_dir))
    assert "cifar-10-python.tar.gz" in where and arrays[0].shape == (300, 32, 32, 3)
    assert [p.name for p in archive_dir.iterdir()] == ["cifar-10-python.tar.gz"]  # read in memory, not unpacked
    write_cifar_like(tmp_path / "root" / "cifar10")
    _, where = images.CIFAR10.load_arrays(str(tmp_path / "root"))
    assert where.startswith(str(tmp_path / "root" / "cifar10"))
    write_cifar_like(tmp_path / "keras-home" / "datasets")  # KERAS_HOME is tmp_path/keras-home (conftest)
    _, where = images.CIFAR10.load_arrays()
    assert where.startswith(str(tmp_path / "keras-home" / "datasets") + " (cifar-10-batches-py/")


def _break(folder, name, data):
    (folder / "cifar-10-batches-py" / name).write_bytes(data)


@pytest.mark.parametrize("name,make,match", [
    ("data_batch_3", None, "data_batch_3 is missing"),
    ("data_batch_2", lambda raw: raw[: len(raw) // 2], "data_batch_2 is not a CIFAR-10 python batch"),
    ("test_batch", lambda raw: b"hello, not a pickle", "test_batch is not a CIFAR-10 python batch"),
    ("data_batch_1", lambda raw: pickle.dumps({b"data": np.zeros((4, 1024), np.uint8), b"labels": [0] * 4}),
     r"data_batch_1: 'data' must be uint8 of shape \(N, 3072\), found \(4, 1024\)"),
    ("data_batch_4", lambda raw: cifar_batch(np.zeros((5, 32, 32, 3), np.uint8), np.array([0, 1, 2, 3, 11])),
     r"data_batch_4: labels must be integers in 0..9, found 0..11"),
    ("data_batch_5", lambda raw: pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1]}),
     "data_batch_5: 4 images but 2 labels"),
])
def test_damaged_batches_are_named_in_one_line(tmp_path, name, make, match):
    folder = write_cifar_like(tmp_path / "d")
    path = folder / "cifar-10-batches-py" / name
    if make is None:
        path.unlink()
    else:
        path.write_bytes(make(path.read_bytes()))
    with pytest.raises(DataError, match=match) as e:
        images.CIFAR10.load_arrays(str(folder))
    assert "\n" not in str(e.value) and name in str(e.value)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    folder = write_cifar_like(tmp_path / "d")
    _break(folder, "data_batch_1", pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="data_batch_1 is not a CIFAR-10 python batch.*never holds"):
        images.CIFAR10.load_arrays(str(folder))
    assert not (tmp_path / "pwned").exists()


def test_python3_pickles_of_the_same_dict_are_read(tmp_path):
    folder = write_cifar_like(tmp_path / "d")
    x, y = synthetic_images(7, shape=(32, 32, 3), seed=5)
    rows = x.transpose(0, 3, 1, 2).reshape(7, 3072)
    for protocol in (2, 4, 5):
        buf = io.BytesIO()
        pickle.dump({"data": rows, "labels": list(map(int, y))}, buf, protocol=protocol)
        _break(folder, "test_batch", buf.getvalue())
        arrays, _ = images.CIFAR10.load_arrays(str(folder))
        np.testing.assert_array_equal(arrays[2], x)


def test_pipeline_augments_train_only_reproducibly_and_differently_each_epoch(tmp_path):
    folder = str(write_cifar_like(tmp_path / "d"))
    hp = {**HP, "augment_crop": 4, "augment_flip": True, "augment_cutout": 8}
    a = images.cifar10(hp, data_dir=folder, seed=1)
    b = images.cifar10(hp, data_dir=folder, seed=1)
    plain = images.cifar10(HP, data_dir=folder, seed=1)
    first = [x.numpy() for x, _ in a.train]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate([x.numpy() for x, _ in b.train]))
    second = np.concatenate([x.numpy() for x, _ in a.train])
    assert not np.array_equal(np.concatenate(first), second)  # new crops, flips and holes each epoch
    raw = np.concatenate([x.numpy() for x, _ in plain.train])
    assert not np.array_equal(raw, np.concatenate(first))
    for split in ("val", "test"):
        np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in getattr(a, split)]),
                                      np.concatenate([x.numpy() for x, _ in getattr(plain, split)]))
    assert a.info.input_shape == (32, 32, 3) and len(a.info.channel_mean) == 3
    np.testing.assert_allclose(a.info.channel_mean, raw.mean(axis=(0, 1, 2)), atol=1e-3)


def test_crop_flip_and_cutout_do_what_they_say():
    import tensorflow as tf

    x = tf.constant(np.arange(2 * 6 * 6 * 1, dtype=np.float32).reshape(2, 6, 6, 1) + 1)
    key = tf.constant([3, 4], tf.int64)
    crop = images.random_crop(x, 2, key).numpy()
    padded = np.pad(x.numpy(), [(0, 0), (2, 2), (2, 2), (0, 0)])
    for img, src in zip(crop, padded):  # each crop is a 6x6 window of its zero-padded image
        assert any(np.array_equal(img, src[r:r + 6, c:c + 6]) for r in range(5) for c in range(5))
    flipped = images.random_flip(x, key).numpy()
    for img, src in zip(flipped, x.numpy()):
        assert np.array_equal(img, src) or np.array_equal(img, src[:, ::-1])
    holes = images.random_cutout(x, 3, [-1.0], key).numpy()
    erased = (holes == -1).reshape(2, -1).sum(axis=1)
    assert all(1 <= n <= 9 for n in erased)  # one square of at most 3x3, clipped at the border
    np.testing.assert_array_equal(holes[holes != -1], x.numpy()[holes != -1])


def test_zero_init_residual_starts_every_block_as_its_shortcut():
    import keras

    from zoo.models.resnet import ResidualBlock, ResNet

    x = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype("float32")
    same = ResidualBlock(16, zero_init=True)
    np.testing.assert_allclose(same(x), np.maximum(x, 0), atol=1e-6)  # identity shortcut, then ReLU
    down = ResidualBlock(32, stride=2, zero_init=True)  # option A: subsample, zero-pad the new channels
    expected = np.maximum(np.pad(x[:, ::2, ::2], [(0, 0), (0, 0), (0, 0), (0, 16)]), 0)
    np.testing.assert_allclose(down(x), expected, atol=1e-6)
    assert not np.allclose(ResidualBlock(16)(x), np.maximum(x, 0))  # the default starts as a real residual

    model = ResNet(num_classes=10, zero_init_residual=True)
    model(np.zeros((1, 32, 32, 3), "float32"))
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert again.zero_init_residual and all(b.zero_init for b in again.blocks)
