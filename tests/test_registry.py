"""Every registered recipe builds, trains, and survives serialization (new recipes are covered automatically)."""

import numpy as np
import pytest

import zoo
from conftest import data_arg, fake_data_dir, recipe_params, tiny_overrides
from zoo import registry, runs
from zoo.errors import UsageError
from zoo.hparams import resolve
from zoo.tasks import get_task

RECIPES = zoo.list_recipes()


def test_builtin_recipes_are_registered():
    assert {"mlp_mnist", "cnn_mnist", "cnn_fashion_mnist"} <= set(RECIPES)


def test_unknown_recipe_lists_known_names():
    with pytest.raises(UsageError) as e:
        registry.get("cnn_mnst")
    msg = str(e.value)
    assert "'cnn_mnist'" in msg and all(name in msg for name in RECIPES)


def _register(name="tmp_recipe", **kw):
    args = dict(name=name, description="x", task="classification", build=lambda hp, info: None,
                data=lambda hp, **k: None, hparams={"epochs": 1, "dropout": 0.1}, search_space={})
    args.update(kw)
    return registry.register(registry.Recipe(**args))


def test_duplicate_and_malformed_recipes_are_refused(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(ValueError, match="already registered"):
        _register(name="cnn_mnist")
    with pytest.raises(ValueError, match="unknown task"):
        _register(task="telepathy")
    with pytest.raises(ValueError, match="int, float, bool or str"):
        _register(hparams={"filters": (32, 64)})
    with pytest.raises(ValueError, match="not a hyperparameter"):
        _register(search_space={"lr": {"type": "float", "min": 0.1, "max": 1.0}})
    with pytest.raises(ValueError, match="min < max"):
        _register(search_space={"dropout": {"type": "float", "min": 0.5, "max": 0.1}})
    with pytest.raises(ValueError, match="values must be"):
        _register(search_space={"dropout": {"type": "choice", "values": ["a"]}})
    with pytest.raises(ValueError, match="outside"):
        _register(search_space={"dropout": {"type": "float", "min": 0.3, "max": 0.5}})
    with pytest.raises(ValueError, match="must be one of the values"):
        _register(search_space={"dropout": {"type": "choice", "values": [0.2, 0.4]}})
    with pytest.raises(ValueError, match="docstring"):
        _register(description="")


def test_decorator_registers_under_function_name(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.recipe(data=lambda hp, **k: None, task="classification", hparams={"epochs": 1}, search_space={})
    def my_new_model(hp, info):
        """My model.

        python -m zoo.train my_new_model
        """

    r = registry.get("my_new_model")
    assert r.description == "My model." and r.build is my_new_model


@pytest.mark.parametrize("name", RECIPES)
def test_search_space_values_are_valid_hparams(name):
    r = registry.get(name)
    assert r.search_space, f"{name} needs a search space"
    for key, spec in r.search_space.items():
        values = spec.get("values", [spec.get("min"), spec.get("max")]) if spec["type"] != "bool" else [True, False]
        for v in values:
            resolve(name, r.hparams, overrides={key: v})  # each end of the space is accepted


class Trained(dict):
    """Each recipe, tiny, trained for a few steps on synthetic data, on first use (shared by the tests below)."""

    def __init__(self, tmp_path_factory):
        super().__init__()
        self.tmp_path_factory = tmp_path_factory

    def __missing__(self, name):
        import keras

        r = registry.get(name)
        folder = fake_data_dir(r, self.tmp_path_factory.mktemp(name))
        # 30 tiny steps: 3e-3 suits the adaptive optimizers, SGD (no per-weight scaling) needs more.
        rate = 1e-2 if r.hparams.get("optimizer") == "sgd" else 3e-3
        hp = resolve(name, r.hparams, overrides=tiny_overrides(r, learning_rate=rate, lr_schedule="constant"))
        keras.utils.set_random_seed(0)
        data = r.data(hp, data_dir=data_arg(folder), seed=0)
        model = r.build(hp, data.info)
        task = get_task(r.task)
        task.compile(model, hp, steps_per_epoch=10)
        x, y = next(iter(data.train))
        before = _loss(model.evaluate(x, y, verbose=0))
        model.fit(data.train.repeat(), steps_per_epoch=30, epochs=1, verbose=0, shuffle=False)
        after = _loss(model.evaluate(x, y, verbose=0))
        self[name] = (model, data, before, after)
        return self[name]


def _loss(evaluated) -> float:
    """The first number `evaluate` returns (a list when the model reports several)."""
    return float(evaluated[0] if isinstance(evaluated, list) else evaluated)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return Trained(tmp_path_factory)


# How far 30 steps must bring the loss down on the synthetic data: pixel cross-entropy has a high floor on
# the noisy synthetic images (their pixels are grey, not black or white), class cross-entropy does not.
# A GAN has no loss that must fall (its two losses fight): it must only stay finite.
# A language model's LSTM moves slowest in 30 steps (lstm_lm_imdb: 2.996 -> 2.633 on the synthetic sentences).
LOSS_DROP = {"classification": 0.7, "reconstruction": 0.9, "vae": 0.95, "gan": None, "generation": 0.9}


@pytest.mark.parametrize("name", recipe_params(RECIPES))
def test_recipe_trains_and_loss_goes_down(name, trained):
    model, data, before, after = trained[name]
    assert np.isfinite(after)
    drop = LOSS_DROP[registry.get(name).task]
    assert drop is None or after < drop * before, f"{name}: loss {before:.3f} -> {after:.3f}"


def test_every_task_kind_is_covered_by_the_loss_test():
    assert {registry.get(n).task for n in RECIPES} <= set(LOSS_DROP)


@pytest.mark.parametrize("name", recipe_params(zoo.list_recipes("reconstruction") + zoo.list_recipes("vae")))
def test_reconstructions_are_float32_pixels_of_the_input_shape(name, trained):
    model, data, *_ = trained[name]
    x, _ = next(iter(data.test))
    out = np.asarray(model(x))
    assert out.dtype == np.float32 and out.shape == x.shape and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("name", recipe_params(zoo.list_recipes("gan")))
def test_generators_make_float32_images_of_the_data_shape(name, trained):
    model, data, *_ = trained[name]
    images = np.asarray(model.generate(np.random.default_rng(0).standard_normal((3, model.noise_dim)).astype("float32")))
    assert images.dtype == np.float32 and images.shape == (3, *data.info.input_shape)
    assert 0 <= images.min() and images.max() <= 255


@pytest.mark.parametrize("name", recipe_params(zoo.list_recipes("classification")))
def test_outputs_are_float32_probabilities(name, trained):
    model, data, *_ = trained[name]
    x, _ = next(iter(data.test))
    p = np.asarray(model(x))
    assert p.dtype == np.float32 and p.shape == (len(x), data.info.num_classes)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("name", recipe_params(RECIPES))
def test_get_config_round_trip(name, trained):
    import keras

    model, data, *_ = trained[name]
    x, _ = next(iter(data.test))
    clone = type(model).from_config(model.get_config())
    clone(keras.tree.map_structure(lambda a: a[:1], x))  # x: an array, or (source, previous) for an encoder-decoder
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(model(x)))
    config = model.get_config()
    assert all(config[k] == v for k, v in clone.get_config().items() if k != "name")


@pytest.mark.parametrize("name", recipe_params(RECIPES))
def test_model_keras_round_trip(name, trained, tmp_path):
    model, data, *_ = trained[name]
    x, _ = next(iter(data.test))
    model.save(tmp_path / "model.keras")
    loaded = runs.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_mixed_precision_keeps_float32_outputs(tmp_path):
    import keras

    r = registry.get("cnn_mnist")
    hp = resolve(r.name, r.hparams, overrides=tiny_overrides(r))
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    data = r.data(hp, data_dir=data_arg(fake_data_dir(r, tmp_path / "d")))
    model = r.build(hp, data.info)
    x, _ = next(iter(data.train))
    out = model(x)
    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
