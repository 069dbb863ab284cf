"""MODEL_CARD.md: what an exported model is, what it was trained on and how, and how well each file does, written
from the run's records (hparams.json, metrics.json) and the export's report, never typed by hand.

    python -m export runs/cnn_mnist/20261122-213000      # writes RUN_DIR/export/MODEL_CARD.md
"""

from __future__ import annotations

USE = {
    "classification": ("Classifying inputs like the training data into the classes listed under Labels. The scores "
                       "are the model's softmax outputs, not calibrated probabilities."),
    "reconstruction": "Compressing and reconstructing inputs like the training data (an autoencoder).",
    "vae": "Encoding inputs like the training data and generating new ones from the latent space (a VAE).",
    "gan": "Generating images like the training data from random noise (a GAN).",
    "generation": ("Writing text like the training data, token by token: an encoder-decoder's file decodes greedily "
                   "inside (one invoke writes the whole output); a language model's decoder is run by the app, prefill "
                   "once and step per token (signature.json's loop). Its continuations repeat what the training texts "
                   "say, including their opinions and mistakes."),
}
LIMITS = ("It was trained and tested on one dataset only: inputs unlike that data (other sizes, other sources, "
          "other classes) get confident but meaningless outputs. Test numbers are from that dataset's test split; "
          "check the model on your own data before relying on it. It is not meant for decisions about people.")


def _percent_or_value(key: str, value) -> str:
    if isinstance(value, float) and ("accuracy" in key or "match" in key):
        return f"{value:.2%}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(opened, report: dict, signature: dict) -> str:
    """The card of an export of the run `opened` (a `zoo.run.Run`) with its `report` and `signature`."""
    record, recipe, metrics = opened.record, opened.recipe, _metrics(opened)
    data, machine = record.get("data", {}), record.get("machine", {})
    command = record.get("command") or f"python -m zoo.train {recipe.name}"
    lines = [f"# Model card: {recipe.name}", "",
             f"{recipe.description.rstrip('.')}. A {recipe.task} model"
             + (f" with {metrics['params']:,} parameters." if isinstance(metrics.get("params"), int) else "."),
             "", "## Training", "",
             f"- Command: `{command}`",
             f"- Run: `{opened.folder}` (created {record.get('created', '?')}), seed {record.get('seed')}, precision "
             f"{record.get('precision')}",
             f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores "
             f"({', '.join(machine.get('cpu_flags', [])) or 'no flags recorded'}); GPU: {machine.get('gpu') or 'none'}",
             f"- Versions: {', '.join(f'{k} {v}' for k, v in record.get('versions', {}).items()) or 'not recorded'}",
             f"- Hyperparameters: {', '.join(f'{k}={v}' for k, v in opened.hparams.items())}",
             "", "## Data", "",
             f"- Dataset: {data.get('name', '?')}, read from {data.get('source', '?')}",
             f"- Examples: {data.get('num_train', '?')} train, {data.get('num_val', '?')} validation, "
             f"{data.get('num_test', '?')} test",
             f"- Input: {data.get('preprocessing') or 'see signature.json'}"]
    if data.get("folder"):
        lines.append(f"- Your own data folder: {data['folder']} (what was read and skipped: the run's "
                     "data_summary.json)")
    lines += ["- Caveat: the numbers below hold for this copy of the data. A copy that differs from the original "
              "release (re-encoded images, a subset) gives numbers that are not the dataset's published benchmark "
              "numbers; the source above says which copy was read.",
              "", "## Test results of the trained model (Keras)", "",
              *(f"- {k}: {_percent_or_value(k, v)}" for k, v in metrics.items()
                if k.startswith("test_") and not isinstance(v, (list, dict))),
              "", "## Files", "",
              "Each file was run with the LiteRT interpreter on the test split; `report.md` has the details.", "",
              "| file | bytes | test result | agreement with Keras | p50 ms (1 thread) | metadata | MediaPipe Tasks |",
              "|---|---|---|---|---|---|---|"]
    for name, r in report["artifacts"].items():
        io = r["io"]
        result = (f"{r['test_accuracy']:.2%}" if "test_accuracy" in r else
                  f"{r['test_exact_match']:.2%} exact" if "test_exact_match" in r else
                  f"max abs diff {r['max_abs_diff_vs_keras']:.1e}")
        agreement = (f"{r['argmax_agreement_vs_keras']:.2%} same top-1" if "argmax_agreement_vs_keras" in r else
                     f"{r['greedy_agreement_vs_keras']:.2%} same output" if "greedy_agreement_vs_keras" in r
                     else f"mean abs diff {r['mean_abs_diff_vs_keras']:.1e}")
        mediapipe = io.get("mediapipe", {})
        lines.append(f"| `{name}` | {r['bytes']:,} | {result} | {agreement} | {r['latency_ms_1_thread']['p50']:.3f} | "
                     f"{'yes' if io.get('metadata') else 'no'} | "
                     f"{_mediapipe(mediapipe)} |")
    for variant, why in {**report["failures"], **report.get("skipped", {})}.items():
        lines.append(f"\nNot exported: {variant}: {why}")
    labels = next((g["output"]["labels"] for g in signature["graphs"].values() if g["output"].get("labels")), [])
    lines += ["", "## Intended use and limits", "", USE.get(recipe.task, ""), "", LIMITS]
    if labels:
        lines += ["", "## Labels", "", "Output index i is line i of `labels.txt`: " +
                  ", ".join(f"{i} {label}" for i, label in enumerate(labels))]
    return "\n".join(lines) + "\n"


def _mediapipe(entry: dict) -> str:
    if not entry.get("task"):
        return "no: " + entry.get("why_not", "")
    differs = entry.get("differs")
    return entry["task"] + (f" (its tokenizer differs from training's in {len(differs)} ways, listed in "
                            f"signature.json; {entry.get('exact', '')})" if differs else "")


def _metrics(opened) -> dict:
    from zoo import files

    path = opened.folder / "metrics.json"
    return files.read_json(path) if path.is_file() else {}
