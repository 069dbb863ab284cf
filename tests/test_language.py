"""The language models (lstm_lm_imdb, gpt_imdb) as a user meets them: their data, sampling, the Kneser-Ney baseline,
and `python -m zoo.generate` in a fresh process with its one-line answers to bad prompts."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.kneser_ney import KneserNeyTrigram
from conftest import LM_SENTENCE, needs_browser, write_lm_like
from zoo.sampling import continue_ids, pick


def test_kneser_ney_sums_to_one_in_every_context_and_prefers_seen_text():
    rng = np.random.default_rng(0)
    vocab = 14
    train = rng.integers(3, vocab, (60, 10))
    train[::4, 7:] = 0  # padding is never counted
    kn = KneserNeyTrigram(train, vocab, start=2, outcomes=vocab - 3)
    words = np.arange(3, vocab)
    for u, v in [(2, 2), (2, 5), (3, 4), (13, 13), (7, 9)]:  # start contexts, seen and unseen pairs
        p = kn.prob(np.full_like(words, u), np.full_like(words, v), words)
        assert np.all(p > 0) and p.sum() == pytest.approx(1.0, abs=1e-9), (u, v)
    seen, n = kn.perplexity(train)
    assert n == int(np.sum(train != 0))
    assert seen < kn.perplexity(rng.integers(3, vocab, (60, 10)))[0] < vocab - 3 + 5


def test_kneser_ney_learns_a_deterministic_text():
    text = np.tile(np.arange(3, 9), (30, 2))  # 3 4 5 6 7 8 3 4 ...: each word has one successor
    kn = KneserNeyTrigram(text, 12, start=2, outcomes=9)
    assert kn.prob([3], [4], [5])[0] > 0.9 and kn.perplexity(text)[0] < 1.3


def test_lm_data_predicts_each_next_word_from_the_words_before(tmp_path):
    import zoo
    from zoo.data.language import START_ID
    from zoo.hparams import resolve

    recipe = zoo.get("gpt_imdb")
    hp = resolve(recipe.name, recipe.hparams, overrides={"sequence_length": 12, "vocab_size": 50})
    data = recipe.data(hp, data_dir=str(write_lm_like(tmp_path / "d")))
    tokens = data.files["vocab.txt"].split("\n")
    assert tokens[:3] == ["", "[UNK]", "<s>"] and set(LM_SENTENCE) <= set(tokens)
    x, y = (np.asarray(a) for a in next(iter(data.test)))
    assert x.shape == y.shape == (len(x), 12) and np.all(x[:, 0] == START_ID)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # label t is input t + 1
    successor = {w: LM_SENTENCE[(i + 1) % len(LM_SENTENCE)] for i, w in enumerate(LM_SENTENCE)}
    for row in y:
        words = [tokens[i] for i in row if i]
        assert all(successor[a] == b for a, b in zip(words, words[1:]))


class Fixed:
    """A 'model' that always gives the same next-word distribution."""

    def __init__(self, probs):
        self.probs = np.asarray(probs, np.float32)

    def predict_on_batch(self, x):
        return np.broadcast_to(self.probs, (*x.shape, len(self.probs)))


def test_sampling_is_greedy_at_zero_temperature_seeded_otherwise_and_stops_at_the_window():
    model = Fixed([0.5, 0.0, 0.3, 0.05, 0.15])  # padding and <s> hold the most: never written
    assert continue_ids(model, [[2, 3]], steps=3, length=8) == [[4, 4, 4]]
    assert continue_ids(model, [[2]], steps=20, length=5) == [[4, 4, 4, 4]]  # 5 ids in all, <s> included
    drawn = continue_ids(model, [[2], [2, 4]], steps=30, length=40, temperature=1.0, seed=7)
    assert drawn == continue_ids(model, [[2], [2, 4]], steps=30, length=40, temperature=1.0, seed=7)
    assert {3, 4} == set(drawn[0]) | set(drawn[1])
    assert drawn != continue_ids(model, [[2], [2, 4]], steps=30, length=40, temperature=1.0, seed=8)
    rng = np.random.default_rng(0)
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    assert {pick(probs, 1.0, 1, rng) for _ in range(20)} == {3}  # top-k 1 is greedy
    assert {pick(probs, 1.0, 2, rng) for _ in range(200)} == {2, 3}
    with pytest.raises(ValueError, match="reads 1..5"):
        continue_ids(model, [[2] * 6], steps=1, length=5)


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, input=stdin, timeout=600)


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    folder = root / "run"
    done = run("zoo.train", "gpt_imdb", "--data-dir", str(write_lm_like(root / "d", n_train=400)),
               "--run-dir", str(folder), "--precision", "float32", "--set", "epochs=3", "--set", "vocab_size=60",
               "--set", "sequence_length=24", "--set", "embed_dim=32", "--set", "ff_dim=32", "--set", "blocks=1",
               "--set", "batch_size=32", "--set", "learning_rate=0.01")
    assert done.returncode == 0, done.stderr[-2000:]
    return folder


def test_training_writes_perplexity_and_samples_every_epoch(gpt_run):
    metrics = json.loads((gpt_run / "metrics.json").read_text())
    assert metrics["test_perplexity"] < 3 and metrics["test_tokens"] > 0 and "test_exact_match" not in metrics
    samples = (gpt_run / "samples.txt").read_text()
    assert [line for line in samples.splitlines() if line.startswith("epoch")] == ["epoch 1", "epoch 2", "epoch 3"]
    assert samples.count("this movie was ...") == 3


def test_generate_continues_prompts_as_the_run_learned_them(gpt_run, capsys):
    from zoo import generate

    assert generate.main([str(gpt_run), "--prompt", "A quiet, FILM", "--prompt", "every actor", "--max-tokens", "6",
                          "--temperature", "0"]) == 0
    assert capsys.readouterr().out.splitlines() == ["a quiet film with every actor knowing why its",
                                                    "every actor knowing why its story mattered so"]
    args = [str(gpt_run), "--prompt", "-", "--max-tokens", "8", "--seed", "3", "--temperature", "2", "--top-k", "0"]
    drawn = run("zoo.generate", *args, stdin="its story\nso much\n")
    assert drawn.returncode == 0 and len(drawn.stdout.splitlines()) == 2
    with open(gpt_run / "prompts.txt", "w") as f:
        f.write("its story\nso much\n")
    with open(gpt_run / "prompts.txt") as stdin:  # the same seed in another process: the same text
        sys.stdin = stdin
        try:
            assert generate.main(args) == 0
        finally:
            sys.stdin = sys.__stdin__
    assert capsys.readouterr().out == drawn.stdout
    assert generate.main([str(gpt_run), "--prompt", "a quiet", "--max-tokens", "40", "--temperature", "0"]) == 0
    printed = capsys.readouterr()
    assert len(printed.out.split()) == 2 + 21 and "stopped after 21 words" in printed.err  # <s> + 23 words = 24


def test_generate_answers_bad_prompts_and_other_runs_in_one_line(gpt_run, capsys):
    from zoo import generate, predict

    bad = run("zoo.generate", str(gpt_run), "--prompt", "?!", "--prompt", "zebra xylophone", "--prompt",
              "a " * 30, "--prompt", "a quiet", "--max-tokens", "2", "--temperature", "0")
    assert bad.returncode == 1 and bad.stdout == "a quiet film with\n"
    errors = bad.stderr.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: prompt") for line in errors)
    assert "has no words" in errors[0] and "no word in the model's vocabulary" in errors[1]
    assert "at most 22 words" in errors[2]
    for args, expected in [(("--max-tokens", "0", "--prompt", "a"), "--max-tokens must be at least 1"),
                           (("--temperature", "-1", "--prompt", "a"), "--temperature must be 0"),
                           (("--top-k", "-2", "--prompt", "a"), "--top-k must be 0"), ((), "no prompt")]:
        assert generate.main([str(gpt_run), *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err
    assert predict.main([str(gpt_run), "the film"]) == 2
    assert "python -m zoo.generate" in capsys.readouterr().err


PAGE_PROMPTS = ("a quiet film", "every actor")


def app_loop(folder, prompt: str, words: int) -> str:
    """What an app does with an export folder, from signature.json alone: its loop with the LiteRT interpreter, greedy
    (the prompt split at spaces after lower-casing: the test's prompts have no punctuation)."""
    from ai_edge_litert.interpreter import Interpreter

    graph = json.loads((folder / "signature.json").read_text())["graphs"]["decoder"]
    loop, vocab = graph["loop"], (folder / graph["loop"]["vocabulary"]).read_text().split("\n")
    interp = Interpreter(model_path=str(folder / "decoder_float32.tflite"))
    prefill, step = interp.get_signature_runner("prefill"), interp.get_signature_runner("step")
    prompt_ids = [loop["start_id"]] + [vocab.index(w) if w in vocab else loop["unknown_id"]
                                       for w in prompt.lower().split()]
    ids = np.zeros(graph["signatures"]["prefill"]["inputs"]["ids"]["shape"], np.int32)
    ids[0, : len(prompt_ids)] = prompt_ids
    out = prefill(ids=ids, length=np.array([len(prompt_ids)], np.int32))
    written = []
    for position in range(len(prompt_ids), len(prompt_ids) + words):
        probs = out["probabilities"][0].copy()
        probs[loop["never"]] = 0
        written.append(int(probs.argmax()))
        cache = {k: out[k] for k in graph["signatures"]["step"]["inputs"] if k in out}
        out = step(token=np.array(written[-1:], np.int32), position=np.array([position], np.int32), **cache)
    return " ".join(vocab[i] for i in prompt_ids[1:] + written)


@pytest.fixture(scope="module")
def gpt_export(gpt_run, tmp_path_factory):
    """The documented command in a fresh process: float32, dynamic, and auto (which a decoder does not take)."""
    out = tmp_path_factory.mktemp("lm_export") / "export"
    done = run("export", str(gpt_run), "--data-dir", str(gpt_run.parent / "d"), "--quantize", "float32,dynamic,auto",
               "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_export_writes_a_decoder_an_app_runs_as_zoo_generate_writes(gpt_run, gpt_export, capsys):
    """The loop signature.json describes, run with the LiteRT interpreter, writes what zoo.generate writes greedily,
    and the report says every file agrees with Keras."""
    from export import formats
    from zoo import generate

    out = gpt_export
    signature = json.loads((out / "signature.json").read_text())
    assert formats.problems(signature, "signature") == [] and set(signature["graphs"]) == {"decoder"}
    files = signature["graphs"]["decoder"]["files"]
    assert sorted(files) == ["decoder_dynamic.tflite", "decoder_float32.tflite"]
    assert all(set(io["signatures"]) == {"prefill", "step"} for io in files.values())
    report = json.loads((out / "report.json").read_text())
    assert report["keras_greedy_prompts"] == 80 and "decoder auto" in report["skipped"]
    float32 = report["artifacts"]["decoder_float32.tflite"]
    assert float32["greedy_agreement_vs_keras"] == 1.0 and float32["max_abs_diff_vs_keras"] < 1e-5
    assert float32["decode_tokens_per_s_1_thread"] > 0 and "WHILE" not in float32["ops"]
    dynamic = report["artifacts"]["decoder_dynamic.tflite"]
    assert 0 <= dynamic["greedy_agreement_vs_keras"] <= 1
    # the tied embedding's lookup reads the output layer's int8 weights: no float32 copy of the table is left
    assert "embedding lookup reads the output layer's int8 weights" in dynamic["made_by"], dynamic["made_by"]
    assert "DEQUANTIZE" in dynamic["ops"] and dynamic["bytes"] < float32["bytes"]
    import tensorflow as tf

    served = tf.saved_model.load(str(out / signature["graphs"]["decoder"]["saved_model"]["dir"]))  # any batch size
    ids = np.zeros((3, 24), np.int32)
    ids[:, :2] = 2, 5
    first = served.signatures["prefill"](ids=tf.constant(ids), length=tf.constant([2, 2, 2]))
    then = served.signatures["step"](token=tf.constant([3, 4, 5]), position=tf.constant([2, 2, 2]),
                                     keys=first["keys"], values=first["values"])
    assert then["probabilities"].shape == (3, 20) and then["keys"].shape[1] == 3
    for prompt in PAGE_PROMPTS:
        assert generate.main([str(gpt_run), "--prompt", prompt, "--max-tokens", "6", "--temperature", "0"]) == 0
        assert app_loop(out, prompt, 6) == capsys.readouterr().out.strip()
    from export import inspect

    assert inspect.main([str(out / "decoder_float32.tflite")]) == 0  # both signatures, by their inputs' names
    shown = capsys.readouterr().out
    assert "signature step:" in shown and "input  token: [1] int32" in shown and "output probabilities: [1, 20]" in shown


@needs_browser
def test_the_web_page_writes_what_zoo_generate_writes(gpt_run, gpt_export, capsys):
    """LiteRT.js in headless Chromium runs the same loop from signature.json and vocab.txt alone."""
    from export import web
    from export.web import browser
    from zoo import generate

    assert generate.main([str(gpt_run), *[a for p in PAGE_PROMPTS for a in ("--prompt", p)], "--max-tokens", "6",
                          "--temperature", "0"]) == 0
    expected = capsys.readouterr().out.splitlines()
    folder = Path(web.build(gpt_export, log=lambda s: None)["folder"])
    with browser.Page(folder) as page:
        page.open()
        assert page.error() is None
        assert page.write(PAGE_PROMPTS, 6) == expected
        assert page.call("return document.querySelector('#written').textContent;") == expected[-1]


@pytest.mark.slow  # the default run exports gpt_imdb; this adds the LSTM's masked prefill (a WHILE loop) and int8
def test_an_lstm_language_model_exports_and_decodes_as_zoo_generate_does(tmp_path, capsys):
    from zoo import generate

    data, folder, out = write_lm_like(tmp_path / "d", n_train=400), tmp_path / "run", tmp_path / "export"
    done = run("zoo.train", "lstm_lm_imdb", "--data-dir", str(data), "--run-dir", str(folder), "--precision",
               "float32", "--set", "epochs=4", "--set", "vocab_size=60", "--set", "sequence_length=24", "--set",
               "units=32", "--set", "embed_dim=16", "--set", "batch_size=32", "--set", "learning_rate=0.01")
    assert done.returncode == 0, done.stderr[-2000:]
    done = run("export", str(folder), "--data-dir", str(data), "--quantize", "float32,int8", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["artifacts"]["decoder_float32.tflite"]["greedy_agreement_vs_keras"] == 1.0
    assert "WHILE" in report["artifacts"]["decoder_float32.tflite"]["ops"]  # prefill's masked loop over the prompt
    assert "keys" not in json.loads((out / "signature.json").read_text())["graphs"]["decoder"]["signatures"]["step"][
        "inputs"]
    assert generate.main([str(folder), "--prompt", "every actor", "--max-tokens", "5", "--temperature", "0"]) == 0
    assert app_loop(out, "every actor", 5) == capsys.readouterr().out.strip()


@pytest.mark.slow  # the default run tests tuning's machinery (test_tuning.py); this adds the perplexity objective
def test_tuning_minimises_validation_perplexity(tmp_path):
    data = write_lm_like(tmp_path / "d")
    done = run("tuning", "lstm_lm_imdb", "--tuner", "random", "--max-trials", "2", "--epochs", "1", "--objective",
               "val_perplexity", "--in-process", "--data-dir", str(data), "--dir", str(tmp_path / "search"),
               "--precision", "float32", "--set", "vocab_size=60", "--set", "sequence_length=16", "--set", "units=16",
               "--set", "batch_size=32")
    assert done.returncode == 0, done.stderr[-2000:]
    best = json.loads((tmp_path / "search" / "best_hparams.json").read_text())
    assert best["objective"] == "val_perplexity" and 1 < best["score"] < 60


def tiny_lm(kind):
    import keras

    from zoo.models.gpt import MiniGPT
    from zoo.models.lm import RecurrentLM

    keras.utils.set_random_seed(0)
    if kind == "lstm":
        return RecurrentLM(vocab_size=30, sequence_length=12, embed_dim=8, units=16, depth=2)
    if kind == "gru":
        return RecurrentLM(vocab_size=30, sequence_length=12, cell="gru", embed_dim=8, units=16, depth=1)
    return MiniGPT(vocab_size=30, sequence_length=12, embed_dim=16, heads=2, ff_dim=16, blocks=2, positions=kind)


@pytest.mark.parametrize("kind", ["learned", "sine", "lstm", "gru"])
def test_prefill_and_steps_with_the_cache_compute_what_the_whole_window_computes(kind):
    """What a device runs (prefill on the prompt, then one step per token with the state or key/value cache passed
    in and out) against the model on the whole window, over a greedy continuation of two prompts of other
    lengths."""
    model = tiny_lm(kind)
    ids = np.zeros((2, 12), np.int32)
    ids[0, :4], ids[1, :2] = [2, 5, 7, 9], [2, 11]
    position = np.array([4, 2], np.int32)
    full = np.asarray(model(ids))
    probs, cache = model.prefill(ids, position)
    np.testing.assert_allclose(np.asarray(probs), full[np.arange(2), position - 1], atol=2e-6)
    for _ in range(6):  # greedy continuation, each step checked against the model run on the whole window
        last = np.asarray(probs).copy()
        last[:, [0, 2]] = 0
        token = last.argmax(-1).astype(np.int32)
        ids[np.arange(2), position] = token
        probs, cache = model.step(token, position, cache)
        full = np.asarray(model(ids))
        np.testing.assert_allclose(np.asarray(probs), full[np.arange(2), position], atol=2e-6)
        position += 1
