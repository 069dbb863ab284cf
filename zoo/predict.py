"""Classify your own images or texts with a trained run (or convert texts, with an encoder-decoder's run).

    python -m zoo.predict runs/cnn_cifar10/20261123-213000 cat.jpg truck.png
    python -m zoo.predict runs/cnn_mnist/20261122-213000 digit.png --top 3 --invert
    python -m zoo.predict runs/lstm_imdb/20261124-010000 "A gripping film." "Dull and far too long."
    python -m zoo.predict runs/lstm_imdb/20261124-010000 - < reviews.txt      # one review per line
    python -m zoo.predict runs/seq2seq_dates/20261207-010000 "3rd of March 2021" "Mar 3, 2021"

What the arguments are follows from the run's inputs. Image runs: each file is
decoded (PNG, JPEG, GIF, BMP), converted to the recipe's channels (grayscale or
RGB) and resized to its input size (bilinear, antialiased); MNIST-style models
expect a light digit on a dark background: `--invert` turns a dark-on-light scan
around. A file that cannot be read is named in a one-line error and the others are
still classified; the exit code is then 1. Text runs: each argument is one text
(`-` reads one per line from stdin), tokenised with the run's own vocab.txt and
standardisation, exactly as in training. The top-K labels are printed with their
probabilities. An encoder-decoder's run (seq2seq_dates) prints each input, a tab, and
its output by greedy decoding (`-` reads inputs from stdin, one per line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.cli import ArgumentParser, run_cli
from zoo.errors import DataError, UsageError

RESIZE_METHOD = "bilinear, antialiased (tf.image.resize)"


def read_image(path, input_shape, invert: bool = False):
    """A file as the model's input: float32 (height, width, channels) in 0..255, decoded, converted and resized
    exactly as training reads an image folder (`zoo.data.folders.decoder`); DataError names a bad file."""
    import numpy as np
    import tensorflow as tf

    from zoo.data.folders import decoder, undecodable

    try:
        image = decoder(input_shape)(tf.constant(str(path))).numpy().astype(np.float32)
    except (tf.errors.OpError, ValueError):
        raise DataError(f"{path}: {undecodable(Path(path))}") from None
    return 255.0 - image if invert else image


def load_image_run(run_dir, command: str):
    """The `Run` of a classifier whose model takes images; another kind is a UsageError."""
    from zoo.run import Run

    run = Run(run_dir)
    run.require_classifier(command)
    if run.info.get("input_kind", "image") != "image":
        raise UsageError(f"{run.folder} is a run on {run.info['name']}, whose inputs are not images "
                         f"(shape {run.info['input_shape']}); {command} works on image models")
    return run


def load_files(paths, input_shape, invert=False, log=print):
    """(array of the readable images, their paths, number that failed); each failure logged as one line."""
    import numpy as np

    images, good, failed = [], [], 0
    for path in paths:
        try:
            images.append(read_image(path, input_shape, invert))
            good.append(path)
        except DataError as e:
            log(f"error: {e}")
            failed += 1
    stacked = np.stack(images) if images else np.zeros((0, *input_shape), np.float32)
    return stacked, good, failed


def _print_top(names, probs, labels, top, log) -> None:
    import numpy as np

    for name, p in zip(names, probs):
        best = np.argsort(-p)[: min(top, len(labels))]
        log(f"{name}: " + ", ".join(f"{labels[i]} {p[i]:.3f}" for i in best))


def predict_files(folder, run, model, files, top=5, invert=False, log=print, err=print) -> int:
    """Print the top-`top` labels of each image file; returns the number of files that could not be classified."""
    import numpy as np

    info = run["data"]
    x, good, failed = load_files(files, tuple(info["input_shape"]), invert, log=err)
    if len(x):
        _print_top(good, np.asarray(model.predict(x, batch_size=64, verbose=0), np.float32), info["class_names"],
                   top, log)
    return failed


def predict_texts(folder, run, model, texts, top=5, invert=False, log=print, err=print) -> int:
    """Print the top-`top` labels of each text (`-` = one text per line of stdin), encoded with the run's
    vocabulary; returns 0 (every text can be encoded)."""
    import numpy as np

    from zoo import runs
    from zoo.data import text

    if invert:
        raise UsageError("--invert is for image runs; this run reads text")
    texts = read_lines(texts)
    if not texts:
        raise UsageError("no text to classify: standard input held no line with text; give texts as arguments, or "
                         "one per line on standard input (`-`)")
    info = run["data"]
    layer = text.saved_vectorizer(runs.read_data_files(folder, run), str(folder),
                                  info["text"].get("tokenizer", "keras"))
    ids = text.encode(layer, texts, info["input_shape"][0], info["text"].get("truncating", "post"))
    shown = [repr(t if len(t) <= 60 else t[:57] + "...") for t in texts]
    _print_top(shown, np.asarray(model.predict(ids, batch_size=64, verbose=0), np.float32), info["class_names"],
               top, log)
    return 0


def read_lines(items) -> list[str]:
    """The arguments, `-` replaced by the non-empty lines of stdin."""
    return [t for item in items for t in ([line for line in sys.stdin.read().splitlines() if line.strip()]
                                          if item == "-" else [item])]


def predict_sequences(folder, run, model, texts, top=5, invert=False, log=print, err=print) -> int:
    """Print each input, a tab, and its output by greedy decoding (seq2seq_dates writes the ISO date), both through
    the run's own vocabularies; returns how many inputs could not be read (empty, no known character, too long),
    each named in one line."""
    import numpy as np

    from zoo import runs
    from zoo.tasks.generation import decode_ids

    if invert:
        raise UsageError("--invert is for image runs; this run reads text")
    texts = read_lines(texts)
    if not texts:
        raise UsageError("nothing to convert: give inputs as arguments, or one per line on standard input (`-`)")
    text = run["data"]["text"]
    files = runs.read_data_files(folder, run)
    source = {c: i for i, c in enumerate(files[text["source_vocabulary"]].split("\n")) if len(c) == 1}
    target = files[text["target_vocabulary"]].split("\n")
    length = run["data"]["input_shape"][0]
    good, failed = [], 0
    for t in texts:
        why = (f"is {len(t)} characters; this model reads at most {length}" if len(t) > length else
               "is empty" if not t.strip() else
               f"has no character the model knows (it reads {''.join(source).strip()!r})"
               if not any(c in source for c in t) else "")
        if why:
            err(f"error: {t!r} {why}")
            failed += 1
        else:
            good.append(t)
    if good:
        ids = np.zeros((len(good), length), np.int32)
        for row, t in enumerate(good):
            ids[row, : len(t)] = [source.get(c, text["oov_id"]) for c in t]
        for t, out in zip(good, np.asarray(model.greedy(ids)[0])):
            log(f"{t}\t{decode_ids(out, target, text['end_id'])}")
    return failed


PREDICTORS = {"image": predict_files, "tokens": predict_texts, "characters": predict_sequences}  # by input kind


def predict(run_dir, items, top: int = 5, invert: bool = False, log=print, err=None) -> int:
    """Classify `items` (image files or texts, as the run's inputs are); returns how many could not be."""
    from zoo.run import Run
    from zoo.tasks.base import TOKENS
    from zoo.tasks.generation import is_language_model

    err = err or (lambda s: print(s, file=sys.stderr))
    run = Run(run_dir)
    kind = run.info.get("input_kind", "image")
    if run.task.output == TOKENS and is_language_model(run.info.get("text", {})):
        raise UsageError(f"{run.folder} is a run of {run.recipe.name}, a language model: write text with python -m "
                         f"zoo.generate {run.folder} --prompt TEXT")
    if kind != "characters":  # an encoder-decoder (seq2seq_dates) maps each input to an output sequence instead
        run.require_classifier("zoo.predict")
    if top < 1:
        raise UsageError("--top must be at least 1")
    predictor = PREDICTORS[kind]
    return predictor(run.folder, run.record, run.model(), items, top=top, invert=invert, log=log, err=err)


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m zoo.predict", description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by python -m zoo.train (or zoo.ensemble)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files (image runs), or texts with - for one per line of stdin (text runs)")
    p.add_argument("--top", type=int, default=5, help="how many labels to print per file (default 5)")
    p.add_argument("--invert", action="store_true", help="invert the pixels (dark digit on light paper -> MNIST style)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    return run_cli(lambda: 1 if predict(args.run_dir, args.inputs, args.top, args.invert) else 0, args.debug)


if __name__ == "__main__":
    sys.exit(main())
