"""IMDB text: reading every supported layout, validation, tokenisation, and a text run as a user meets it
(train, predict on raw text, export with the vocabulary an app needs, ensembles, explain's refusal)."""

import gzip
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import QUIET_TRAIN, synthetic_reviews, tiny_overrides, write_imdb_like, write_jsonl
from export import __main__ as export_cli
from zoo import ensemble, explain, predict, registry, runs, train
from zoo.data import text
from zoo.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
HP = {"batch_size": 32, "validation_fraction": 0.2, "vocab_size": 300, "sequence_length": 16, "truncating": "post",
      "tokenizer": "keras"}


def test_reads_jsonl_and_splits_validation_independently_of_the_seed(tmp_path):
    folder = write_imdb_like(tmp_path / "imdb")
    texts, labels = synthetic_reviews(240 + 80)
    ((x_train, y_train), (x_test, y_test)), where = text.load_splits(text.IMDB, str(tmp_path))
    assert where.startswith(str(folder)) and list(x_train) == texts[:240] and list(y_test) == list(labels[240:])
    a = text.imdb_reviews(HP, data_dir=str(folder), seed=0)
    b = text.imdb_reviews(HP, data_dir=str(folder), seed=7)
    assert (a.info.num_train, a.info.num_val, a.info.num_test) == (192, 48, 80)
    val_a = np.concatenate([x.numpy() for x, _ in a.val])
    np.testing.assert_array_equal(val_a, np.concatenate([x.numpy() for x, _ in b.val]))
    x, y = next(iter(a.train))
    assert x.dtype == "int32" and x.shape == (32, 16) and a.info.input_kind == "tokens"


def test_acl_tree_and_archive_give_the_same_reviews(tmp_path):
    texts, labels = synthetic_reviews(40)
    tree = tmp_path / "data" / "aclImdb"
    for i, (t, y) in enumerate(zip(texts, labels)):
        split, side = ("train" if i < 24 else "test"), ("pos" if y else "neg")
        (tree / split / side).mkdir(parents=True, exist_ok=True)
        (tree / split / side / f"{i}_{8 if y else 2}.txt").write_text(t, encoding="utf-8")
    (tree / "train" / "unsup").mkdir()
    (tree / "train" / "unsup" / "0_0.txt").write_text("unlabelled")
    (from_tree, test_tree), where = text.load_splits(text.IMDB, str(tmp_path / "data"))
    assert "aclImdb" in where and len(from_tree[0]) == 24 and len(test_tree[0]) == 16
    assert sorted(from_tree[0]) == sorted(texts[:24])
    archive = tmp_path / "archive"
    archive.mkdir()
    with tarfile.open(archive / "aclImdb_v1.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname="aclImdb")
    (from_tar, test_tar), _ = text.load_splits(text.IMDB, str(archive))
    assert list(from_tar[0]) == list(from_tree[0]) and list(test_tar[1]) == list(test_tree[1])


@pytest.mark.parametrize("line,match", [
    (b"not json", "line 2: not JSON"),
    (b'{"text": "fine"}', "line 2: missing field 'label'"),
    (b'{"text": "fine", "label": 3}', "line 2: label must be 0 .* got 3"),
    (b'{"text": "fine", "label": true}', "line 2: label must be 0 .* got True"),
    (b'{"text": 5, "label": 1}', "line 2: text must be a string"),
    (b'{"text": "caf\xe9", "label": 1}', "line 2: not UTF-8 text"),
])
def test_bad_lines_are_named_with_file_and_line(tmp_path, line, match):
    folder = write_imdb_like(tmp_path / "d")
    good = gzip.decompress((folder / "imdb_test.jsonl.gz").read_bytes()).split(b"\n")
    (folder / "imdb_test.jsonl.gz").write_bytes(gzip.compress(b"\n".join([good[0], line, *good[1:]])))
    with pytest.raises(DataError, match=f"imdb_test.jsonl.gz {match}"):
        text.imdb_reviews(HP, data_dir=str(folder))


def test_missing_split_and_damaged_archive_are_named(tmp_path):
    folder = write_imdb_like(tmp_path / "d")
    (folder / "imdb_test.jsonl.gz").unlink()
    with pytest.raises(DataError, match="has no test split: expected imdb_test.jsonl.gz"):
        text.imdb_reviews(HP, data_dir=str(folder))
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "aclImdb_v1.tar.gz").write_bytes(b"\x1f\x8b not really")
    with pytest.raises(DataError, match="cannot read .*aclImdb_v1.tar.gz"):
        text.imdb_reviews(HP, data_dir=str(tmp_path / "t"))
    with pytest.raises(DataError, match="imdb_reviews not found. Looked in"):
        text.imdb_reviews(HP, data_dir=str(tmp_path / "empty"))


