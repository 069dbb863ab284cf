import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.errors import UsageError
from zoo.hparams import coerce, load_config, parse_overrides, resolve

DEFAULTS = {"epochs": 10, "learning_rate": 1e-3, "batch_norm": True, "optimizer": "adam", "dropout": 0.2}


def test_overrides_are_typed_like_the_defaults():
    hp = resolve("r", DEFAULTS, overrides=parse_overrides(
        ["epochs=3", "learning_rate=3e-4", "batch_norm=false", "optimizer=sgd", "dropout=0"]))
    assert hp == {"epochs": 3, "learning_rate": 3e-4, "batch_norm": False, "optimizer": "sgd", "dropout": 0.0}
    assert type(hp["epochs"]) is int and type(hp["dropout"]) is float


def test_precedence_defaults_config_set():
    hp = resolve("r", DEFAULTS, config={"epochs": 5, "dropout": 0.3}, overrides={"epochs": "7"})
    assert hp["epochs"] == 7 and hp["dropout"] == 0.3 and hp["learning_rate"] == 1e-3


def test_unknown_key_names_the_valid_ones_and_a_close_match():
    with pytest.raises(UsageError) as e:
        resolve("cnn_mnist", DEFAULTS, overrides={"dropuot": "0.1"})
    msg = str(e.value)
    assert "'dropuot'" in msg and "did you mean 'dropout'" in msg and "batch_norm, dropout, epochs" in msg


@pytest.mark.parametrize("key,value", [("epochs", "three"), ("epochs", "2.5"), ("epochs", True),
                                       ("batch_norm", "maybe"), ("learning_rate", "fast"), ("learning_rate", "nan"),
                                       ("optimizer", 3)])
def test_ill_typed_values_are_refused(key, value):
    with pytest.raises(UsageError, match=f"'{key}' expects"):
        resolve("r", DEFAULTS, overrides={key: value})


@pytest.mark.parametrize("key,value", [("epochs", 0), ("epochs", -1), ("learning_rate", 0), ("dropout", 1.0)])
def test_out_of_range_values_are_refused(key, value):
    with pytest.raises(UsageError, match=f"'{key}' must be in"):
        resolve("r", DEFAULTS, overrides={key: value})


def test_set_needs_key_equals_value():
    with pytest.raises(UsageError, match="key=value"):
        parse_overrides(["epochs"])


def test_config_files_json_yaml_and_run_hparams(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"epochs": 4}))
    (tmp_path / "b.yaml").write_text("epochs: 6\ndropout: 0.5\n")
    (tmp_path / "hparams.json").write_text(json.dumps({"recipe": "cnn_mnist", "hparams": {"epochs": 9}}))
    assert load_config(tmp_path / "a.json") == {"epochs": 4}
    assert load_config(tmp_path / "b.yaml") == {"epochs": 6, "dropout": 0.5}
    assert load_config(tmp_path / "hparams.json") == {"epochs": 9}
    (tmp_path / "bad.json").write_text("{epochs: ")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(UsageError, match="cannot read"):
        load_config(tmp_path / "missing.json")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=5))
def test_set_parser_either_parses_or_raises_usage_error(items):
    try:
        overrides = parse_overrides(items)
        resolve("r", DEFAULTS, overrides=overrides)
    except UsageError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none()),
       st.sampled_from(list(DEFAULTS.values())))
def test_coerce_returns_the_default_type_or_raises(value, default):
    try:
        out = coerce("k", value, default)
    except UsageError:
        return
    assert type(out) is type(default)
