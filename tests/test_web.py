"""The web page (`python -m export.web`): a second client with none of the exporter's code. LiteRT.js runs the
exported files in headless Chromium from signature.json, labels.txt and vocab.txt alone, and its answers are
compared with the Python LiteRT interpreter's on the same inputs: images fed as pixels and drawn with the mouse,
texts tokenised by the page, noise for a generator.

Needs Debian's chromium and chromium-driver, selenium, and LiteRT.js from `npm ci`; where one is missing the
browser tests are skipped and say which (under CI, which installs them, they fail instead)."""

import json
import shutil
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import zoo
from conftest import MISSING, fake_data_dir, needs_browser, tiny_overrides
from export import __main__ as export_cli
from export import verify, web
from export.web import browser
from zoo import train
from zoo.run import Run
from zoo.data import text
from zoo.errors import UsageError
from zoo.tasks.graphs import take

ROOT = Path(__file__).resolve().parents[1]
QUIET = dict(precision="float32", verbose=0, log=lambda s: None)




def export(root, name, variants, epochs=5, **kw):
    """A tiny run of `name` on synthetic data, exported; (export folder, data folder)."""
    recipe = zoo.get(name)
    data = fake_data_dir(recipe, root / "data")
    result = train.train(name, overrides=tiny_overrides(recipe, epochs=epochs), data_dir=str(data),
                         run_dir=str(root / "run"), **QUIET)
    report = export_cli.export_run(result.run_dir, variants=variants, data_dir=str(data), latency_runs=3,
                                   log=lambda s: None, **kw)
    assert report["failures"] == {}
    return result.run_dir / "export", data


def split_inputs(export_dir, data):
    """The test split's inputs of the run an export folder belongs to."""
    run_dir = export_dir.parent
    datasets = Run(run_dir).data(str(data))
    return take(datasets.test, datasets.info.num_test)[0]


def output_step(content: bytes) -> float:
    """The quantization step of an int8 file's output, also where a DEQUANTIZE turns it into float32."""
    interp = Interpreter(model_content=content)
    out = interp.get_output_details()[0]
    if out["quantization"][0]:
        return out["quantization"][0]
    details = {d["index"]: d for d in interp.get_tensor_details()}
    producer = next(op for op in interp._get_ops_details() if out["index"] in op["outputs"])
    assert producer["op_name"] == "DEQUANTIZE", producer
    return details[producer["inputs"][0]]["quantization"][0]


@pytest.fixture(scope="module")
def image_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    out, data = export(root, "cnn_mnist", ["float32", "int8"], int8_io="float32")
    page = web.build(out, log=lambda s: None)
    return out, data, Path(page["folder"])


@needs_browser
def test_the_page_classifies_test_images_as_the_python_interpreter_does(image_page, tmp_path):
    out, data, folder = image_page
    x = split_inputs(out, data)  # 80 synthetic test digits, raw 0..255 pixels
    assert json.loads((folder / "signature.json").read_text())["web"]["files"] == ["model_float32.tflite",
                                                                                   "model_int8.tflite"]
    with browser.Page(folder) as page:
        for name, limit in (("model_float32.tflite", 1e-4), ("model_int8.tflite", None)):
            content = (folder / name).read_bytes()
            ready = page.open(name)
            assert ready["readyMs"] > 0 and page.error() is None
            seen = page.classify_images(x)
            expected = verify.Runner(content).predict(x.astype(np.float32))
            assert seen.shape == expected.shape == (len(x), 10)
            assert (seen.argmax(1) == expected.argmax(1)).all(), name
            limit = limit or output_step(content)  # int8 file: within one step of its output
            assert np.abs(seen - expected).max() <= limit, name
            print(f"{name}: page load to first prediction {ready['readyMs']:.0f} ms, max |diff| "
                  f"{np.abs(seen - expected).max():.1e}")


@needs_browser
def test_a_digit_drawn_with_the_mouse_is_classified_as_the_model_sees_it(image_page, tmp_path):
    out, _, folder = image_page
    with browser.Page(folder) as page:
        page.open()
        labels = page.draw([[(140, 50), (140, 120), (140, 230)], [(110, 230), (170, 230)]])
        seen = page.call("const c = document.querySelector('#seen'); "
                          "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);")
        page.screenshot(tmp_path / "page.png")
    rgba = np.asarray(seen, np.float32).reshape(28, 28, 4)
    assert rgba[..., 0].max() == 255 and rgba[..., 0].mean() > 5  # the strokes reached the model's input
    probs = verify.Runner((folder / "model_float32.tflite").read_bytes()).predict(rgba[None, ..., :1])[0]
    names = (folder / "labels.txt").read_text().split("\n")
    assert labels == [names[i] for i in np.argsort(-probs, kind="stable")[:5]]
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"


