"""Reports people read or look at: classification report, confusion matrix, curves, sample grids.

Plots are written atomically as PNG with matplotlib's non-interactive backend.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from zoo import files


def classification_report(y_true, y_pred, class_names: Sequence[str]) -> dict:
    """scikit-learn's per-class precision / recall / F1 / support with accuracy, macro and weighted averages
    (as a dict keyed by class name; classes absent from `y_true` count with zero support)."""
    from sklearn import metrics

    report = metrics.classification_report(y_true, y_pred, labels=list(range(len(class_names))),
                                           target_names=list(class_names), output_dict=True, zero_division=0)
    report["accuracy"] = float(metrics.accuracy_score(y_true, y_pred)) if len(y_true) else 0.0
    report.pop("micro avg", None)  # sklearn writes it instead of accuracy when a class is absent
    return report


def format_report(y_true, y_pred, class_names: Sequence[str]) -> str:
    """The same report as the aligned table scikit-learn prints."""
    from sklearn import metrics

    return metrics.classification_report(y_true, y_pred, labels=list(range(len(class_names))),
                                         target_names=list(class_names), digits=4, zero_division=0)


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    from sklearn import metrics

    return metrics.confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, writer: str = "zoo") -> None:
    """Save a figure as PNG; its `Software` text chunk names the command that wrote it (`files.written_by`)."""
    plt = pyplot()
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": writer})
    plt.close(fig)


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], path, title: str = "") -> None:
    """Row-normalised colours (recall per true class) with the raw counts written in the cells."""
    plt = pyplot()
    n = len(class_names)
    size = max(5.0, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "Confusion matrix (test)")
    save_figure(fig, path)


def attention_maps(examples, path, title: str = "", cols: int = 2) -> None:
    """One heatmap per (source text, output tokens, weights (output steps, source positions)): which source characters
    each output token attended to; rows stop at the output's <end>, columns at the source's end."""
    plt = pyplot()
    rows = -(-len(examples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.2 * rows), squeeze=False)
    for ax, (source, output, weights) in zip(axes.ravel(), examples):
        steps = next((i for i, t in enumerate(output) if t.startswith("<")), len(output)) + 1
        steps = min(steps, len(output))
        ax.imshow(np.asarray(weights)[:steps, : len(source)], cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(source)), [c if c != " " else "␣" for c in source], fontsize=7)
        ax.set_yticks(range(steps), output[:steps], fontsize=7)
        ax.set_title(f"{source!r} -> {''.join(t for t in output[:steps] if not t.startswith('<'))}", fontsize=9)
    for ax in axes.ravel()[len(examples):]:
        ax.axis("off")
    fig.suptitle(title or "Attention (test)")
    save_figure(fig, path)


def read_history(path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def plot_curves(history: list[dict], path, title: str = "") -> None:
    """Loss and every other metric per epoch, train beside validation."""
    plt = pyplot()
    if not history:
        return
    epochs = [int(r["epoch"]) for r in history]
    metrics = [k for k in history[0] if not k.startswith("val_") and k not in ("epoch", "seconds", "learning_rate")]
    metrics += [k for k in history[0] if k.startswith("val_") and k[4:] not in history[0]]  # validation-only scores
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for key in (m, f"val_{m}"):
            if key in history[0]:
                ax.plot(epochs, [float(r[key]) for r in history], marker="o", ms=3,
                        label="validation" if key.startswith("val_") else "train")
        ax.set_xlabel("epoch")
        ax.set_title(m)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title, y=1.04)  # above the panels' own titles
    save_figure(fig, path)


def image_grid(images, captions, path, title: str, overlays=None, cols: int = 9, writer: str = "zoo") -> None:
    """Images (0..255, grayscale or RGB) in a grid, one caption each; `overlays` (0..1 maps of the same size)
    are laid over them as heat maps (jet, 45% opacity)."""
    plt = pyplot()
    n = len(images)
    cols = min(n, cols)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        img = np.clip(np.asarray(images[k]), 0, 255).astype(np.uint8)
        img = img[..., 0] if img.shape[-1] == 1 else img
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        if overlays is not None:
            ax.imshow(overlays[k], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(captions[k], fontsize=7)
    fig.suptitle(title)
    save_figure(fig, path, writer)


def tile_png(images, path, cols: int = 8, scale: int = 2) -> None:
    """Images (intensities 0..1, grayscale or RGB) tiled into one PNG, `scale` pixels per pixel, written atomically."""
    from PIL import Image

    images = np.clip(np.asarray(images) * 255.0, 0, 255).astype(np.uint8)
    n, h, w, c = images.shape
    rows = -(-n // cols)
    sheet = np.zeros((rows * (h + 2), cols * (w + 2), c), np.uint8)
    for k, img in enumerate(images):
        r, q = divmod(k, cols)
        sheet[r * (h + 2) + 1 : r * (h + 2) + 1 + h, q * (w + 2) + 1 : q * (w + 2) + 1 + w] = img
    sheet = sheet.repeat(scale, axis=0).repeat(scale, axis=1)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_path(path) as tmp:
        Image.fromarray(sheet[..., 0] if c == 1 else sheet).save(tmp, format="PNG")


def save_frames_gif(frames, path, seconds_per_frame: float = 0.4) -> None:
    """PNG frames (e.g. one sample grid per epoch) assembled into an animated GIF, written atomically."""
    from PIL import Image

    images = [Image.open(f).convert("P") for f in frames]
    if not images:
        return
    with files.atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(seconds_per_frame * 1000), loop=0)


def plot_samples(images, labels, predictions, class_names, path, title: str = "", max_items: int = 36) -> bool:
    """A grid of images captioned `true -> predicted` (e.g. the misclassified test examples)."""
    n = min(len(images), max_items)
    if n == 0:
        return False
    captions = [f"{class_names[labels[k]]}\n-> {class_names[predictions[k]]}" for k in range(n)]
    image_grid(images[:n], captions, path, title or "true -> predicted")
    return True


def plot_roc(y_true, positive_scores, path, positive: str, title: str = "") -> None:
    """ROC curve (scikit-learn's `roc_curve`) of a two-class model, with its AUC and the chance diagonal."""
    from sklearn import metrics

    plt = pyplot()
    fpr, tpr, _ = metrics.roc_curve(y_true, positive_scores)
    auc = metrics.auc(fpr, tpr)
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot(fpr, tpr, lw=2, label=f"model (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="gray", label="chance")
    ax.set_xlabel(f"false positive rate (non-{positive} called {positive})")
    ax.set_ylabel(f"true positive rate ({positive} found)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "ROC curve (test)")
    save_figure(fig, path)


def write_classification_reports(run_dir, result: dict, info, title: str) -> str:
    """Write one evaluation's report and pictures into `run_dir` (classification_report.txt, confusion_matrix.png;
    misclassified.png for images; roc_curve.png for two classes); return the report text."""
    run_dir = Path(run_dir)
    class_names = info.class_names
    text = format_report(result["labels"], result["predictions"], class_names)
    files.write_text(run_dir / "classification_report.txt", text)
    cm = confusion_matrix(result["labels"], result["predictions"], len(class_names))
    plot_confusion_matrix(cm, class_names, run_dir / "confusion_matrix.png", title=f"{title}: confusion matrix (test)")
    if info.input_kind == "image":
        wrong = np.flatnonzero(result["labels"] != result["predictions"])
        plot_samples(result["inputs"][wrong], result["labels"][wrong], result["predictions"][wrong], class_names,
                     run_dir / "misclassified.png", title=f"{title}: misclassified test images (true -> predicted)")
    if len(class_names) == 2 and len(np.unique(result["labels"])) == 2:  # a ROC curve needs both classes
        plot_roc(result["labels"], result["probabilities"][:, 1], run_dir / "roc_curve.png", class_names[1],
                 title=f"{title}: ROC curve (test)")
    return text
