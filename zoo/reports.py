"""Reports people read or look at: classification report, confusion matrix, curves, sample grids.

Plots are written atomically as PNG with matplotlib's non-interactive backend.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from zoo import runs


def classification_report(y_true, y_pred, class_names: Sequence[str]) -> dict:
    """Per-class precision / recall / F1 / support plus accuracy, macro and weighted averages."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    out: dict = {}
    rows = []
    for i, name in enumerate(class_names):
        tp = int(np.sum((y_pred == i) & (y_true == i)))
        predicted = int(np.sum(y_pred == i))
        support = int(np.sum(y_true == i))
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        rows.append((precision, recall, f1, support))
    arr = np.array(rows, dtype=float)
    total = arr[:, 3].sum()
    out["accuracy"] = float(np.mean(y_true == y_pred)) if len(y_true) else 0.0
    out["macro avg"] = dict(zip(("precision", "recall", "f1"), map(float, arr[:, :3].mean(axis=0))), support=int(total))
    weights = arr[:, 3] / total if total else np.zeros(len(arr))
    out["weighted avg"] = dict(zip(("precision", "recall", "f1"), map(float, weights @ arr[:, :3])), support=int(total))
    return out


def format_report(report: dict, class_names: Sequence[str]) -> str:
    width = max(12, *(len(n) for n in class_names))
    lines = [f"{'':>{width}}  precision     recall   f1-score    support", ""]
    for name in class_names:
        r = report[name]
        lines.append(f"{name:>{width}}  {r['precision']:9.4f}  {r['recall']:9.4f}  {r['f1']:9.4f}  {r['support']:9d}")
    total = report["macro avg"]["support"]
    lines += ["", f"{'accuracy':>{width}}  {'':9}  {'':9}  {report['accuracy']:9.4f}  {total:9d}"]
    for avg in ("macro avg", "weighted avg"):
        r = report[avg]
        lines.append(f"{avg:>{width}}  {r['precision']:9.4f}  {r['recall']:9.4f}  {r['f1']:9.4f}  {r['support']:9d}")
    return "\n".join(lines) + "\n"


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    plt = _pyplot()
    with runs.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], path, title: str = "") -> None:
    """Row-normalised colours (recall per true class) with the raw counts written in the cells."""
    plt = _pyplot()
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
    _save(fig, path)


def read_history(path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def plot_curves(history: list[dict], path, title: str = "") -> None:
    """Loss and every other metric per epoch, train beside validation."""
    plt = _pyplot()
    if not history:
        return
    epochs = [int(r["epoch"]) for r in history]
    metrics = [k for k in history[0] if not k.startswith("val_") and k not in ("epoch", "seconds", "learning_rate")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for key, label in ((m, "train"), (f"val_{m}", "validation")):
            if key in history[0]:
                ax.plot(epochs, [float(r[key]) for r in history], marker="o", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(m)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title, y=1.04)  # above the panels' own titles
    _save(fig, path)


def image_grid(images, captions, path, title: str, overlays=None, cols: int = 9) -> None:
    """Images (0..255, grayscale or RGB) in a grid, one caption each; `overlays` (0..1 maps of the same size)
    are laid over them as heat maps (jet, 45% opacity)."""
    plt = _pyplot()
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
    _save(fig, path)


def plot_samples(images, labels, predictions, class_names, path, title: str = "", max_items: int = 36) -> bool:
    """A grid of images captioned `true -> predicted` (e.g. the misclassified test examples)."""
    n = min(len(images), max_items)
    if n == 0:
        return False
    captions = [f"{class_names[labels[k]]}\n-> {class_names[predictions[k]]}" for k in range(n)]
    image_grid(images[:n], captions, path, title or "true -> predicted")
    return True


def write_classification_reports(run_dir, result: dict, class_names, input_is_image: bool, title: str) -> str:
    """Write the report text and pictures for one evaluation into `run_dir`; return the report text."""
    run_dir = Path(run_dir)
    text = format_report(result["report"], class_names)
    runs.write_text(run_dir / "classification_report.txt", text)
    cm = confusion_matrix(result["labels"], result["predictions"], len(class_names))
    plot_confusion_matrix(cm, class_names, run_dir / "confusion_matrix.png", title=f"{title}: confusion matrix (test)")
    if input_is_image:
        wrong = np.flatnonzero(result["labels"] != result["predictions"])
        plot_samples(result["inputs"][wrong], result["labels"][wrong], result["predictions"][wrong], class_names,
                     run_dir / "misclassified.png", title=f"{title}: misclassified test images (true -> predicted)")
    return text