@needs_browser
def test_a_uint8_io_file_is_quantized_and_dequantized_by_the_page_from_its_signature(image_page, tmp_path):
    out, data, _ = image_page
    folder = tmp_path / "uint8"
    export_cli.export_run(out.parent, variants=["int8"], int8_io="uint8", out=folder, data_dir=str(data),
                          latency_runs=3, log=lambda s: None)
    io = json.loads((folder / "signature.json").read_text())["graphs"]["model"]["files"]["model_int8.tflite"]
    assert io["inputs"][0]["dtype"] == "uint8" and io["inputs"][0]["quantization"]["scale"] > 0
    page_dir = Path(web.build(folder, log=lambda s: None)["folder"])
    x = split_inputs(out, data)[:40]
    with browser.Page(page_dir) as page:
        page.open()
        seen = page.classify_images(x)
    content = (page_dir / "model_int8.tflite").read_bytes()
    expected = verify.Runner(content).predict(x.astype(np.float32))  # quantizes and dequantizes as the page must
    assert (seen.argmax(1) == expected.argmax(1)).all() and np.abs(seen - expected).max() <= output_step(content)


def test_files_the_browser_cannot_feed_are_left_out_with_the_reason(image_page, tmp_path):
    out, data, _ = image_page
    int8_io = tmp_path / "int8-io"
    report = export_cli.export_run(out.parent, variants=["float32", "int8"], out=int8_io, data_dir=str(data),
                                   latency_runs=3, log=lambda s: None)  # int8 inputs and outputs
    page = web.build(int8_io, log=lambda s: None)
    assert page["files"] == ["model_float32.tflite"]
    assert "int8" in page["left_out"]["model_int8.tflite"] and "--int8-io float32" in page["left_out"][
        "model_int8.tflite"]
    listed = json.loads((int8_io / "web" / "signature.json").read_text())["graphs"]["model"]["files"]
    assert list(listed) == ["model_float32.tflite"] and not (int8_io / "web" / "model_int8.tflite").exists()
    assert report["artifacts"]["model_int8.tflite"]["io"]["inputs"][0]["dtype"] == "int8"
    with pytest.raises(UsageError, match="no file the page can run.*model_int8.tflite: int8"):
        web.build(int8_io, files=["model_int8.tflite"], log=lambda s: None)
    with pytest.raises(UsageError, match="model_nope.tflite not in"):
        web.build(int8_io, files=["model_nope.tflite"], log=lambda s: None)