def test_vocabulary_comes_from_the_training_split_only(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    texts, labels = synthetic_reviews(60)
    val = set(_val_rows(40, 0.25))
    train_texts = [t + (" okapi" if i in val else " giraffe") for i, t in enumerate(texts[:40])]
    write_jsonl(folder / "imdb_train.jsonl.gz", train_texts, labels[:40])
    write_jsonl(folder / "imdb_test.jsonl.gz", [t + " zebra" for t in texts[40:]], labels[40:])
    data = text.imdb_reviews({**HP, "validation_fraction": 0.25}, data_dir=str(folder))
    vocab = text.parse_vocab(data.files["vocab.txt"])
    assert vocab[:2] == ["", "[UNK]"] and "giraffe" in vocab and "great" in vocab
    assert "okapi" not in vocab and "zebra" not in vocab  # validation and test words stay unknown
    assert data.info.vocab_size == len(vocab) and data.info.files == ("vocab.txt",)


def _val_rows(n, fraction):
    from zoo.data.sources import VALIDATION_SPLIT_SEED

    return np.random.default_rng(VALIDATION_SPLIT_SEED).permutation(n)[: int(round(n * fraction))]


def app_ids(review: str, vocab: list[str], length: int, truncating: str = "post") -> list[int]:
    """What signature.json tells a phone app to do, written independently of TensorFlow."""
    s = review.lower().replace("<br />", " ")
    s = re.sub("[" + re.escape(text.PUNCTUATION) + "]", "", s)
    index = {token: i for i, token in enumerate(vocab)}
    ids = [index.get(token, text.OOV_ID) for token in s.split()]
    ids = ids[:length] if truncating == "post" else ids[-length:]
    return ids + [text.PAD_ID] * (length - len(ids))


def test_the_documented_standardisation_reproduces_the_pipeline_ids():
    reviews = ["It's GREAT!<br /><br />Loved it... 10/10", "Dull, dull, DULL. The worst (really) film", "",
               "ÉTÉ déjà vu — a superb plot"]
    layer = text.vectorizer(vocab_size=50)
    layer.adapt(np.array(reviews, dtype=object).astype(str))
    vocab = text.parse_vocab(text.vocab_text(layer.get_vocabulary()))
    for truncating in text.TRUNCATING:
        ids = text.encode(layer, reviews + ["unseen words only"], 8, truncating)
        for review, row in zip(reviews + ["unseen words only"], ids):
            assert list(row) == app_ids(review, vocab, 8, truncating), review
        assert list(ids[-1][:3]) == [text.OOV_ID] * 3 and ids[2].sum() == 0
    first, last = (text.encode(layer, [reviews[1]], 3, t)[0] for t in text.TRUNCATING)
    assert [vocab[i] for i in first] == ["dull"] * 3 and [vocab[i] for i in last] == ["worst", "really", "film"]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    data = write_imdb_like(root / "data")
    recipe = registry.get("lstm_imdb")
    result = train.train("lstm_imdb", overrides=tiny_overrides(recipe, epochs=6, learning_rate=1e-2), data_dir=str(data),
                         run_dir=str(root / "run"), **QUIET_TRAIN)
    return root, data, result


def test_text_run_keeps_its_vocabulary_and_binary_metrics(text_run):
    _, _, result = text_run
    run = result.run_dir
    for key in ("test_accuracy", "test_precision", "test_recall", "test_f1", "test_roc_auc"):
        assert 0 <= result.metrics[key] <= 1, key
    assert result.metrics["test_accuracy"] >= 0.8  # the synthetic sentiment words are easy to learn
    assert (run / "roc_curve.png").read_bytes()[:4] == b"\x89PNG" and not (run / "misclassified.png").exists()
    vocab = text.parse_vocab((run / "vocab.txt").read_text())
    assert json.loads((run / "hparams.json").read_text())["data"]["vocab_size"] == len(vocab)


def test_predict_on_raw_text_and_stdin_in_a_fresh_process(text_run):
    _, _, result = text_run
    run = str(result.run_dir)
    done = subprocess.run([sys.executable, "-m", "zoo.predict", run, "Superb! I loved it, brilliant.",
                           "Awful, boring, the worst waste.", "--top", "1"], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("'Superb! I loved it, brilliant.': positive")
    assert lines[1].startswith("'Awful, boring, the worst waste.': negative")
    piped = subprocess.run([sys.executable, "-m", "zoo.predict", run, "-"], input="Great and moving.\n\nDull mess.\n",
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert [line.split(":")[0] for line in piped.stdout.strip().splitlines()] == ["'Great and moving.'",
                                                                                   "'Dull mess.'"]


def test_resume_and_evaluate_reuse_the_saved_vocabulary(text_run, tmp_path):
    root, data, result = text_run
    run = result.run_dir
    saved = json.loads((run / "hparams.json").read_text())
    recipe = registry.get("lstm_imdb")
    tampered = tmp_path / "run"
    import shutil

    shutil.copytree(run, tampered)
    (tampered / "vocab.txt").unlink()
    with pytest.raises(runs.RunDirError, match="vocab.txt is missing"):
        runs.load_data(tampered, saved, recipe, {**recipe.hparams, **saved["hparams"]}, str(data))
    # a different corpus must not change how this run encodes text
    other = write_imdb_like(tmp_path / "other", seed=3)
    again = runs.load_data(run, saved, recipe, {**recipe.hparams, **saved["hparams"]}, str(other))
    assert again.files is not None and text.parse_vocab(again.files["vocab.txt"]) == text.parse_vocab(
        (run / "vocab.txt").read_text())
    from zoo import evaluate

    metrics = evaluate.evaluate(run, data_dir=str(data), log=lambda s: None)
    assert metrics["test_accuracy"] == result.metrics["test_accuracy"]
    assert metrics["test_roc_auc"] == pytest.approx(result.metrics["test_roc_auc"])


def test_export_ships_the_vocabulary_and_says_how_to_encode(text_run):
    root, data, result = text_run
    report = export_cli.export_run(result.run_dir, variants=["float32", "dynamic", "int8"], data_dir=str(data),
                                   latency_runs=3, log=lambda s: None)
    assert report["failures"] == {}
    out = result.run_dir / "export"
    assert (out / "vocab.txt").read_text() == (result.run_dir / "vocab.txt").read_text()
    sig = json.loads((out / "signature.json").read_text())
    given = sig["graphs"]["model"]["input"]
    assert given["dtype"] == "int32" and given["kind"] == "tokens" and given["shape"] == [1, 16]
    assert given["text"]["vocabulary"] == "vocab.txt" and given["text"]["oov_id"] == 1
    for art in report["artifacts"].values():
        assert art["io"]["inputs"][0]["dtype"] == "int32" and art["shape_ops"] == []
        assert not any(op.startswith("Flex") for op in art["ops"])
    assert report["twin_max_abs_diff"] < 1e-5  # the looped export twin computes what the trained model does
    assert "WHILE" in report["artifacts"]["model_float32.tflite"]["ops"]  # one loop, not a copy per token
    assert "WHILE loops (recurrent layers) kept float32" in report["artifacts"]["model_int8.tflite"]["made_by"]
    from export import verify

    runner = verify.Runner((out / "model_float32.tflite").read_bytes())
    vocab = text.parse_vocab((out / "vocab.txt").read_text())
    ids = np.array([app_ids("Brilliant and beautiful, the best!", vocab, 16)], np.int32)
    assert runner.predict(ids)[0].argmax() == 1  # an app following signature.json gets the right answer


def test_the_converters_int8_is_refused_for_loops_and_the_other_variants_are_kept(text_run, tmp_path):
    """The converter's int8 calibration dies (SIGSEGV) on WHILE loops: export names the failure instead."""
    root, data, result = text_run
    report = export_cli.export_run(result.run_dir, variants=["float32", "dynamic", "int8"], quantizer="converter",
                                   data_dir=str(data), out=tmp_path / "out", latency_runs=3, log=lambda s: None)
    assert report["failures"] == {"int8": "conversion failed: the TFLite converter's int8 calibration crashes on "
                                          "WHILE loops (recurrent layers): make int8 with LiteRT Quantizer (no "
                                          "--quantizer converter, --int8-io int8 or float32)"}
    assert sorted(report["artifacts"]) == ["model_dynamic.tflite", "model_float32.tflite",
                                           "model_unrolled_dynamic.tflite", "model_unrolled_float32.tflite"]
    assert list(report["skipped"]) == ["model_unrolled int8"]  # the unrolled copy is never calibrated
    assert not (tmp_path / "out" / "model_int8.tflite").exists()


def test_ensemble_refuses_members_with_different_vocabularies_and_explain_refuses_text(text_run, tmp_path, capsys):
    root, data, result = text_run
    other = train.train("lstm_imdb", overrides=tiny_overrides(registry.get("lstm_imdb"), epochs=1, vocab_size=12),
                        data_dir=str(data), run_dir=str(tmp_path / "other"), **QUIET_TRAIN).run_dir
    assert ensemble.main([str(result.run_dir), str(other), "--data-dir", str(data), "--out", str(tmp_path / "e")]) == 2
    assert "its vocab.txt differs from the first member's" in capsys.readouterr().err
    assert explain.main([str(result.run_dir)]) == 2
    assert "whose inputs are not images" in capsys.readouterr().err
    assert predict.main([str(result.run_dir), "fine", "--invert"]) == 2
    assert "--invert is for image runs" in capsys.readouterr().err


def test_two_class_metrics_are_the_textbook_values():
    from zoo.data import DataInfo
    from zoo.tasks import get_task

    info = DataInfo("d", (4,), ("negative", "positive"), 4, 1, 4, "here", input_kind="tokens")
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9]], np.float32)
    m = get_task("classification").score(None, np.array([0, 0, 1, 1]), probs, info)["metrics"]
    assert (m["test_accuracy"], m["test_precision"], m["test_recall"], m["test_f1"]) == (0.5, 0.5, 0.5, 0.5)
    assert m["test_roc_auc"] == 0.75  # 3 of the 4 (positive, negative) pairs ranked right
    assert m["test_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])), rel=1e-5)


def test_position_codes_are_selectable_and_serialise():
    import keras

    from zoo.models.text import sine_positions
    from zoo.models.transformer import TransformerClassifier

    code = sine_positions(8, 4)  # dims (0, 1) run at rate 1, dims (2, 3) at rate 1/100
    assert np.allclose(code[3], [np.sin(3), np.cos(3), np.sin(0.03), np.cos(0.03)], atol=1e-6)
    ids = np.array([[5, 6, 7, 0, 0, 0, 0, 0]], np.int32)
    params = {}
    for positions in ("learned", "sine", "none"):
        model = TransformerClassifier(2, vocab_size=20, sequence_length=8, embed_dim=4, heads=1, ff_dim=4,
                                      positions=positions)
        probs = model(ids)
        params[positions] = model.count_params()
        clone = TransformerClassifier.from_config(model.get_config())
        clone(ids)
        clone.set_weights(model.get_weights())
        assert np.allclose(clone(ids), probs)
    assert params["learned"] - params["sine"] == 8 * 4 and params["sine"] == params["none"]
    with pytest.raises(ValueError, match="positions must be one of"):
        TransformerClassifier(2, vocab_size=20, sequence_length=8, positions="rotary")
    assert isinstance(keras.saving.get_registered_object("zoo>TokenEmbedding"), type)


def test_masked_attention_is_keras_attention_with_a_bounded_mask_value():
    """Same weights as Keras's MultiHeadAttention on padded sequences (so training is unchanged), while the masked
    score int8 calibration sees is MASKED_SCORE, not -1e9."""
    import keras

    from zoo.models.text import MASKED_SCORE, MaskedAttention

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(3, 9, 16)).astype("float32")
    real = np.arange(9)[None, :] < np.array([[4], [9], [1]])  # padded after 4, none, after 1 token
    attend = real[:, :, None] & real[:, None, :]
    keras_attention, ours = keras.layers.MultiHeadAttention(2, 8), MaskedAttention(2, 8)
    keras_attention(x, x, attention_mask=attend)
    ours(x, x, attention_mask=attend)
    ours.set_weights([w * 4 for w in keras_attention.get_weights()])  # sharp attention: padding would matter
    keras_attention.set_weights(ours.get_weights())
    expected = np.asarray(keras_attention(x, x, attention_mask=attend))
    np.testing.assert_allclose(np.asarray(ours(x, x, attention_mask=attend)), expected, atol=1e-6)
    assert MASKED_SCORE >= -50
    restored = keras.layers.deserialize(keras.layers.serialize(ours))
    assert isinstance(restored, MaskedAttention)


