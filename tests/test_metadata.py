"""Files apps load as they are (issue #29): TFLite metadata in every classifier file, an RGB file for grayscale
recipes, MediaPipe Tasks' ImageClassifier running the files in its own environment, and the model card.

The MediaPipe client runs in `.venv-mediapipe` (requirements/mediapipe-client.txt; or $ZOO_MEDIAPIPE_PYTHON): its
tests are skipped where it is missing and say so (under CI, which makes it, they fail instead)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export import clients, metadata, verify
from export.clients import web as web_client
from test_export import do_export, tiny_run
from zoo.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
CLIENT = clients.MEDIAPIPE_CLASSIFY
MEDIAPIPE_PYTHON = clients.mediapipe_python()
needs_client = pytest.mark.skipif(not MEDIAPIPE_PYTHON.is_file() and not os.environ.get("CI"),
                                  reason=f"no MediaPipe client environment at {MEDIAPIPE_PYTHON}: python -m venv "
                                  ".venv-mediapipe && .venv-mediapipe/bin/pip install -r "
                                  "requirements/mediapipe-client.txt")
VARIANTS = ["float32", "int8", "dynamic", "weights_int4"]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """A grayscale classifier exported with and without metadata (int8 with float32 I/O, which MediaPipe feeds)."""
    run, data = tiny_run(tmp_path_factory.mktemp("md"), epochs=4)
    with_md = do_export(run, data, variants=VARIANTS, int8_io="float32", rgb=True)
    plain = do_export(run, data, variants=VARIANTS, int8_io="float32", out=str(run / "plain"), with_metadata=False,
                      rgb=True)
    return run, data, with_md, plain


def read_metadata(content: bytes) -> tuple[dict, dict]:
    from mediapipe.tasks.python.metadata import metadata as mp_metadata

    displayer = mp_metadata.MetadataDisplayer.with_model_buffer(content)
    files = {name: displayer.get_associated_file_buffer(name) for name in displayer.get_packed_associated_file_list()}
    return json.loads(displayer.get_metadata_json()), files


def test_every_classifier_file_carries_metadata_and_computes_what_the_plain_file_does(both):
    run, data, with_md, plain = both
    assert with_md["failures"] == {} and plain["failures"] == {}
    labels = (run / "export" / "labels.txt").read_text().splitlines()
    command = json.loads((run / "hparams.json").read_text())["command"] or "python -m zoo.train cnn_mnist"
    for name, art in with_md["artifacts"].items():
        content = (run / "export" / name).read_bytes()
        info, packed = read_metadata(content)
        assert info["name"].startswith("cnn_mnist") and "zoo" in info["version"] and info["author"]
        assert info["license"] and f"Trained with `{command}`" in info["description"], info
        image = info["subgraph_metadata"][0]["input_tensor_metadata"][0]
        colour = image["content"]["content_properties"]["color_space"]
        assert colour == ("RGB" if name.startswith("model_rgb") else "GRAYSCALE"), name
        norm = next(p["options"] for p in image["process_units"] if p["options_type"] == "NormalizationOptions")
        assert norm == {"mean": [0.0], "std": [1.0]}, name  # the graph takes 0..255 pixels as they are
        output = info["subgraph_metadata"][0]["output_tensor_metadata"][0]
        assert output["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"
        assert packed[output["associated_files"][0]["name"]].decode().splitlines() == labels
        assert 0 < art["metadata_bytes"] < 2048 + len("\n".join(labels)) + 1, art["metadata_bytes"]
        without = (run / "plain" / name).read_bytes()
        inputs = art_inputs(name)
        assert np.array_equal(verify.Runner(content).predict(inputs), verify.Runner(without).predict(inputs)), name
        assert art["io"]["metadata"] is True and "metadata" not in plain["artifacts"][name]["io"]


def art_inputs(name: str) -> np.ndarray:
    """Test-like inputs for a file: 64 grayscale (or RGB) images with every pixel value 0..255 present."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (64, 28, 28, 1)).astype(np.float32)
    return np.repeat(gray, 3, axis=-1) if name.startswith("model_rgb") else gray


def test_signature_says_which_files_mediapipe_runs(both):
    run, _, with_md, _ = both
    files = {n: io for g in json.loads((run / "export" / "signature.json").read_text())["graphs"].values()
             for n, io in g["files"].items()}
    assert set(files) == set(with_md["artifacts"])
    for name, io in files.items():
        if name.startswith("model_rgb"):
            assert io["mediapipe"] == {"task": "ImageClassifier"}, name
        else:
            assert io["mediapipe"]["task"] is None and "model_rgb" in io["mediapipe"]["why_not"], name