def test_the_documented_command_writes_a_self_contained_folder_or_says_what_is_missing(image_page, tmp_path):
    out, _, _ = image_page
    if MISSING and "npm ci" in MISSING and not os.environ.get("CI"):
        pytest.skip(MISSING)
    done = subprocess.run([sys.executable, "-m", "export.web", str(out.parent), "--out", str(tmp_path / "page")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    files = {p.relative_to(tmp_path / "page").as_posix() for p in (tmp_path / "page").rglob("*") if p.is_file()}
    assert {"index.html", "app.js", "style.css", "signature.json", "labels.txt", "model_float32.tflite",
            "litertjs/core.js", "litertjs/wasm-utils.js", "litertjs/wasm/litert_wasm_internal.wasm",
            "litertjs/wasm/litert_wasm_compat_internal.wasm"} <= files
    html = (tmp_path / "page" / "index.html").read_text()
    assert "http" not in html.split("<footer>")[0]  # nothing is fetched from outside the folder
    bad = subprocess.run([sys.executable, "-m", "export.web", str(out.parent), "--out", str(tmp_path / "p2"),
                          "--litertjs", str(tmp_path / "nowhere")], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0, bad.stderr
    assert "error: LiteRT.js" in bad.stderr and "npm ci" in bad.stderr and not (tmp_path / "p2").exists()
    empty = subprocess.run([sys.executable, "-m", "export.web", str(tmp_path)], capture_output=True, text=True,
                           cwd=ROOT, timeout=300)
    assert empty.returncode == 1 and "has no signature.json: export the run first" in empty.stderr


TRICKY = ["A gripping FILM.<br /><br />Loved it!!! 10/10", "Dull—dull, DULL (really).", "", "   ",
          "İstanbul ΣΊΣΥΦΟΣ straße café", "tab\tseparated\nlines\u00a0nbsp\u3000ideographic", "it's don't “quote”"]


@needs_browser
@pytest.mark.parametrize("name", ["transformer_imdb",  # the BiLSTM's file (four WHILE loops, 32 s): slow set
                                  pytest.param("bilstm_imdb", marks=pytest.mark.slow)])
def test_the_text_page_tokenises_as_training_does_and_agrees_with_python(tmp_path_factory, name):
    out, data = export(tmp_path_factory.mktemp("webtext"), name, ["float32"], epochs=3)
    folder = Path(web.build(out, log=lambda s: None)["folder"])
    sig = json.loads((folder / "signature.json").read_text())["graphs"]["model"]["input"]["text"]
    layer = text.saved_vectorizer({"vocab.txt": (folder / "vocab.txt").read_text()})
    reviews = [r["text"] for r in map(json.loads, __import__("gzip").open(data / "imdb_test.jsonl.gz", "rt"))][:30]
    texts = TRICKY + reviews + [" ".join(reviews[:3])]  # the last one is longer than the sequence: cut
    expected_ids = text.encode(layer, texts, sig["sequence_length"], sig["truncating"])
    with browser.Page(folder) as page:
        page.open()
        assert page.error() is None
        np.testing.assert_array_equal(page.tokenize(texts), expected_ids)
        seen = page.classify_texts(texts)
    expected = verify.Runner((folder / "model_float32.tflite").read_bytes()).predict(expected_ids)
    assert (seen.argmax(1) == expected.argmax(1)).all() and np.abs(seen - expected).max() <= 1e-4
    # tokenizer=regex (the rule MediaPipe's TextClassifier runs): the page splits as training's regex vectorizer does
    regex = folder.with_name("web-regex")
    shutil.copytree(folder, regex)
    whole = json.loads((regex / "signature.json").read_text())
    whole["graphs"]["model"]["input"]["text"].update(text.text_description(sig["sequence_length"], sig["vocab_size"],
                                                                           "post", "regex"))
    (regex / "signature.json").write_text(json.dumps(whole))
    layer = text.saved_vectorizer({"vocab.txt": (folder / "vocab.txt").read_text()}, tokenizer="regex")
    with browser.Page(regex) as page:
        page.open()
        np.testing.assert_array_equal(page.tokenize(texts), text.encode(layer, texts, sig["sequence_length"], "post"))


@needs_browser
def test_the_generator_page_draws_what_the_python_interpreter_draws(tmp_path_factory):
    out, _ = export(tmp_path_factory.mktemp("webgen"), "vae_mnist", ["float32"], epochs=2)
    page_files = web.build(out, log=lambda s: None)
    folder = Path(page_files["folder"])
    assert page_files["files"] == ["decoder_float32.tflite"]  # the encoder (image -> code) has no page
    latent = json.loads((folder / "signature.json").read_text())["graphs"]["decoder"]["input"]
    noise = np.random.default_rng(1).standard_normal((8, latent["shape"][1])).clip(*latent["range"])
    noise = noise.astype(np.float32)
    with browser.Page(folder) as page:
        page.open()  # the page picks the decoder (noise in, image out): the encoder has no page of its own
        assert page.error() is None
        assert page.call("return document.querySelectorAll('#samples canvas').length;") == 16
        seen = page.generate(noise)
    expected = verify.Runner((folder / "decoder_float32.tflite").read_bytes()).predict(noise)
    assert seen.shape == (8, 28 * 28) and np.abs(seen - expected.reshape(8, -1)).max() <= 1e-4


def test_an_autoencoder_has_no_page_and_says_so(tmp_path):
    out, _ = export(tmp_path, "ae_mnist", ["float32"], epochs=1)
    with pytest.raises(UsageError, match="ae_mnist: the page runs classifiers, generators and the decoders of text "
                                         r"writers, and its graphs \(encoder, decoder\) are none of them"):
        web.build(out, log=lambda s: None)
    assert not (out / "web").exists()
