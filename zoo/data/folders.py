"""Your own images: a folder with one subfolder per class, as `keras.utils.image_dataset_from_directory` reads.

    my_photos/cat/001.jpg, my_photos/dog/a.png, ...            a test split is carved out (fixed, seed-independent)
    my_photos/train/cat/..., my_photos/test/cat/...             the given split is used as it is

Any image recipe trains on it with `--data-dir my_photos`. Files are JPEG, PNG, BMP or GIF (first frame);
each is decoded in the `tf.data` pipeline, converted to the recipe's channels (grey <-> RGB, alpha dropped) and
resized to its input size (bilinear with antialiasing, the aspect ratio not kept), so mixed sizes and colour modes
are fine. Other files (and hidden ones) are skipped and listed; a file that does not decode, an empty class folder
or a class with one image is a one-line error naming it. What was read, skipped and how it was split is saved as
`data_summary.json` in the run folder, and later commands (resume, evaluate, export) read exactly those files again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from zoo.data.types import DataInfo, Datasets
from zoo.data.sources import HOLD_OUT_FRACTION, OWN_DATA_SUMMARY
from zoo.errors import DataError
from zoo.files import unreadable

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
SUMMARY = OWN_DATA_SUMMARY
TEST_FRACTION = HOLD_OUT_FRACTION
RESIZE = "bilinear, antialiased, aspect ratio not kept"


def is_image_folder(path) -> bool:
    """True when `path` holds class subfolders of images (directly or under train/), not a dataset's files."""
    root = Path(path)
    base = root / "train" if (root / "train").is_dir() and (root / "test").is_dir() else root
    return base.is_dir() and any(_images(d)[0] for d in _class_dirs(base))


def _class_dirs(base: Path) -> list[Path]:
    return sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))


def _walk(folder: Path) -> list[tuple[Path, Optional[str]]]:
    """Every file under `folder`, each with why it cannot be read (None: readable). Symbolic links are followed;
    a broken one, a loop, or a link back to a folder already read is listed with its reason, never walked
    round (so a folder loop cannot hang the scan)."""
    found, seen, stack = [], {os.path.realpath(folder)}, [folder]
    while stack:
        here = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as e:
            found.append((here, f"folder not readable ({e.strerror or e})"))
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symbolic links
            except OSError:  # a link loop: reported below
                is_dir = False
            if is_dir:
                real = os.path.realpath(path)
                if real in seen:
                    found.append((path, f"symbolic link to a folder already read ({real}): a loop or a second way "
                                        "in, not read twice"))
                    continue
                seen.add(real)
                stack.append(path)
            else:
                found.append((path, unreadable(path)))
    return sorted(found)


def _images(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    keep, skipped = [], []
    for f, why in _walk(folder):
        if any(part.startswith(".") for part in f.relative_to(folder).parts):
            skipped.append((f, "hidden file"))
        elif why:
            skipped.append((f, why))
        elif f.suffix.lower() in EXTENSIONS:
            keep.append(f)
        else:
            skipped.append((f, f"not an image file ({f.suffix or 'no extension'}; reads {', '.join(EXTENSIONS)})"))
    return keep, skipped


def scan(root: Path) -> dict[str, Any]:
    """Class names, the files of each split and what was skipped, validated (not decoded yet)."""
    split_given = (root / "train").is_dir() and (root / "test").is_dir()
    bases = {"train": root / "train", "test": root / "test"} if split_given else {"all": root}
    classes = [d.name for d in _class_dirs(bases["train" if split_given else "all"])]
    if len(classes) < 2:
        raise DataError(f"{root} has {len(classes)} class folder(s); put each class's images in its own "
                        "subfolder (at least two classes)")
    files: dict[str, list[tuple[str, int]]] = {}
    skipped = []
    for split, base in bases.items():
        extra = sorted(set(d.name for d in _class_dirs(base)) - set(classes))
        if extra:
            raise DataError(f"{base} has class folders {extra} that {bases['train']} lacks; both splits need the "
                            "same classes")
        files[split] = []
        skipped += [{"file": str(f.relative_to(root)), "reason": "not in a class folder"}
                    for f in sorted(base.iterdir()) if not f.is_dir()]
        for label, name in enumerate(classes):
            found, skip = _images(base / name)
            skipped += [{"file": str(f.relative_to(root)), "reason": r} for f, r in skip]
            if not found:
                raise DataError(f"{base / name} holds no images ({', '.join(EXTENSIONS)}); add some or remove it")
            files[split] += [(str(f.relative_to(root)), label) for f in found]
    if split_given:
        skipped += [{"file": f.name, "reason": "not in a class folder"} for f in sorted(root.iterdir())
                    if not f.is_dir()]
    else:
        files = _carve_test(files.pop("all"), classes, root)
    return {"folder": str(root.resolve()), "split": "given (train/, test/)" if split_given else
            f"{TEST_FRACTION:.0%} of each class held out for test", "classes": classes, "files": files,
            "skipped": skipped}


def _carve_test(items: list[tuple[str, int]], classes: list[str], root: Path) -> dict[str, list]:
    from zoo.data.sources import hold_out

    train, test = hold_out([y for _, y in items], TEST_FRACTION, lambda label: root / classes[label])
    return {"train": [items[i] for i in train], "test": [items[i] for i in test]}


def decoder(image_shape):
    """path -> uint8 image of `image_shape`, as a TensorFlow function (the pipeline's and the check's)."""
    import tensorflow as tf

    height, width, channels = image_shape

    def decode(path):  # TensorFlow's BMP and GIF decoders cannot make one channel: go through RGB
        image = tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False)
        image = tf.cond(tf.shape(image)[-1] >= 3, lambda: image[..., :3],  # alpha dropped
                        lambda: tf.image.grayscale_to_rgb(image[..., :1]))
        image = tf.image.resize(tf.ensure_shape(image, (None, None, 3)), (height, width), method="bilinear",
                                antialias=True)
        if channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)

    return decode


