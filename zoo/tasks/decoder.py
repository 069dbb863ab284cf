"""What a model that writes token by token hands to export: its prefill and step signatures, the loop an app runs
them in, test prompts with Keras's greedy continuations and probabilities, and calibration inputs (`DecoderGraph`;
export/decoding.py writes it).

    python -m export runs/gpt_imdb/<run>          # decoder_float32.tflite, ... with signatures prefill and step
    python -m export runs/seq2seq_dates/<run>     # model_*.tflite (one invoke) and decoder_*.tflite (the loop)

The model's own `prefill(...)` and `step(token, position, cache)` (zoo/models/lm.py, gpt.py, seq2seq.py) are the two
graphs. A language model's prefill takes the prompt (`ids`, 0-padded, and its `length`); an encoder-decoder's takes
the `source` and encodes it. The cache (an LSTM's state, a Transformer's keys and values, an encoder-decoder's state
and encoding) keeps one fixed shape, so each file has fixed shapes and builtin ops only; batch 1.
"""

from __future__ import annotations

import time

import numpy as np

from zoo.tasks.graphs import DecoderGraph

PROMPTS_CHECKED = 100  # test prompts every file's greedy loop must continue as Keras does
PROMPT_IDS = 5  # a language model's prompts: <s> and a test review's first four words
CONTINUED = 20  # ids each language model's continuation has at most
SPEED_PROMPTS = 10  # prompts Keras's ids per second are measured on, one at a time
NEVER = (0, 2)  # padding and <s>: never written by a language model (zoo.sampling)
CACHE = "the cache: pass it to step's input of the same name"
FROM_LAST = "the last run's output of this name (prefill's where step gives none)"


def specs_of(run) -> dict:
    """run(batch) -> {name: tensor}: each one's shape with batch 1 and the axis that holds the batch (found by
    running on 1 and on 2 examples)."""
    one, two = ({k: tuple(v.shape) for k, v in run(batch).items()} for batch in (1, 2))
    return {k: {"shape": list(one[k]), "batch_axis": next(i for i, (a, b) in enumerate(zip(one[k], two[k]))
                                                          if a != b)} for k in sorted(one)}


def signatures(model, prefill_feed, prefill_inputs: dict, vocab_meaning: str) -> dict:
    """Every input and output of prefill and step by name: shape (batch 1), batch_axis, dtype, meaning."""
    def prefill(batch):
        probs, cache = model.prefill(**prefill_feed(batch))
        return {"probabilities": probs, **cache}

    def step(batch):
        cache = {k: v for k, v in prefill(batch).items() if k != "probabilities"}
        probs, new = model.step(np.full((batch,), 3, np.int32), np.ones((batch,), np.int32), cache)
        return {"probabilities": probs, **new}

    def described(specs, meaning):
        return {k: {**v, "dtype": "float32", "meaning": vocab_meaning if k == "probabilities" else meaning}
                for k, v in specs.items()}

    prefill_out = described(specs_of(prefill), CACHE)
    ids = {"shape": [1], "dtype": "int32", "batch_axis": 0}
    return {"prefill": {"inputs": prefill_inputs, "outputs": prefill_out},
            "step": {"inputs": {"token": {**ids, "meaning": "the id just chosen"},
                                "position": {**ids, "meaning": "its place: the number of ids before it (a language "
                                                               "model's prompt included)"},
                                **described({k: v for k, v in prefill_out.items() if k != "probabilities"}, FROM_LAST)},
                     "outputs": described(specs_of(step), CACHE)}}


def keras_speed(decode, prompts) -> float:
    """Keras's ids per second, one prompt at a time (`decode(prompt)` -> its ids), after one warm-up."""
    decode(prompts[0])
    start = time.perf_counter()
    written = sum(len(decode(p)) for p in prompts[:SPEED_PROMPTS])
    return written / (time.perf_counter() - start)


