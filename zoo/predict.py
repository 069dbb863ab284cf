"""Classify your own files with a trained run.

    python -m zoo.predict runs/cnn_cifar10/20261123-213000 cat.jpg truck.png
    python -m zoo.predict runs/cnn_mnist/20261122-213000 digit.png --top 3 --invert

Each file is decoded (PNG, JPEG, GIF, BMP), converted to the recipe's channels
(grayscale or RGB) and resized to its input size (bilinear, antialiased), then
the top-K labels are printed with their probabilities. MNIST-style models expect
a light digit on a dark background: `--invert` turns a dark-on-light scan around.
A file that cannot be read is named in a one-line error and the others are still
classified; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.errors import DataError, UsageError, run_cli

RESIZE_METHOD = "bilinear, antialiased (tf.image.resize)"


def read_image(path, input_shape, invert: bool = False):
    """A file as the model's input: float32 (height, width, channels) in 0..255; DataError names a bad file."""
    import numpy as np
    import tensorflow as tf

    height, width, channels = input_shape
    try:
        raw = tf.io.read_file(str(path))
        image = tf.io.decode_image(raw, channels=channels, expand_animations=False)
    except (tf.errors.OpError, ValueError) as e:
        reason = "no such file" if isinstance(e, tf.errors.NotFoundError) else "not a PNG, JPEG, GIF or BMP image"
        raise DataError(f"{path}: {reason}") from None
    image = tf.cast(image, tf.float32)
    if tuple(image.shape[:2]) != (height, width):
        image = tf.clip_by_value(tf.image.resize(image, (height, width), antialias=True), 0.0, 255.0)
    image = image.numpy()
    return 255.0 - image if invert else image.astype(np.float32)


def load_image_run(run_dir, command: str):
    """(folder, run, recipe, hyperparameters) of a run whose model takes images; another kind is a UsageError."""
    from zoo import runs

    folder = Path(run_dir)
    run, recipe, hp = runs.load_run_recipe(folder)
    info = run["data"]
    if len(info["input_shape"]) != 3:
        raise UsageError(f"{folder} is a run on {info['name']}, whose inputs are not images "
                         f"(shape {info['input_shape']}); {command} works on image models")
    return folder, run, recipe, hp


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


def predict_files(run_dir, files, top: int = 5, invert: bool = False, log=print, err=None) -> int:
    """Print the top-`top` labels of each file; returns the number of files that could not be classified."""
    import numpy as np

    from zoo import runs

    err = err or (lambda s: print(s, file=sys.stderr))
    folder, run, _, _ = load_image_run(run_dir, "zoo.predict")
    info = run["data"]
    if top < 1:
        raise UsageError("--top must be at least 1")
    model = runs.load_model(folder / runs.MODEL)
    x, good, failed = load_files(files, tuple(info["input_shape"]), invert, log=err)
    labels = info["class_names"]
    if len(x):
        probs = np.asarray(model.predict(x, batch_size=64, verbose=0), dtype=np.float32)
        for path, p in zip(good, probs):
            best = np.argsort(-p)[: min(top, len(labels))]
            log(f"{path}: " + ", ".join(f"{labels[i]} {p[i]:.3f}" for i in best))
    return failed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.predict", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by python -m zoo.train (or zoo.ensemble)")
    p.add_argument("files", nargs="+", help="image files to classify")
    p.add_argument("--top", type=int, default=5, help="how many labels to print per file (default 5)")
    p.add_argument("--invert", action="store_true", help="invert the pixels (dark digit on light paper -> MNIST style)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    return run_cli(lambda: 1 if predict_files(args.run_dir, args.files, args.top, args.invert) else 0, args.debug)


if __name__ == "__main__":
    sys.exit(main())