MAGIC = {b"\x89PNG": "PNG", b"\xff\xd8": "JPEG", b"GIF8": "GIF", b"BM": "BMP"}


def undecodable(path: Path) -> str:
    """In words, why an image file did not decode (TensorFlow's own message names its kernel, not the file)."""
    why = unreadable(path)
    if why:
        return why
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        return "the file is empty"
    kind = next((name for magic, name in MAGIC.items() if head.startswith(magic)), None)
    return f"damaged or truncated {kind} data" if kind else "not a PNG, JPEG, GIF or BMP image"


def check_and_measure(root: Path, paths: list[str], train: int, image_shape) -> tuple[np.ndarray, np.ndarray]:
    """Decode every file once (in parallel) with the pipeline's own decoder: a file that fails is named in a
    DataError; returns the per-channel mean and std of the first `train` (the training images)."""
    import tensorflow as tf

    decode = decoder(image_shape)
    ds = tf.data.Dataset.from_tensor_slices(([str(root / p) for p in paths], np.arange(len(paths))))
    ds = ds.map(lambda p, i: (i, decode(p)), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.ignore_errors()  # failures are found by their missing index below
    seen, total, squares, count = set(), 0.0, 0.0, 0
    for index, image in ds.batch(256).as_numpy_iterator():
        seen.update(index.tolist())
        pixels = image[index < train].reshape(-1, image_shape[-1]).astype(np.float64)
        total, squares, count = total + pixels.sum(0), squares + np.square(pixels).sum(0), count + len(pixels)
    bad = [paths[i] for i in range(len(paths)) if i not in seen]
    if bad:
        reason = undecodable(root / bad[0])
        more = f" and {len(bad) - 1} more ({', '.join(bad[1:4])}{', ...' if len(bad) > 4 else ''})" if len(bad) > 1 \
            else ""
        raise DataError(f"{root / bad[0]} is not a readable image ({reason}){more}: delete or replace it")
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean**2, 0.0))


def load_image_folder(image_shape, hp: Mapping[str, Any], folder, seed: int = 0,
                      files: Optional[dict] = None, augment_for=None) -> Datasets:
    """Datasets from an image folder; with `files` (a run's saved data_summary.json) the run's exact split."""
    from zoo.data.sources import dataset_pipeline, split_validation

    root = Path(folder)
    summary = json.loads(files[SUMMARY]) if files and SUMMARY in files else None
    if summary is None:
        summary = scan(root)
        (tr, tr_y), (val, val_y) = split_validation(*map(np.array, zip(*summary["files"]["train"])),
                                                    hp["validation_fraction"])
        summary["files"] = {"train": list(zip(tr.tolist(), tr_y.tolist())),
                            "val": list(zip(val.tolist(), val_y.tolist())), "test": summary["files"]["test"]}
    splits = summary["files"]
    classes = tuple(summary["classes"])
    missing = [p for s in splits.values() for p, _ in s if not (root / p).is_file()]
    if missing:
        raise DataError(f"{root / missing[0]} is missing ({len(missing)} of the run's images are): restore it, or "
                        "train a new run on the folder as it is now")
    order = splits["train"] + splits["val"] + splits["test"]
    mean, std = check_and_measure(root, [p for p, _ in order], len(splits["train"]), image_shape)
    counts = {c: {s: sum(1 for _, y in splits[s] if y == k) for s in ("train", "val", "test")}
              for k, c in enumerate(classes)}
    summary.update(resize=f"to {image_shape[0]}x{image_shape[1]}, {RESIZE}", channels=image_shape[-1],
                   counts=counts)
    info = DataInfo(
        name=f"folder:{root.resolve().name}", input_shape=tuple(image_shape), class_names=classes,
        num_train=len(splits["train"]), num_val=len(splits["val"]), num_test=len(splits["test"]),
        source=f"image folder {summary['folder']} ({len(classes)} classes, split {summary['split']}, "
               f"{len(summary['skipped'])} files skipped: see {SUMMARY})",
        preprocessing=f"raw pixel values 0..255 as float32, shape (batch, height, width, channels); images resized "
                      f"{summary['resize']} (do the same in the app); the model rescales inside",
        channel_mean=tuple(round(float(m), 4) for m in mean), channel_std=tuple(round(float(s), 4) for s in std),
        files=(SUMMARY,), folder=summary["folder"])
    decode = decoder(image_shape)
    augment = augment_for(info) if augment_for else None
    bs = hp["batch_size"]

    def pipeline(split, training=False):
        paths, labels = zip(*splits[split])
        return dataset_pipeline([str(root / p) for p in paths], np.array(labels, np.int32), decode,
                                batch_size=bs, training=training, seed=seed, augment=augment if training else None)

    return Datasets(train=pipeline("train", training=True), val=pipeline("val"), test=pipeline("test"), info=info,
                    files={SUMMARY: json.dumps(summary, indent=1)}, summary=describe(summary))


def describe(summary: dict) -> str:
    """The printed summary: images per class and split, and every skipped file with its reason."""
    lines = [f"{'class':<20} {'train':>7} {'val':>7} {'test':>7}"]
    lines += [f"{c[:20]:<20} {n['train']:>7} {n['val']:>7} {n['test']:>7}" for c, n in summary["counts"].items()]
    lines += [f"skipped {s['file']}: {s['reason']}" for s in summary["skipped"][:20]]
    if len(summary["skipped"]) > 20:
        lines.append(f"... and {len(summary['skipped']) - 20} more skipped files (all in {SUMMARY})")
    return "\n".join(lines)