def language_model_graph(model, original, data, calibration_count: int) -> DecoderGraph:
    from zoo.sampling import continue_ids
    from zoo.tasks.graphs import predict, take

    info, length = data.info, data.info.input_shape[0]
    windows, _ = take(data.test, 256)
    prompts = [[int(i) for i in w[:PROMPT_IDS]] for w in windows if np.all(w[:PROMPT_IDS] != 0)][:PROMPTS_CHECKED]
    continuations = continue_ids(model, prompts, CONTINUED, length, temperature=0)
    whole = np.zeros((len(prompts), length), np.int32)
    for row, (p, c) in enumerate(zip(prompts, continuations)):
        whole[row, : len(p) + len(c)] = p + c
    probs = predict(model, whole)  # Keras on the whole window, where each continuation's id was chosen
    expected = [probs[row, len(p) - 1 : len(p) - 1 + len(c)] for row, (p, c) in enumerate(zip(prompts, continuations))]
    word = {"shape": [1], "dtype": "int32", "batch_axis": 0}
    inputs = {"ids": {"shape": [1, length], "dtype": "int32", "batch_axis": 0,
                      "meaning": "the prompt: <s> (id 2) then its words' ids, 0-padded to the length"},
              "length": {**word, "meaning": f"how many of `ids` are the prompt (1..{length - 1})"}}
    feed = lambda b: {"ids": np.full((b, length), 2, np.int32), "length": np.ones((b,), np.int32)}  # noqa: E731
    described = signatures(model, feed, inputs, "the next id's probabilities: index i is line i of vocab.txt")
    return DecoderGraph(
        name="decoder", model=model, original=original, inputs=windows, prompts=prompts, continuations=continuations,
        expected=expected, steps=CONTINUED, loop=lm_loop(length), signatures=described,
        input={"name": "ids", "kind": "prompt", "shape": [length], "dtype": "int32", "range": [0, info.vocab_size - 1],
               "preprocessing": info.preprocessing, "text": info.text},
        output={"name": "probabilities", "shape": [info.vocab_size], "dtype": "float32",
                "meaning": "the next id's probabilities (prefill's and every step's): index i is line i of vocab.txt"},
        calibration=remembered(lambda: lm_calibration(model, data, cache_axes(described)), calibration_count),
        summary={"keras_greedy_prompts": len(prompts), "keras_tokens_per_s": keras_speed(
            lambda p: continue_ids(model, [p], CONTINUED, length)[0], prompts)})


def lm_loop(length: int) -> dict:
    return {"vocabulary": "vocab.txt", "start_id": 2, "unknown_id": 1, "never": list(NEVER), "max_length": length,
            "steps": [
                "Lower-case the prompt, strip punctuation as input.text.standardize says, split it at spaces and map "
                "each word to its line number in vocab.txt (not there: 1); put <s> (2) first",
                "Run prefill with ids = those ids 0-padded to max_length, length = their count",
                "Set the probabilities of the ids in `never` to 0; greedy: take the largest (the lowest id on a tie); "
                "or sample: keep the top-k, raise them to 1 / temperature, renormalise and draw",
                "Run step with token = that id, position = the number of ids before it, and every cache output of "
                "the last run as the input of the same name",
                "Repeat the last two steps until the text has max_length ids or enough words; print the chosen ids' "
                "words joined by spaces"]}


def remembered(pairs, count: int):
    """A calibration function: the first 2 * `count` (signature, inputs) pairs `pairs()` yields (a prefill and a step
    per example), read once and given the same on every call, as zoo.tasks.graphs.calibration_batches does."""
    taken: list = []

    def gen():
        if not taken:
            for pair in pairs():
                taken.append(pair)
                if len(taken) == 2 * count:
                    break
        yield from taken

    return gen


def lm_calibration(model, data, axes: dict):
    """Prefill on training windows cut at a random length, and the step that follows each, with the cache Keras's
    prefill gives (cut per example on its batch `axes`)."""
    length = data.info.input_shape[0]
    rng = np.random.default_rng(0)
    for x, _ in data.train:
        ids = np.asarray(x, np.int32)
        cut = rng.integers(1, length, len(ids)).astype(np.int32)
        windows = np.where(np.arange(length)[None] < cut[:, None], ids, 0).astype(np.int32)
        _, cache = model.prefill(windows, cut)
        for i in range(len(ids)):
            yield "prefill", {"ids": windows[i : i + 1], "length": cut[i : i + 1]}
            yield "step", {"token": ids[i, cut[i]][None], "position": cut[i : i + 1], **one_of(cache, i, axes)}


def cache_axes(signatures_: dict) -> dict:
    """Each cache tensor's batch axis, as `signatures` found it."""
    return {k: v["batch_axis"] for k, v in signatures_["prefill"]["outputs"].items() if k != "probabilities"}


