"""Sequence generation: the model predicts the next token; scored by test perplexity (and, for a model that maps one
sequence to another, by greedy decoding's exact matches).

Inputs are what the data pipeline gives (a language model: `<s>` and a text's words; an encoder-decoder: source ids
and the target shifted right behind <start>); labels are the next tokens, id 0 padding, which the loss and every
score skip. A language model's samples continue fixed prompts (`PROMPTS`, temperature 0.8, top-k 40, seed 0).

`metrics.json` keys: test_perplexity (e to the mean next-token cross-entropy over the test tokens), test_bits_per_token,
test_token_accuracy (the true previous tokens fed), test_tokens, test_examples; a model with `greedy(source)` adds
test_exact_match (the share of test examples whose whole output, decoded from its own guesses, is right).
After every epoch, `samples.txt` in the run folder gains the model's outputs for fixed test inputs, and TensorBoard's
text tab shows them.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import keras
import numpy as np

from zoo.optim import make_optimizer
from zoo.tasks.base import TOKENS, Task

SAMPLES = 8  # test inputs written to samples.txt after every epoch
PROMPTS = ("this movie was", "i have never seen", "the acting", "if you like", "the worst", "my favourite")
SAMPLE_WORDS, SAMPLE_TEMPERATURE, SAMPLE_TOP_K, SAMPLE_SEED = 20, 0.8, 40, 0  # how a language model's samples run
ATTENTION_SHOWN = 6  # test examples drawn in attention.png


@keras.saving.register_keras_serializable(package="zoo")
class Perplexity(keras.metrics.Metric):
    """e to the mean cross-entropy of the true next tokens, padding (id 0) skipped. Keras has none; KerasHub's would
    add a package for ten lines. Named `perplexity`, so validation gives `val_perplexity` (tuning's objective)."""

    def __init__(self, name="perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.cast(y_true, "int32")
        probs = keras.ops.take_along_axis(keras.ops.cast(y_pred, "float32"), keras.ops.expand_dims(y_true, -1),
                                          axis=-1)[..., 0]
        keep = keras.ops.cast(keras.ops.not_equal(y_true, 0), "float32")
        self.total.assign_add(keras.ops.sum(-keras.ops.log(keras.ops.maximum(probs, 1e-9)) * keep))
        self.count.assign_add(keras.ops.sum(keep))

    def result(self):
        return keras.ops.exp(self.total / keras.ops.maximum(self.count, 1.0))


@keras.saving.register_keras_serializable(package="zoo")
class TokenCrossentropy(keras.losses.Loss):
    """Next-token cross-entropy averaged over the real tokens (label 0, padding, skipped): what
    `SparseCategoricalCrossentropy(ignore_class=0)` computes, at a third of its cost on a 10,000-word softmax (Keras
    masks the whole probability tensor; this masks the per-token losses): 1.57 s -> 0.50 s per batch of 5,120
    tokens on a 2-core AVX2 EPYC."""

    def __init__(self, name="token_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, "int32")
        loss = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        keep = keras.ops.cast(keras.ops.not_equal(y_true, 0), loss.dtype)
        # the mean over all positions (Keras's reduction) times positions / real tokens = the mean over real tokens
        scale = keras.ops.cast(keras.ops.size(keep), loss.dtype) / keras.ops.maximum(keras.ops.sum(keep), 1.0)
        return loss * keep * scale


def decode_ids(ids, tokens, end_id=None, sep="") -> str:
    """Token ids -> text through `tokens` (line i of a vocabulary file is the token of id i), joined by `sep`:
    padding (id 0) left out, stopping at `end_id`. What samples.txt, attention.png, zoo.predict and zoo.generate
    print."""
    out = []
    for i in np.asarray(ids):
        if end_id is not None and i == end_id:
            break
        if i != 0:
            out.append(tokens[int(i)])
    return sep.join(out)


def is_language_model(text: Mapping[str, Any]) -> bool:
    """Whether the data's `text` description (DataInfo.text, hparams.json's data.text) is a language model's (one
    token stream), not an encoder-decoder's (a source and a target vocabulary)."""
    return "source_vocabulary" not in text


class SampleWriter(keras.callbacks.Callback):
    """After each epoch: the model's greedy outputs for fixed test inputs, appended to samples.txt and written as a
    TensorBoard text summary."""

    def __init__(self, task, data, folder=None):
        super().__init__()
        self.task, self.data, self.folder = task, data, folder
        self.inputs = None if is_language_model(data.info.text) else next(iter(data.test.unbatch().batch(SAMPLES)))

    def on_epoch_end(self, epoch, logs=None):
        if self.folder is None:
            return
        lines = self.task.sample_lines(self.model, self.data, self.inputs)
        text = f"epoch {epoch + 1}\n" + "\n".join(lines) + "\n"
        with open(self.folder / "samples.txt", "a", encoding="utf-8") as f:
            f.write(text + "\n")
        import tensorflow as tf

        with tf.summary.create_file_writer(str(self.folder / "tensorboard" / "samples")).as_default():
            tf.summary.text("samples", "\n\n".join(f"    {line}" for line in lines), step=epoch + 1)


class GenerationTask(Task):
    """A compiled Keras loss (next-token cross-entropy, padding ignored); `val_loss` picks the best epoch."""

    name = "generation"
    output = TOKENS
    objectives = {"val_loss": "min", "val_perplexity": "min", "loss": "min", "perplexity": "min"}  # for tuning
    replicable = True

    def compile(self, model, hp: Mapping[str, Any], steps_per_epoch: int) -> None:
        model.compile(optimizer=make_optimizer(hp, steps_per_epoch),
                      loss=TokenCrossentropy(), metrics=[Perplexity()],
                      steps_per_execution=hp["steps_per_execution"])

    def callbacks(self, folder, data, hp, log=print) -> list:
        return [SampleWriter(self, data, folder)]

    @staticmethod
    def decode(data, ids, which: str = "target") -> str:
        """A source or target sequence of `data` as text, through the run's own vocabularies."""
        text = data.info.text
        if which == "target":
            return decode_ids(ids, data.info.class_names, text["end_id"])
        return decode_ids(ids, data.files[text["source_vocabulary"]].splitlines())

    def sample_lines(self, model, data, inputs) -> list[str]:
        """samples.txt's lines: a language model's continuations of PROMPTS; an encoder-decoder's greedy outputs
        for `inputs` (test examples), each with the expected output where it differs."""
        if inputs is None:
            return self.continuations(model, data)
        (source, _), target = inputs
        source, target = np.asarray(source), np.asarray(target)
        ids, _ = model.greedy(source)
        lines = []
        for s, g, t in zip(source, np.asarray(ids), target):
            guess, truth = self.decode(data, g), self.decode(data, t)
            lines.append(f"{self.decode(data, s, 'source')!r} -> {guess!r}"
                         + ("" if guess == truth else f" (expected {truth!r})"))
        return lines

    @staticmethod
    def continuations(model, data) -> list[str]:
        from zoo.data.language import prompt_ids
        from zoo.data.text import VOCAB_FILE, parse_vocab
        from zoo.sampling import continue_ids

        tokens = parse_vocab(data.files[VOCAB_FILE])
        prompts = [ids for ids, _ in prompt_ids(tokens, PROMPTS)]
        outs = continue_ids(model, prompts, SAMPLE_WORDS, data.info.input_shape[0], SAMPLE_TEMPERATURE,
                            SAMPLE_TOP_K, SAMPLE_SEED)
        return [f"{p} ... {decode_ids(o, tokens, sep=' ')}" for p, o in zip(PROMPTS, outs)]

    def evaluate(self, model, data, hp=None, folder=None) -> dict[str, Any]:
        nll, tokens, right, exact, examples = 0.0, 0, 0, 0, 0
        shown, seq2seq = None, hasattr(model, "greedy")
        for x, y in data.test:
            y = np.asarray(y)
            probs = np.asarray(model.predict_on_batch(x), np.float32)
            keep = y != 0
            picked = np.take_along_axis(probs, y[..., None], axis=-1)[..., 0]
            nll += float(-np.sum(np.log(np.maximum(picked[keep], 1e-9))))
            tokens += int(keep.sum())
            right += int(np.sum((probs.argmax(-1) == y) & keep))
            examples += len(y)
            if seq2seq:
                ids, weights = model.greedy(x[0])
                ids = np.asarray(ids)
                exact += int(np.sum(np.all((ids == y) | ~keep, axis=1)))
                if shown is None:
                    shown = (np.asarray(x[0][:ATTENTION_SHOWN]), ids[:ATTENTION_SHOWN],
                             np.asarray(weights[:ATTENTION_SHOWN]))
        mean = nll / max(tokens, 1)
        metrics = {"test_perplexity": math.exp(mean), "test_bits_per_token": mean / math.log(2),
                   "test_token_accuracy": right / max(tokens, 1), "test_tokens": tokens, "test_examples": examples}
        if not seq2seq:
            return {"metrics": metrics}
        metrics["test_exact_match"] = exact / max(examples, 1)
        source, ids, weights = shown
        attention = [(self.decode(data, s, "source"), [data.info.class_names[i] for i in g], w)
                     for s, g, w in zip(source, ids, weights)]
        return {"metrics": metrics, "attention": attention}

    def report_text(self, result, info) -> str:
        return self.summary(result["metrics"])

    def write_reports(self, folder, result, info, title: str) -> str:
        from zoo.reports import attention_maps

        if "attention" in result:
            attention_maps(result["attention"], folder / "attention.png", f"{title}: attention on test examples")
        return self.report_text(result, info)

    def summary(self, metrics: Mapping[str, Any]) -> str:
        line = (f"test perplexity {metrics['test_perplexity']:.4f} ({metrics['test_bits_per_token']:.4f} bits per "
                f"token), token accuracy {metrics['test_token_accuracy']:.4f}")
        if metrics.get("test_exact_match") is not None:
            line += f", exact match {metrics['test_exact_match']:.4f}"
        return line + f" over {metrics['test_examples']} examples"

    def export_graphs(self, model, original, data, batch: int, calibration: int, reference=None) -> list:
        """A language model: one graph, `decoder`, with the signatures prefill and step (zoo/tasks/decoder.py).
        An encoder-decoder: `model`, source ids -> the probabilities of every step of greedy decoding (each step fed
        the previous step's argmax inside the graph), so one invoke writes the whole output, scored by exact matches
        against the references and by token-for-token agreement with Keras's greedy decoding; and `decoder`, the same
        decoding as prefill (encode) and step, for an app that runs the loop itself."""
        from zoo.tasks.graphs import ExportGraph, calibration_batches, predict

        from zoo.tasks.decoder import encoder_decoder_graph, language_model_graph

        if not hasattr(model, "greedy"):
            return [language_model_graph(model, original, data, calibration)]
        sources, targets = [], []
        for (source, _), y in data.test:
            sources.append(np.asarray(source))
            targets.append(np.asarray(y))
        x, y = np.concatenate(sources), np.concatenate(targets)
        keras_probs = predict(model, x)
        keras_ids = keras_probs.argmax(-1)
        keep = y != 0

        def exact(ids):
            return float(np.mean(np.all((ids == y) | ~keep, axis=1)))

        def score(probs):
            ids = probs.argmax(-1)
            return {"test_exact_match": exact(ids),
                    "greedy_agreement_vs_keras": float(np.mean(np.all(ids == keras_ids, axis=1))),
                    "token_agreement_vs_keras": float(np.mean(ids == keras_ids))}

        text, steps = data.info.text, keras_probs.shape[1]
        return [ExportGraph(
            name="model", model=model, original=original, inputs=x, score=score, outputs=keras_probs,
            input={"kind": "characters", "shape": list(data.info.input_shape), "dtype": "int32",
                   "range": list(data.info.input_range), "preprocessing": data.info.preprocessing, "text": text},
            output={"name": "probabilities", "shape": list(keras_probs.shape[1:]), "dtype": "float32",
                    "meaning": f"greedy decoding's {steps} steps, each a probability per line of "
                               f"{text['target_vocabulary']}: step t's argmax is output token t (fed back to step "
                               f"t + 1 inside the graph); stop at <end> (id {text['end_id']})"},
            calibration=calibration_batches(lambda: (np.asarray(s) for (s, _), _ in data.train), calibration, batch),
            summary={"keras_test_exact_match": exact(keras_ids), "test_examples": int(len(x))}),
            encoder_decoder_graph(model, original, data, x, calibration)]