def test_the_rgb_file_gives_the_grayscale_files_top1_on_the_test_split(both):
    run, data, with_md, _ = both
    for variant in VARIANTS:
        gray, rgb = with_md["artifacts"][f"model_{variant}.tflite"], with_md["artifacts"][f"model_rgb_{variant}.tflite"]
        assert gray["test_accuracy"] == rgb["test_accuracy"] or variant != "float32", variant
    from zoo.run import Run

    x = np.concatenate([np.asarray(b[0]) for b in Run(run).data(str(data)).test]).astype(np.float32)
    for variant in ("float32", "int8"):
        g = verify.Runner((run / "export" / f"model_{variant}.tflite").read_bytes()).predict(x)
        c = verify.Runner((run / "export" / f"model_rgb_{variant}.tflite").read_bytes()).predict(np.repeat(x, 3, -1))
        assert np.mean(g.argmax(1) == c.argmax(1)) == 1.0, variant
    signature = json.loads((run / "export" / "signature.json").read_text())
    assert signature["graphs"]["model_rgb"]["input"]["shape"] == [1, 28, 28, 3]
    assert "tf.image.rgb_to_grayscale" in signature["graphs"]["model_rgb"]["input"]["preprocessing"]


def mediapipe_classify(model: Path, images: np.ndarray, tmp_path: Path) -> dict:
    np.save(tmp_path / "images.npy", images)
    done = subprocess.run([str(MEDIAPIPE_PYTHON), str(CLIENT), str(model), str(tmp_path / "images.npy"),
                           str(tmp_path / "out.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((tmp_path / "out.json").read_text())


def check_mediapipe_agrees(model: Path, images: np.ndarray, labels: list, tmp_path: Path, tolerance: float):
    found = mediapipe_classify(model, images, tmp_path)
    lite = verify.Runner(model.read_bytes()).predict(images.astype(np.float32))
    assert len(found["results"]) == len(images)
    for i, categories in enumerate(found["results"]):
        assert categories[0]["index"] == int(np.argmax(lite[i])), (model.name, i)
        assert [c["name"] for c in categories] == [labels[c["index"]] for c in categories]
        assert max(abs(c["score"] - lite[i, c["index"]]) for c in categories) <= tolerance, model.name


@needs_client
def test_mediapipe_image_classifier_runs_the_rgb_files_as_they_are(both, tmp_path):
    run, _, _, _ = both
    labels = (run / "export" / "labels.txt").read_text().splitlines()
    images = np.repeat(np.random.default_rng(1).integers(0, 256, (40, 28, 28, 1), dtype=np.uint8), 3, axis=-1)
    check_mediapipe_agrees(run / "export" / "model_rgb_float32.tflite", images, labels, tmp_path, 1e-4)
    check_mediapipe_agrees(run / "export" / "model_rgb_int8.tflite", images, labels, tmp_path, 1 / 256)


@needs_client
def test_mediapipe_runs_a_colour_classifier_in_float32_and_int8(tmp_path):
    run, data = tiny_run(tmp_path, name="cnn_cifar10", epochs=2)
    report = do_export(run, data, variants=["float32", "int8"], int8_io="float32")
    assert report["failures"] == {} and set(report["artifacts"]) == {"model_float32.tflite", "model_int8.tflite"}
    labels = (run / "export" / "labels.txt").read_text().splitlines()
    images = np.random.default_rng(2).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    check_mediapipe_agrees(run / "export" / "model_float32.tflite", images, labels, tmp_path, 1e-4)
    check_mediapipe_agrees(run / "export" / "model_int8.tflite", images, labels, tmp_path, 1 / 256)


# Texts where tokenisers differ: case, punctuation inside and around words, <br /> tags, letters outside ASCII,
# numbers, a text longer than the model's sequence, and one with no word at all
TRICKY = ["GREAT movie, don't miss it!!", "awful<br /><br />Awful. AWFUL",
          "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 2021-03-03", "good " * 200 + "bad", "...", "Terrible!Boring!Great?"]


def mediapipe_classify_texts(model: Path, texts: list, tmp_path: Path) -> dict:
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    done = subprocess.run([str(MEDIAPIPE_PYTHON), str(CLIENT), str(model), str(tmp_path / "texts.json"),
                           str(tmp_path / "out.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((tmp_path / "out.json").read_text())


@needs_client
def test_mediapipe_text_classifier_computes_zoo_predicts_answers_with_the_device_tokenizer(tmp_path):
    """tokenizer=regex, truncating=post: MediaPipe's TextClassifier, given raw texts, computes what the LiteRT
    interpreter computes on the ids zoo.predict makes, so the answers are zoo.predict's. (int8: MediaPipe's older
    TFLite kernels round otherwise than LiteRT's; the scores measured 2 output steps apart, the top-1 the same.)"""
    from zoo.data import text
    from zoo.run import Run

    run, data = tiny_run(tmp_path, name="transformer_imdb", epochs=3, tokenizer="regex", truncating="post")
    report = do_export(run, data, variants=["float32", "int8"], int8_io="float32")
    assert report["failures"] == {}
    signature = json.loads((run / "export" / "signature.json").read_text())
    assert signature["graphs"]["model"]["input"]["text"]["delimiter"] == text.DELIMITER
    opened = Run(run)
    texts = [json.loads(line)["text"] for line in gzip.open(data / "imdb_test.jsonl.gz", "rt")][:40]
    texts += TRICKY
    layer = text.saved_vectorizer({"vocab.txt": (run / "vocab.txt").read_text()}, tokenizer="regex")
    ids = text.encode(layer, texts, signature["graphs"]["model"]["input"]["text"]["sequence_length"], "post")
    keras = np.asarray(opened.model().predict(ids, verbose=0))
    labels = (run / "export" / "labels.txt").read_text().splitlines()
    for variant, tolerance in (("float32", 1e-5), ("int8", 4 / 256)):
        name = f"model_{variant}.tflite"
        io = signature["graphs"]["model"]["files"][name]
        assert io["metadata"] is True and io["mediapipe"] == {"task": "TextClassifier", "differs": []}, io
        info, packed = read_metadata((run / "export" / name).read_bytes())
        unit = info["subgraph_metadata"][0]["input_tensor_metadata"][0]["process_units"][0]
        assert unit["options"]["delim_regex_pattern"] == text.DELIMITER
        vocabulary = packed[metadata.VOCABULARY].decode().splitlines()
        assert vocabulary[:2] == ["<PAD> 0", "<UNKNOWN> 1"] and len(vocabulary) == len(layer.get_vocabulary())
        lite = verify.Runner((run / "export" / name).read_bytes()).predict(ids)
        found = mediapipe_classify_texts(run / "export" / name, texts, tmp_path)
        assert len(found["results"]) == len(texts)
        for i, categories in enumerate(found["results"]):
            top2 = np.sort(lite[i])[-2:]
            if top2[1] - top2[0] > 2 * tolerance:  # not a tie within the two runtimes' rounding
                assert categories[0]["index"] == int(np.argmax(lite[i])), (name, texts[i])
            assert [c["name"] for c in categories] == [labels[c["index"]] for c in categories]
            assert max(abs(c["score"] - lite[i, c["index"]]) for c in categories) <= tolerance, (name, texts[i])
        if variant == "float32":  # the interpreter's float32 file answers as Keras (zoo.predict) does
            assert np.array_equal(lite.argmax(1), keras.argmax(1))


@needs_client
@pytest.mark.slow  # the default run was at its 15-minute limit; test_export checks the unrolled files in it
def test_mediapipe_text_classifier_runs_a_recurrent_recipe_through_its_unrolled_file(tmp_path):
    """lstm_imdb's model_* files hold WHILE loops (subgraphs), which MediaPipe's text tasks refuse; its
    model_unrolled_* files, the same layers written out step by step, run there and answer as the loop file does."""
    from zoo.data import text

    run, data = tiny_run(tmp_path, name="lstm_imdb", epochs=3, tokenizer="regex", truncating="post")
    report = do_export(run, data, variants=["float32", "dynamic"], int8_io="float32")
    assert report["failures"] == {}
    texts = [json.loads(line)["text"] for line in gzip.open(data / "imdb_test.jsonl.gz", "rt")][:30] + TRICKY
    layer = text.saved_vectorizer({"vocab.txt": (run / "vocab.txt").read_text()}, tokenizer="regex")
    length = json.loads((run / "hparams.json").read_text())["hparams"]["sequence_length"]
    ids = text.encode(layer, texts, length, "post")
    loop = verify.Runner((run / "export" / "model_float32.tflite").read_bytes()).predict(ids)
    for variant, tolerance in (("float32", 1e-5), ("dynamic", 2e-2)):
        found = mediapipe_classify_texts(run / "export" / f"model_unrolled_{variant}.tflite", texts, tmp_path)
        for i, categories in enumerate(found["results"]):
            top2 = np.sort(loop[i])[-2:]
            if top2[1] - top2[0] > 2 * tolerance:
                assert categories[0]["index"] == int(np.argmax(loop[i])), (variant, texts[i])
            assert max(abs(c["score"] - loop[i, c["index"]]) for c in categories) <= tolerance, (variant, texts[i])


def test_the_device_vocabulary_lists_what_the_device_tokenizer_can_find():
    vocab_txt = "\n[UNK]\nthe\ngreat\ndont\n"
    assert metadata.mediapipe_vocabulary(vocab_txt, "regex").splitlines() == [
        "<PAD> 0", "<UNKNOWN> 1", "the 2", "great 3", "dont 4"]
    keras = metadata.mediapipe_vocabulary(vocab_txt, "keras").splitlines()
    assert {"the 2", "The 2", "THE 2", "Great 3", "GREAT 3", "Dont 4"} <= set(keras) and "dOnt 4" not in keras


needs_browser = pytest.mark.skipif(bool(web_client.missing()) and not os.environ.get("CI"),
                                   reason=str(web_client.missing()))


@needs_browser
def test_mediapipe_web_runs_the_rgb_files_in_chromium_with_the_interpreters_top1(both):
    """@mediapipe/tasks-vision (pinned in package-lock.json) in headless Chromium, given the model path and the
    pixels only, ranks the classes as the LiteRT interpreter does."""
    run, _, _, _ = both
    labels = (run / "export" / "labels.txt").read_text().splitlines()
    images = np.repeat(np.random.default_rng(3).integers(0, 256, (24, 28, 28, 1), dtype=np.uint8), 3, axis=-1)
    for variant, tolerance in (("float32", 1e-4), ("int8", 1 / 256)):
        model = run / "export" / f"model_rgb_{variant}.tflite"
        found = web_client.classify(model, images)
        lite = verify.Runner(model.read_bytes()).predict(images.astype(np.float32))
        assert len(found["results"]) == len(images)
        for i, categories in enumerate(found["results"]):
            assert categories[0]["index"] == int(np.argmax(lite[i])), (variant, i)
            assert [c["name"] for c in categories] == [labels[c["index"]] for c in categories]
            assert max(abs(c["score"] - lite[i, c["index"]]) for c in categories) <= tolerance, variant


def test_the_model_card_is_written_from_the_records(both):
    run, _, with_md, _ = both
    card = (run / "export" / "MODEL_CARD.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    record = json.loads((run / "hparams.json").read_text())
    assert card.startswith("# Model card: cnn_mnist")
    assert f"{metrics['test_accuracy']:.2%}" in card and record["machine"]["cpu"] in card
    assert record["data"]["source"] in card and "## Intended use and limits" in card
    for name, art in with_md["artifacts"].items():
        assert f"| `{name}` | {art['bytes']:,} |" in card
    assert "0 0, 1 1" in card  # the labels, index by index


def test_export_without_the_writer_says_how_to_install_it_before_any_work(both, monkeypatch, tmp_path):
    run, data, _, _ = both
    monkeypatch.setattr(metadata, "missing", lambda: "MediaPipe's metadata writers do not load (ImportError: x)")
    with pytest.raises(UsageError, match="requirements/mediapipe-writer.txt.*--no-metadata"):
        do_export(run, data, variants=["float32"], out=str(tmp_path / "e"), rgb=True)
    assert not (tmp_path / "e").exists()


def test_no_rgb_leaves_the_rgb_files_out(both, tmp_path):
    run, data, _, _ = both
    report = do_export(run, data, variants=["float32"], out=str(tmp_path / "e"), rgb=False)
    assert set(report["artifacts"]) == {"model_float32.tflite"}
    assert list(json.loads((tmp_path / "e" / "signature.json").read_text())["graphs"]) == ["model"]


def test_the_writer_loads_in_a_fresh_process_without_noise():
    done = subprocess.run([sys.executable, "-c", "from export import metadata; print(metadata.missing())"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "None" and "GetPrototype" not in done.stderr, done.stderr[-500:]
