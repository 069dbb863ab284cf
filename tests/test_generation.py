"""The generation task kind and seq2seq_dates: the generated corpus, perplexity, per-epoch samples, attention maps,
zoo.predict's conversions, and export's refusal, as a user meets them (fresh processes, the documented commands)."""

import datetime
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import needs_browser
from zoo.data import dates


def test_corpus_is_the_same_for_a_seed_and_splits_share_no_string():
    first, again = dates.corpus(3, (200, 50, 1000)), dates.corpus(3, (200, 50, 1000))
    assert first == again and [len(s) for s in first] == [200, 50, 1000]
    strings = [{text for text, _ in split} for split in first]
    assert sum(map(len, strings)) == 1250 and not (strings[0] & strings[2] or strings[1] & strings[2]
                                                   or strings[0] & strings[1])
    assert dates.corpus(4, (200, 50, 1000)) != first


def test_each_format_names_its_day():
    day = datetime.date(2021, 3, 3)
    written = {name: f(day) for name, f in dates.FORMATS.items()}
    assert {"3rd of March 2021", "03/03/21", "Mar 3, 2021", "2021-03-03", "3.3.21", "Wednesday, March 3, 2021",
            "20210303"} <= set(written.values())
    assert dates.FORMATS["us_slash_short"](datetime.date(1950, 1, 2)) == "01/02/50"  # month first, 50 -> 1950
    assert dates.FORMATS["eu_dots"](datetime.date(2049, 12, 31)) == "31.12.2049"
    assert [dates.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]
    longest = max(len(f(datetime.date(2021, 9, 22))) for f in dates.FORMATS.values())
    assert longest <= dates.SOURCE_LENGTH
    for text, iso in dates.corpus(0, (500,))[0]:
        assert dates.decode_target(dates.encode_target([iso])[0]) == iso and len(text) <= dates.SOURCE_LENGTH


def test_perplexity_skips_padding_and_matches_the_cross_entropy():
    from zoo.tasks.generation import Perplexity

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=(3, 4)).astype("float32")
    y = np.array([[1, 2, 0, 0], [3, 4, 4, 0], [2, 2, 2, 2]])
    metric = Perplexity()
    metric.update_state(y, probs)
    keep = y != 0
    expected = np.exp(-np.mean(np.log(np.take_along_axis(probs, y[..., None], -1)[..., 0][keep])))
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, input=stdin, timeout=600)


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s2s") / "run"
    done = run("zoo.train", "seq2seq_dates", "--set", "train_examples=600", "--set", "val_examples=100",
               "--set", "test_examples=300", "--set", "epochs=2", "--set", "units=16", "--set", "embed_dim=16",
               "--set", "batch_size=32", "--run-dir", str(folder))
    assert done.returncode == 0, done.stderr[-2000:]
    return folder


