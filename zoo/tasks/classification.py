"""Single-label classification (images, text): softmax probabilities out, scikit-learn metrics."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Mapping

import numpy as np

from zoo.optim import classification_loss, make_optimizer
from zoo.tasks.base import SOFTMAX_CLASSES, Task

UNROLLED_UNCALIBRATED = ("calibrating every step of the unrolled loops took 12 minutes for lstm_imdb on a 2-core CPU; "
                         "model_int8 (loops float32) and model_unrolled_dynamic are the quantized choices")
VAL_EXAMPLES = 2000  # validation inputs `--quantize auto` scores each candidate file on


class ClassificationTask(Task):
    """Single-label classification; models output float32 class probabilities.

    `metrics.json` keys: test_accuracy, test_loss, test_macro_f1, test_weighted_f1, test_examples; a two-class
    model adds test_precision, test_recall, test_f1 (of the second class, e.g. "positive") and test_roc_auc.
    """

    name = "classification"
    monitor = "val_accuracy"
    mode = "max"
    objectives = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}  # for tuning
    output = SOFTMAX_CLASSES
    replicable = True  # a compiled Keras loss: `--strategy mirrored|multi_worker` split its batches

    def compile(self, model, hp: Mapping[str, Any], steps_per_epoch: int) -> None:
        model.compile(
            optimizer=make_optimizer(hp, steps_per_epoch),
            loss=classification_loss(hp),
            metrics=["accuracy"],
            steps_per_execution=hp["steps_per_execution"],
        )

    def predict(self, model, dataset):
        """(inputs, labels, probabilities) over a whole dataset, as numpy arrays."""
        xs, ys, ps = [], [], []
        for x, y in dataset:
            xs.append(x.numpy())
            ys.append(y.numpy())
            ps.append(np.asarray(model.predict_on_batch(x), dtype=np.float32))
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(ps)

    def evaluate(self, model, data, hp=None, folder=None) -> dict[str, Any]:
        """Test metrics (the `metrics.json` keys) plus arrays the reports draw from."""
        return self.score(*self.predict(model, data.test), data.info)

    def score(self, x, y, probs, info) -> dict[str, Any]:
        """`evaluate` from predictions already made (an ensemble averages its members' once); scikit-learn's
        metrics."""
        from sklearn import metrics as sk

        from zoo.reports import classification_report

        pred = probs.argmax(axis=1)
        report = classification_report(y, pred, info.class_names)
        labels = list(range(len(info.class_names)))
        loss = float(sk.log_loss(y, probs, labels=labels)) if len(y) else math.nan
        metrics = {
            "test_accuracy": float(sk.accuracy_score(y, pred)),
            "test_loss": loss if math.isfinite(loss) else None,
            "test_macro_f1": float(report["macro avg"]["f1-score"]),
            "test_weighted_f1": float(report["weighted avg"]["f1-score"]),
            "test_examples": int(len(y)),
        }
        if len(labels) == 2:  # the second class is the positive one ("positive" for sentiment)
            precision, recall, f1, _ = sk.precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
            both = len(np.unique(y)) == 2  # ROC AUC needs both classes in the test split
            metrics.update(test_precision=float(precision), test_recall=float(recall), test_f1=float(f1),
                           test_roc_auc=float(sk.roc_auc_score(y, probs[:, 1])) if both else None)
        return {"metrics": metrics, "report": report, "inputs": x, "labels": y, "predictions": pred,
                "probabilities": probs}

    def report_text(self, result, info) -> str:
        """The classification report as printed (scikit-learn's table)."""
        from zoo.reports import format_report

        return format_report(result["labels"], result["predictions"], info.class_names)

    def write_reports(self, folder, result, info, title: str) -> str:
        """Report files and pictures in the run folder; returns the text report."""
        from zoo.reports import write_classification_reports

        return write_classification_reports(folder, result, info, title)

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """One line of the headline test numbers."""
        line = f"test accuracy {metrics['test_accuracy']:.4f}"
        if metrics.get("test_loss") is not None:
            line += f", loss {metrics['test_loss']:.4f}"
        if metrics.get("test_roc_auc") is not None:
            line += f", F1 {metrics['test_f1']:.4f}, ROC AUC {metrics['test_roc_auc']:.4f}"
        return line + f" over {metrics['test_examples']} examples"

    # -- export ----------------------------------------------------------------
    prunable = True  # export --prune fine-tunes with `compile` and the training split

    def export_graphs(self, model, original, data, batch: int, calibration: int, reference=None) -> list:
        """One graph, `model`: the inputs the run was trained on -> class probabilities; scored by test accuracy
        against the Keras model's (or `reference`, the unpruned model's, for a pruned copy)."""
        from zoo.tasks.graphs import ExportGraph, calibration_batches, dataset_inputs, predict, take

        info = data.info
        x, y = take(data.test, info.num_test)
        x = x.astype(info.input_dtype)
        keras_probs = predict(model, x)
        keras_acc = float(np.mean(keras_probs.argmax(1) == y))
        reference = keras_acc if reference is None else reference

        @functools.cache
        def validation():  # only `--quantize auto` needs it: read and scored with Keras on its first use
            x_val, y_val = take(data.val, min(info.num_val, VAL_EXAMPLES))
            x_val = x_val.astype(info.input_dtype)
            return x_val, y_val, float(np.mean(predict(model, x_val).argmax(1) == y_val))

        def val_loss(predict_file):
            x_val, y_val, keras_val = validation()
            return 100 * (keras_val - float(np.mean(predict_file(x_val).argmax(1) == y_val)))

        def score(probs):
            acc = float(np.mean(probs.argmax(1) == y))
            return {"test_accuracy": acc, "accuracy_change_vs_keras": acc - reference,
                    "argmax_agreement_vs_keras": float(np.mean(probs.argmax(1) == keras_probs.argmax(1)))}

        graph = ExportGraph(
            name="model", model=model, original=original, inputs=x, score=score,
            input={"kind": info.input_kind, "shape": list(info.input_shape), "dtype": info.input_dtype,
                   "layout": "NHWC" if info.input_kind == "image" else None, "range": list(info.input_range),
                   "preprocessing": info.preprocessing, **({"text": info.text} if info.text else {})},
            output={"name": "probabilities", "shape": [info.num_classes], "dtype": "float32",
                    "meaning": "class probabilities (softmax); index i is line i of labels.txt",
                    "labels": list(info.class_names)},
            calibration=calibration_batches(dataset_inputs(data.train), calibration, batch),
            summary={"keras_test_accuracy": keras_acc, "test_examples": int(len(y))}, outputs=keras_probs,
            val_loss=val_loss, loss_unit="accuracy points (validation split)",
        )
        if info.input_kind == "image" and info.input_shape[-1] == 1:
            return [graph, rgb_graph(graph, original)]
        if hasattr(model, "one_graph_config"):  # recurrent layers: WHILE loops, each a subgraph of its own
            return [graph, one_graph(graph, model)]
        return [graph]


def rgb_graph(graph, original):
    """A grayscale classifier's graph again, taking RGB images converted to grayscale in the graph (`model_rgb`): the
    image task APIs (MediaPipe's ImageClassifier) take 3 or 4 channels only. Scored on the test images with their
    gray value in every channel, against the grayscale Keras model."""
    from zoo.models.layers import LUMINANCE, rgb_input

    shape = graph.input_shape

    def calibration():
        for x in graph.calibration():
            yield np.repeat(x, 3, axis=-1)

    rgb = dict(graph.input, shape=[*shape[:-1], 3], colour="RGB", preprocessing=(
        f"{graph.input['preprocessing']}; RGB in, converted to grayscale in the graph as "
        f"{LUMINANCE[0]:.6f} R + {LUMINANCE[1]:.6f} G + {LUMINANCE[2]:.6f} B (tf.image.rgb_to_grayscale's weights "
        "scaled to sum to 1)").lstrip("; "),
        converted="rgb_to_grayscale", copy="rgb")
    return dataclasses.replace(graph, name="model_rgb", model=rgb_input(graph.model, shape),
                               original=rgb_input(original, shape), input=rgb,
                               inputs=np.repeat(graph.inputs, 3, axis=-1), calibration=calibration, outputs=None,
                               float_layers=("luminance",),
                               val_loss=lambda predict_file: graph.val_loss(
                                   lambda x: predict_file(np.repeat(x, 3, axis=-1))), summary={})


def one_graph(graph, model):
    """The graph again as one subgraph (`model_unrolled`: the recurrent loops written out step by step), for the task
    APIs that take nothing else (MediaPipe's TextClassifier). The same inputs, outputs and checks as `model`."""
    clone = type(model).from_config(model.one_graph_config())
    clone(graph.inputs[:1])
    clone.set_weights(model.get_weights())
    return dataclasses.replace(graph, name="model_unrolled", model=clone, input=dict(graph.input, copy="unrolled"),
                               summary={}, uncalibrated=UNROLLED_UNCALIBRATED)