@pytest.mark.parametrize("name", [n for n in registry.list_recipes() if "vocab_size" in registry.get(n).hparams])
def test_export_twin_matches_the_trained_model_on_padded_reviews(name):
    """The float32 twin export converts (each recurrent layer one loop over the fixed length) computes what the
    model does on reviews of every length, padding included (masked steps keep the state, backward layers read
    the padding first)."""
    import keras

    from export.tflite import float32_clone
    from zoo.data import DataInfo

    keras.utils.set_random_seed(0)
    length = 24
    info = DataInfo(name="reviews", input_shape=(length,), class_names=("negative", "positive"), num_train=1,
                    num_val=1, num_test=1, source="test", input_dtype="int32", input_kind="tokens", vocab_size=50)
    model = registry.get(name).build(dict(registry.get(name).hparams), info)
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 50, size=(8, length)).astype("int32")
    for row, used in enumerate([24, 1, 3, 7, 12, 17, 23, 2]):
        ids[row, used:] = 0
    model(ids)
    model.set_weights([w * 3 for w in model.get_weights()])  # sharp weights: a mistake on a padded step shows
    twin = float32_clone(model, info.input_shape, info.input_dtype)
    np.testing.assert_allclose(np.asarray(twin(ids)), np.asarray(model(ids)), atol=1e-5)
    if "unroll" in model.get_config():  # Keras's own unrolled form, the other way to convert a recurrent layer
        unrolled = type(model).from_config({**model.get_config(), "unroll": True})
        unrolled(ids)
        unrolled.set_weights(model.get_weights())
        np.testing.assert_allclose(np.asarray(unrolled(ids)), np.asarray(model(ids)), atol=1e-5)