@pytest.mark.slow  # default runs took 886 s and 974 s of their 900 with it; test_language.py covers the task
def test_seq2seq_dates_trains_and_shows_its_work(dates_run):
    metrics = json.loads((dates_run / "metrics.json").read_text())
    assert metrics["test_examples"] == 300 and metrics["test_tokens"] == 300 * dates.TARGET_LENGTH
    assert metrics["test_perplexity"] == pytest.approx(2 ** metrics["test_bits_per_token"], rel=1e-6)
    assert 1 < metrics["test_perplexity"] < len(dates.TARGET_TOKENS)  # learned something, and a probability
    assert 0 <= metrics["test_exact_match"] <= metrics["test_token_accuracy"] <= 1
    blocks = (dates_run / "samples.txt").read_text(encoding="utf-8").strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["epoch 1", "epoch 2"]
    assert all(len(b.splitlines()) == 1 + 8 and " -> " in b for b in blocks)
    assert (dates_run / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((dates_run / "tensorboard" / "samples").iterdir())  # the text summaries


@pytest.mark.slow  # default runs took 886 s and 974 s of their 900 with it; test_language.py covers the task
def test_predict_converts_each_line_and_names_bad_inputs(dates_run):
    done = run("zoo.predict", str(dates_run), "3rd of March 2021", "", "x" * 40, "-", stdin="Mar 3, 2021\n\n")
    assert done.returncode == 1  # two inputs could not be converted
    lines = done.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["3rd of March 2021", "Mar 3, 2021"]
    assert all(len(line.split("\t")) == 2 for line in lines)
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 2 and "is empty" in errors[0] and "at most 32" in errors[1]


@pytest.mark.slow  # default runs took 886 s and 974 s of their 900 with it; test_language.py covers the task
def test_generate_points_an_encoder_decoder_run_to_predict(dates_run, capsys):
    from zoo import generate

    assert generate.main([str(dates_run), "--prompt", "3rd of March 2021"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"python -m zoo.predict {dates_run}" in err, err


def app_decode(folder, source, variant="float32") -> str:
    """An encoder-decoder's decoder file run as signature.json's loop says, greedy, with the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    graph = json.loads((folder / "signature.json").read_text())["graphs"]["decoder"]
    loop, step_inputs = graph["loop"], graph["signatures"]["step"]["inputs"]
    interp = Interpreter(model_path=str(folder / f"decoder_{variant}.tflite"))
    prefill, step = interp.get_signature_runner("prefill"), interp.get_signature_runner("step")
    cache = prefill(source=np.asarray(source, np.int32)[None])
    written = []
    for position in range(loop["max_length"]):
        written.append(int(cache.pop("probabilities")[0].argmax()))
        if written[-1] == loop["end_id"]:
            break
        cache.update(step(token=np.array(written[-1:], np.int32), position=np.array([position], np.int32),
                          **{k: v for k, v in cache.items() if k in step_inputs}))
    return dates.decode_target(written)


@pytest.fixture(scope="module")
def dates_export(dates_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("s2s_export") / "export"
    done = run("export", str(dates_run), "--quantize", "float32,dynamic,int8", "--latency-runs", "5", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


TEXTS = ["3rd of March 2021", "03/03/21", "Mar 3, 2021", "THE 1ST OF MAY, 1999", "7.6.05"]


@pytest.mark.slow  # the default run was at its 15-minute limit; CI's slow set runs it
def test_export_writes_a_file_that_decodes_as_keras_does(dates_run, dates_export):
    """One invoke of the float32 file writes the whole output, and the decoder file's loop writes it id by id: both
    token for token Keras's greedy decoding."""
    from export import verify
    from zoo.run import Run

    out = dates_export
    report = json.loads((out / "report.json").read_text())
    assert report["artifacts"]["model_float32.tflite"]["greedy_agreement_vs_keras"] == 1.0
    assert 0 <= report["artifacts"]["model_dynamic.tflite"]["greedy_agreement_vs_keras"] <= 1
    assert report["artifacts"]["decoder_float32.tflite"]["greedy_agreement_vs_keras"] == 1.0
    assert not report.get("skipped")
    for graph in ("model", "decoder"):  # a masked -1e9 kept in int8 wrote next to nothing right (0.04% of dates)
        assert report["artifacts"][f"{graph}_int8.tflite"]["greedy_agreement_vs_keras"] >= 0.9, report["artifacts"]
    signature = json.loads((out / "signature.json").read_text())
    assert signature["graphs"]["model"]["input"]["kind"] == "characters"
    assert (out / "target_vocab.txt").read_text().splitlines() == list(dates.TARGET_TOKENS)
    source = dates.encode_source(TEXTS)
    lite = verify.Runner((out / "model_float32.tflite").read_bytes()).predict(source)
    keras_ids, _ = Run(dates_run).model().greedy(source)
    assert np.array_equal(lite.argmax(-1), np.asarray(keras_ids))
    for row, ids in zip(source, np.asarray(keras_ids)):  # the loop an app runs, from signature.json alone
        assert app_decode(out, row) == dates.decode_target(ids)
    int8 = [app_decode(out, row, "int8") == dates.decode_target(ids) for row, ids in zip(source, keras_ids)]
    assert np.mean(int8) >= 0.6, int8  # the padding mask prefill hands to step (LiteRT Quantizer had re-pointed it):
    prefill = verify.interpreter((out / "decoder_int8.tflite").read_bytes()).get_signature_runner("prefill")
    assert np.array_equal(prefill(source=source[:1])["mask"], (source[:1] != 0).astype(np.float32))
    assert "exact" in (out / "MODEL_CARD.md").read_text()


@pytest.mark.slow
@needs_browser
def test_the_web_page_rewrites_as_keras_does(dates_run, dates_export):
    """The page's encoder-decoder mode: LiteRT.js in headless Chromium runs prefill and step from signature.json and
    the two vocabularies alone, and writes Keras's greedy output."""
    from export import web
    from export.web import browser
    from zoo.run import Run

    keras_ids, _ = Run(dates_run).model().greedy(dates.encode_source(TEXTS))
    folder = Path(web.build(dates_export, log=lambda s: None)["folder"])
    with browser.Page(folder) as page:
        page.open()
        assert page.error() is None
        assert page.rewrite(TEXTS) == [dates.decode_target(ids) for ids in np.asarray(keras_ids)]
        assert page.call("return document.querySelector('#rewritten').textContent;") == dates.decode_target(
            np.asarray(keras_ids)[-1])
        with pytest.raises(RuntimeError, match="the model reads at most 32"):  # a one-line answer, no output
            page.call("return await window.zoo.rewrite('x'.repeat(40));")