def one_of(cache, i: int, axes: dict) -> dict:
    """Example i of a batch's cache, each tensor cut on its own batch axis (a GPT's keys carry the blocks first)."""
    return {k: np.take(np.asarray(v), [i], axis=axes[k]) for k, v in cache.items()}


def encoder_decoder_graph(model, original, data, sources, calibration_count: int) -> DecoderGraph:
    """An encoder-decoder's loop: prefill encodes the source and gives the first character; step writes the next."""
    text, length = data.info.text, data.info.input_shape[0]
    x = sources[:PROMPTS_CHECKED]
    ids = np.asarray(model.greedy(x)[0])
    continuations = [until_end(row, text["end_id"]) for row in ids]
    previous = np.concatenate([np.full((len(x), 1), text["start_id"], np.int32), ids[:, :-1]], axis=1)
    probs = np.asarray(model((x, previous)), np.float32)  # Keras fed its own greedy ids (teacher forcing)
    source_meaning = f"the text's characters as line numbers of {text['source_vocabulary']} (others 1), 0-padded"
    feed = lambda b: {"source": np.full((b, length), 3, np.int32)}  # noqa: E731
    vocab_meaning = f"the next character's probabilities: index i is line i of {text['target_vocabulary']}"
    described = signatures(model, feed, {"source": {"shape": [1, length], "dtype": "int32", "batch_axis": 0,
                                                    "meaning": source_meaning}}, vocab_meaning)
    return DecoderGraph(
        name="decoder", model=model, original=original, inputs=sources, prompts=[[int(i) for i in s if i] for s in x],
        continuations=continuations, expected=[probs[r, : len(c)] for r, c in enumerate(continuations)],
        steps=model.target_length, loop=encoder_decoder_loop(text, model.target_length), signatures=described,
        input={"name": "source", "kind": "characters", "shape": [length], "dtype": "int32",
               "range": list(data.info.input_range), "preprocessing": data.info.preprocessing, "text": text},
        output={"name": "probabilities", "shape": [len(data.info.class_names)], "dtype": "float32",
                "meaning": vocab_meaning},
        calibration=remembered(lambda: encoder_decoder_calibration(model, data, cache_axes(described)),
                               calibration_count),
        summary={"keras_greedy_prompts": len(x), "keras_tokens_per_s": keras_speed(
            lambda s: until_end(np.asarray(model.greedy(np.asarray([s]))[0])[0], text["end_id"]), list(x))})


def until_end(ids, end_id: int) -> list[int]:
    """Greedy ids up to and including the first <end>: what a device loop writes before it stops."""
    ids = [int(i) for i in ids]
    return ids[: ids.index(end_id) + 1] if end_id in ids else ids


def encoder_decoder_loop(text: dict, steps: int) -> dict:
    return {"vocabulary": text["target_vocabulary"], "source_vocabulary": text["source_vocabulary"],
            "start_id": text["start_id"], "end_id": text["end_id"], "unknown_id": text["oov_id"], "never": [],
            "max_length": steps, "steps": [
                f"Map each character of the text to its line number in {text['source_vocabulary']} (not there: "
                f"{text['oov_id']}), 0-padded to the source length",
                "Run prefill with source = those ids",
                f"Take the largest probability (the lowest id on a tie): the next character, a line of "
                f"{text['target_vocabulary']}; stop at end_id",
                "Run step with token = that id, position = the number of characters written before it, state = the "
                "last run's state, and vectors, keys and mask as prefill gave them",
                "Repeat the last two steps until end_id or max_length characters"]}


def encoder_decoder_calibration(model, data, axes: dict):
    """Prefill on training sources, and a step after a random number of characters of the true output (teacher
    forcing), with the state Keras's steps give."""
    rng = np.random.default_rng(0)
    for (source, _), target in data.train:
        source, target = np.asarray(source, np.int32), np.asarray(target, np.int32)
        _, cache = model.prefill(source)
        steps = int(rng.integers(0, target.shape[1] - 1))
        for t in range(steps):
            _, new = model.step(target[:, t], np.full((len(source),), t, np.int32), cache)
            cache = {**cache, "state": new["state"]}
        for i in range(len(source)):
            yield "prefill", {"source": source[i : i + 1]}
            yield "step", {"token": target[i, steps][None], "position": np.array([steps], np.int32),
                           **one_of(cache, i, axes)}
