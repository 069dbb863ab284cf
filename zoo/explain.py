"""Grad-CAM: where a convolutional model looked when it chose its class.

    python -m zoo.explain runs/cnn_cifar10/20261123-213000                 # 16 test images
    python -m zoo.explain runs/cnn_mnist/20261122-213000 --samples 32 --out gradcam.png
    python -m zoo.explain runs/cnn_cifar10/20261123-213000 --image cat.jpg --image truck.png

Writes a PNG grid (default RUN_DIR/gradcam.png): each image with the Grad-CAM heat
map of its predicted class laid over it (Selvaraju et al. 2017: the last spatial
feature map, weighted by the mean gradient of the class's log-probability over
each channel, ReLU, scaled to 0..1), captioned with the true label (test images)
and the prediction with its probability. Works for every recipe with a
convolution; others get a one-line error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.cli import ArgumentParser, run_cli
from zoo.errors import UsageError

POOLING = ("MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D")


def _has_conv(layer) -> bool:
    import keras

    return any(isinstance(sub, keras.layers.Conv2D) for sub in layer._flatten_layers(include_self=True))


def grad_cam(model, images):
    """(heat maps (N, H, W) in 0..1 at the input's size, predicted classes, their probabilities).

    The target is the output of the model's last direct sub-layer that yields a spatial map and comes after its
    first convolution (pooling excluded): the last ReLU of a plain CNN, the last block of a ResNet.
    """
    import numpy as np
    import tensorflow as tf

    layers = [layer for layer in model.layers if layer is not model]
    first_conv = next((i for i, layer in enumerate(layers) if _has_conv(layer)), None)
    if first_conv is None:
        raise UsageError(f"{type(model).__name__} has no convolution, so there is no feature map to explain; "
                         "Grad-CAM needs a convolutional recipe (cnn_*, resnet*)")
    candidates = [layer for layer in layers[first_conv:] if type(layer).__name__ not in POOLING]
    seen = []
    for layer in candidates:  # record (and watch) each candidate's output during one forward pass

        def recording(*args, call=layer.call, owner=layer, **kwargs):
            out = call(*args, **kwargs)
            if len(out.shape) == 4:
                tape.watch(out)
                seen.append((owner, out))
            return out

        layer.call = recording
    try:
        with tf.GradientTape(persistent=False) as tape:
            probs = model(tf.constant(images, tf.float32), training=False)
            pred = tf.argmax(probs, axis=1)
            score = tf.math.log(tf.gather(probs, pred, axis=1, batch_dims=1) + 1e-12)
        if not seen:
            raise UsageError(f"{type(model).__name__} keeps no spatial feature map after its convolutions")
        _, feature = seen[-1]
        grads = tape.gradient(score, feature)
    finally:
        for layer in candidates:
            vars(layer).pop("call", None)  # back to the class's own call
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * feature, axis=-1))[..., None]
    cam = tf.image.resize(cam, images.shape[1:3], method="bilinear")[..., 0].numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1)[:, None, None]
    cam = np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0)
    probs = probs.numpy()
    return cam, pred.numpy(), probs[np.arange(len(probs)), pred.numpy()]


def explain(run_dir, samples: int = 16, image_files=(), out=None, data_dir=None, seed: int = 0, log=print) -> Path:
    """Write the Grad-CAM grid of a run; returns its path."""
    import numpy as np

    from zoo import files, reports
    from zoo.predict import load_files, load_image_run

    run = load_image_run(run_dir, "Grad-CAM")
    folder, info = run.folder, run.info
    if samples < 1:
        raise UsageError(f"--samples must be at least 1, got {samples}")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {seed}")
    path = files.check_output_file(out or folder / "gradcam.png", "zoo.explain", owned=out is None)
    model = run.model()
    labels = info["class_names"]
    failed = 0
    if image_files:
        images, names, failed = load_files(image_files, tuple(info["input_shape"]),
                                           log=lambda s: print(s, file=sys.stderr))
        truth = [None] * len(images)
        names = [Path(n).name for n in names]
        if not len(images):
            raise UsageError("none of the --image files could be read")
    else:
        data = run.data(data_dir)
        xs, ys = [], []
        for x, y in data.test:
            xs.append(x.numpy())
            ys.append(y.numpy())
        xs, ys = np.concatenate(xs), np.concatenate(ys)
        pick = np.sort(np.random.default_rng(seed).choice(len(xs), size=min(samples, len(xs)), replace=False))
        images, truth, names = xs[pick], ys[pick], [None] * len(pick)
    cams, pred, conf = grad_cam(model, images)
    captions = []
    for t, name, p, c in zip(truth, names, pred, conf):
        head = name if name else f"true {labels[t]}"
        mark = "" if t is None or t == p else " ✗"
        captions.append(f"{head}\n{labels[p]} {c:.2f}{mark}")
    reports.image_grid(images, captions, path, f"{run.recipe.name}: Grad-CAM of the predicted class", overlays=cams,
                       cols=8, writer="zoo.explain")
    log(f"Grad-CAM of {len(images)} image(s): {path}")
    if failed:
        raise UsageError(f"{failed} of the --image files could not be read (named above); the others are in {path}")
    return path


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m zoo.explain", description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder of a convolutional image recipe")
    p.add_argument("--samples", type=int, default=16, help="test images to explain (default 16)")
    p.add_argument("--image", action="append", default=[], metavar="FILE", help="explain this file instead of test "
                   "images (repeatable)")
    p.add_argument("--out", metavar="PNG", help="where to write the grid (default RUN_DIR/gradcam.png)")
    p.add_argument("--seed", type=int, default=0, help="which test images are drawn (default 0)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset's files are (as for zoo.train)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)

    def body():
        explain(args.run_dir, args.samples, args.image, args.out, args.data_dir, args.seed)

    return run_cli(body, args.debug)


if __name__ == "__main__":
    sys.exit(main())
