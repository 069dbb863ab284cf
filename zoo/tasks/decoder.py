"""What a language model hands to export: its prefill and step signatures, the loop an app runs them in, test
prompts with Keras's greedy continuations, and calibration inputs (`DecoderGraph`; export/decoding.py writes it).

    python -m export runs/gpt_imdb/<run>      # decoder_float32.tflite, ... with signatures prefill and step

The model's own `prefill(ids, length)` and `step(token, position, cache)` (zoo/models/lm.py, gpt.py) are the two
graphs; the cache (an LSTM's state, a Transformer's keys and values) keeps one fixed shape, so each file has fixed
shapes and builtin ops only. The files decode one text at a time (batch 1).
"""

from __future__ import annotations

import time

import numpy as np

from zoo.tasks.graphs import DecoderGraph

PROMPTS_CHECKED = 100  # test prompts every file's greedy loop must continue as Keras does
PROMPT_IDS = 5  # <s> and a test review's first four words
CONTINUED = 20  # ids each continuation has at most
SPEED_PROMPTS = 10  # prompts Keras's tokens per second are measured on (zoo.generate's whole-window loop)
NEVER = (0, 2)  # padding and <s>: never written (zoo.sampling)


def cache_specs(model, length: int) -> dict:
    """Each cache tensor's shape with batch 1 and the axis that holds the batch (found by running prefill on 1 and
    on 2 prompts)."""
    shapes = []
    for batch in (1, 2):
        _, cache = model.prefill(np.full((batch, length), 2, np.int32), np.ones((batch,), np.int32))
        shapes.append({k: tuple(v.shape) for k, v in cache.items()})
    return {k: {"shape": list(shapes[0][k]), "batch_axis": next(i for i, (a, b) in enumerate(zip(shapes[0][k],
            shapes[1][k])) if a != b)} for k in sorted(shapes[0])}


def signatures(model, length: int, vocab: int) -> dict:
    probs = {"shape": [1, vocab], "dtype": "float32", "batch_axis": 0,
             "meaning": "the next id's probabilities: index i is line i of vocab.txt"}
    cache = {name: {**spec, "dtype": "float32", "meaning": f"the cache ({name}): pass it to step's input `{name}` "
                                                           "as it is"} for name, spec in cache_specs(model, length).items()}
    outputs = {"probabilities": probs, **cache}
    return {
        "prefill": {"inputs": {
            "ids": {"shape": [1, length], "dtype": "int32", "batch_axis": 0,
                    "meaning": "the prompt: <s> (id 2) then its words' ids, 0-padded to the length"},
            "length": {"shape": [1], "dtype": "int32", "batch_axis": 0,
                       "meaning": f"how many of `ids` are the prompt (1..{length - 1})"}}, "outputs": outputs},
        "step": {"inputs": {
            "token": {"shape": [1], "dtype": "int32", "batch_axis": 0, "meaning": "the id just chosen"},
            "position": {"shape": [1], "dtype": "int32", "batch_axis": 0,
                         "meaning": "its place in the text: the prompt's length at the first step, then one more each "
                                    f"step (at most {length - 1})"},
            **cache}, "outputs": outputs},
    }


def loop(length: int) -> dict:
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


def calibration(model, data, count: int):
    """The same (signature, inputs) pairs on every call: prefill on training windows cut at a random length, and the
    step that follows each, with the cache Keras's prefill gives."""
    taken: list = []
    length = data.info.input_shape[0]

    def gen():
        if not taken:
            rng, specs = np.random.default_rng(0), cache_specs(model, length)
            for x, _ in data.train:
                ids = np.asarray(x, np.int32)
                cut = rng.integers(1, length, len(ids)).astype(np.int32)
                windows = np.where(np.arange(length)[None] < cut[:, None], ids, 0).astype(np.int32)
                _, cache = model.prefill(windows, cut)
                cache = {k: np.asarray(v) for k, v in cache.items()}
                for i in range(len(ids)):
                    mine = {k: np.take(v, [i], axis=specs[k]["batch_axis"]) for k, v in cache.items()}
                    taken.append(("prefill", {"ids": windows[i : i + 1], "length": cut[i : i + 1]}))
                    taken.append(("step", {"token": ids[i, cut[i]][None], "position": cut[i : i + 1], **mine}))
                if len(taken) >= 2 * count:
                    break
            del taken[2 * count :]
        yield from taken

    return gen


def decoder_graph(model, original, data, calibration_count: int) -> DecoderGraph:
    from zoo.sampling import continue_ids
    from zoo.tasks.graphs import take

    info = data.info
    length = info.input_shape[0]
    windows, _ = take(data.test, 256)
    prompts = [[int(i) for i in w[:PROMPT_IDS]] for w in windows if np.all(w[:PROMPT_IDS] != 0)][:PROMPTS_CHECKED]
    continuations = continue_ids(model, prompts, CONTINUED, length, temperature=0)
    continue_ids(model, prompts[:1], 1, length)  # traced for batch 1 before the clock starts
    start = time.perf_counter()  # zoo.generate's loop, one prompt at a time
    written = sum(len(continue_ids(model, [p], CONTINUED, length)[0]) for p in prompts[:SPEED_PROMPTS])
    keras_speed = written / (time.perf_counter() - start)
    return DecoderGraph(
        name="decoder", model=model, original=original, inputs=windows, prompts=prompts, continuations=continuations,
        steps=CONTINUED, signatures=signatures(model, length, info.vocab_size), loop=loop(length),
        input={"name": "ids", "kind": "prompt", "shape": [length], "dtype": "int32", "range": [0, info.vocab_size - 1],
               "preprocessing": info.preprocessing, "text": info.text},
        output={"name": "probabilities", "shape": [info.vocab_size], "dtype": "float32",
                "meaning": "the next id's probabilities (prefill's and every step's): index i is line i of vocab.txt"},
        calibration=calibration(model, data, calibration_count),
        summary={"keras_greedy_prompts": len(prompts), "keras_tokens_per_s": keras_speed})
