"""What the seed articles teach, as hyperparameters: optimizers, schedules, L1/L2, label smoothing."""

import keras
import numpy as np
import pytest

import zoo
from zoo import optim
from zoo.errors import UsageError
from zoo.hparams import resolve
from zoo.defaults import CLASSIFIER_DEFAULTS, TRAINING_SPACE

HP = {**CLASSIFIER_DEFAULTS, "epochs": 4, "learning_rate": 0.1}


def rates(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_step_schedule_divides_by_ten_at_half_and_three_quarters():
    s = optim.learning_rate({**HP, "lr_schedule": "step"}, steps_per_epoch=100)  # 400 steps
    np.testing.assert_allclose(rates(s, [0, 199, 200, 299, 300, 399]), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001],
                               rtol=1e-5)


def test_warmup_rises_linearly_then_follows_the_schedule():
    step = optim.learning_rate({**HP, "lr_schedule": "step", "warmup_epochs": 1.0}, steps_per_epoch=100)
    np.testing.assert_allclose(rates(step, [0, 49, 99, 150]), [0.001, 0.05, 0.1, 0.1], rtol=1e-5)
    cosine = optim.learning_rate({**HP, "lr_schedule": "cosine", "warmup_epochs": 1.0}, steps_per_epoch=100)
    r = rates(cosine, [0, 50, 100, 250, 399])
    assert r[0] < r[1] < r[2] and abs(r[2] - 0.1) < 1e-6 and r[2] > r[3] > r[4] and r[4] < 1e-3
    constant = optim.learning_rate({**HP, "lr_schedule": "constant", "warmup_epochs": 0.5}, steps_per_epoch=100)
    np.testing.assert_allclose(rates(constant, [0, 49, 50, 399]), [0.002, 0.1, 0.1, 0.1], rtol=1e-5)
    assert optim.learning_rate({**HP, "lr_schedule": "constant"}, steps_per_epoch=100) == 0.1


def test_schedules_survive_saving(tmp_path):
    s = optim.learning_rate({**HP, "lr_schedule": "step", "warmup_epochs": 1.0}, steps_per_epoch=10)
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(clone, optim.WarmupStepDecay)
    np.testing.assert_allclose(rates(clone, [3, 25, 35]), rates(s, [3, 25, 35]))
    config = keras.optimizers.SGD(s).get_config()  # what model.keras stores
    restored = keras.optimizers.SGD.from_config(config)
    np.testing.assert_allclose(rates(restored._learning_rate, [3, 25, 35]), rates(s, [3, 25, 35]))


@pytest.mark.parametrize("name,cls", [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD"), ("rmsprop", "RMSprop")])
def test_every_optimizer_is_built_from_its_name(name, cls):
    opt = optim.make_optimizer({**HP, "optimizer": name, "momentum": 0.8, "nesterov": False}, 10)
    assert type(opt).__name__ == cls
    if name == "sgd":
        assert opt.momentum == 0.8 and opt.nesterov is False


def test_label_smoothing_matches_the_smoothed_one_hot_target():
    y = np.array([0, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    loss = optim.classification_loss({"label_smoothing": 0.3})
    target = np.eye(3)[y] * 0.7 + 0.1
    expected = np.mean(-(target * np.log(p)).sum(axis=1))
    np.testing.assert_allclose(float(loss(y, p)), expected, rtol=1e-5)
    plain = optim.classification_loss({"label_smoothing": 0.0})
    assert isinstance(plain, keras.losses.SparseCategoricalCrossentropy)
    assert keras.losses.deserialize(keras.losses.serialize(loss)).label_smoothing == 0.3


@pytest.mark.parametrize("name", ["mlp_mnist", "cnn_mnist", "cnn_cifar10", "resnet20_cifar10"])
def test_l1_and_l2_penalise_every_kernel(name):
    from zoo.data import DataInfo

    r = zoo.get(name)
    shape = (32, 32, 3) if "cifar" in name else (28, 28, 1)
    info = DataInfo(name="x", input_shape=shape, class_names=tuple("abc"), num_train=1, num_val=1, num_test=1,
                    source="x", channel_mean=(120.0,) * shape[-1], channel_std=(60.0,) * shape[-1])
    small = {"filters": 4, "units": 8, "dense_units": 8, "width": 4}
    small = {k: v for k, v in small.items() if k in r.hparams}
    plain = r.build(resolve(name, r.hparams, overrides={**small, "l1": 0.0, "l2": 0.0}), info)
    plain(np.zeros((1, *shape), "float32"))
    assert plain.losses == []
    hp = resolve(name, r.hparams, overrides={**small, "l1": 1e-4, "l2": 1e-3})
    model = r.build(hp, info)
    model(np.zeros((1, *shape), "float32"))
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    expected = sum(1e-4 * np.abs(k.numpy()).sum() + 1e-3 * np.square(k.numpy()).sum() for k in kernels)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-4)


def test_new_keys_are_type_checked_and_searchable():
    r = zoo.get("cnn_cifar10")
    for bad, message in [({"l2": -1.0}, "'l2' must be in"), ({"momentum": 1.5}, "'momentum' must be in"),
                         ({"lr_schedule": "exp"}, "'lr_schedule' must be one of constant, cosine, step"),
                         ({"label_smoothing": "lots"}, "'label_smoothing' expects float"),
                         ({"nesterov": "maybe"}, "'nesterov' expects bool")]:
        with pytest.raises(UsageError, match=message):
            resolve(r.name, r.hparams, overrides=bad)
    assert set(TRAINING_SPACE) <= set(r.search_space) and set(TRAINING_SPACE) <= set(zoo.get("resnet20_cifar10")
                                                                                      .search_space)


def test_valid_padding_shrinks_the_maps_and_is_refused_where_it_leaves_nothing():
    from zoo.data import DataInfo

    def info(shape):
        return DataInfo(name="x", input_shape=shape, class_names=tuple("abc"), num_train=1, num_val=1, num_test=1,
                        source="x", channel_mean=(120.0,) * shape[-1], channel_std=(60.0,) * shape[-1])

    r = zoo.get("cnn_mnist")
    model = r.build(resolve(r.name, r.hparams, overrides={"padding": "valid"}), info((28, 28, 1)))
    model(np.zeros((1, 28, 28, 1), "float32"))
    assert model.dense.kernel.shape[0] == 5 * 5 * 2 * r.hparams["filters"]  # 28 -> 26 -> 13 -> 11 -> 5
    assert model.get_config()["padding"] == "valid"
    with pytest.raises(UsageError, match="'padding' must be one of same, valid, got 'full'"):
        resolve(r.name, r.hparams, overrides={"padding": "full"})
    c = zoo.get("cnn_cifar10")  # 3 blocks of 2 valid convolutions: 32 -> 14 -> 5 -> 0
    with pytest.raises(UsageError, match="padding=valid with 3 blocks of 2 convolutions shrinks 32x32 images to "
                                         "nothing; use padding=same"):
        c.build(resolve(c.name, c.hparams, overrides={"padding": "valid"}), info((32, 32, 3)))
