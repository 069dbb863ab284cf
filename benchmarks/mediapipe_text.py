"""MediaPipe Tasks' TextClassifier against `python -m zoo.predict` on real IMDB test reviews (issue #29's text target).

    python -m benchmarks.mediapipe_text                              # lstm_imdb and transformer_imdb
    python -m benchmarks.mediapipe_text lstm_imdb gru_imdb transformer_imdb
    python -m benchmarks.mediapipe_text --render-only

Each recipe is trained twice (resumable; OUT/runs/RECIPE-seed0 is the train benchmark's run, reused if there):
with its defaults (tokenizer=keras: lowercase, punctuation deleted, the last tokens of a long review kept), and as
OUT/runs/RECIPE-regex-seed0 with `--set tokenizer=regex --set truncating=post`, the tokenisation MediaPipe's
RegexTokenizer runs on the device. Each run is exported with `--quantize float32,dynamic,int8 --int8-io float32`
(a recurrent recipe also writes model_unrolled_*: its loops unrolled, one subgraph, float32 and dynamic). The first
1,000 test reviews, as raw text, then go through MediaPipe's TextClassifier (export/clients/mediapipe_classify.py,
in MediaPipe's own environment: model path and max_results only) and through zoo.predict's path (the run's own
vocabulary and Keras model, on the ids it makes): top-1 agreement, and where the ids are the same by construction
(tokenizer=regex) the largest score difference from the LiteRT interpreter on zoo's ids. Latency: the p50 of
MediaPipe's classify call (tokenising included) beside the interpreter's invoke on ready ids (export's report).

Target: agreement >= 99.5%, or the measured number with the reason (signature.json's `mediapipe.differs`) and the
option that makes it exact. Results are merged into benchmarks/results/mediapipe_text.json by (recipe, tokenizer,
file, machine); the table between the `results:mediapipe_text` markers of docs/results.md is rebuilt from it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from export import clients
from benchmarks.common import (HERE, ROOT, add_result_options, export_run, machine, merge_by_machine, render_only,
                               save, staged_data_dir)

REVIEWS = 1000
TARGET = 0.995
DEVICE = ["--set", "tokenizer=regex", "--set", "truncating=post"]
# dynamic: the quantized file of a recurrent recipe's model_unrolled graph (its loops unrolled into one subgraph, as
# MediaPipe's TextClassifier needs), which is not calibrated for int8
QUANTIZE = "float32,dynamic,int8"


def trained(recipe: str, tokenizer: str, out: Path) -> Path:
    """The finished run of `recipe` with `tokenizer` (trained or resumed in a fresh process if need be)."""
    run_dir = out / "runs" / (f"{recipe}-seed0" if tokenizer == "keras" else f"{recipe}-regex-seed0")
    if not (run_dir / "metrics.json").is_file():
        cmd = [sys.executable, "-m", "zoo.train", recipe, "--seed", "0", "--run-dir", str(run_dir), "--precision",
               "float32", *(DEVICE if tokenizer == "regex" else []),
               *(["--data-dir", staged_data_dir(recipe)] if staged_data_dir(recipe) else []),
               *(["--resume"] if run_dir.exists() else [])]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return run_dir


def zoo_predict(run_dir: Path, texts: list) -> tuple[np.ndarray, np.ndarray]:
    """(ids, probabilities) as `python -m zoo.predict RUN TEXT...` computes them."""
    from zoo import runs
    from zoo.data import text
    from zoo.run import Run

    opened = Run(run_dir)
    description = opened.record["data"]["text"]
    layer = text.saved_vectorizer(runs.read_data_files(run_dir, opened.record), str(run_dir),
                                  description.get("tokenizer", "keras"))
    ids = text.encode(layer, texts, description["sequence_length"], description["truncating"])
    return ids, np.asarray(opened.model().predict(ids, batch_size=64, verbose=0), np.float32)


def measure(recipe: str, tokenizer: str, out: Path, texts: list) -> list[dict]:
    from export import verify

    run_dir = trained(recipe, tokenizer, out)
    folder = out / "mediapipe" / f"{recipe}-{tokenizer}"
    if export_run(run_dir, ["--quantize", QUANTIZE, "--int8-io", "float32", "--latency-runs", "100",
                            "--out", str(folder)]) != 0:
        raise SystemExit(f"the export of {run_dir} failed")
    report = json.loads((folder / "report.json").read_text())
    signature = json.loads((folder / "signature.json").read_text())
    labels = (folder / "labels.txt").read_text().splitlines()
    ids, keras = zoo_predict(run_dir, texts)
    from export import metadata

    vocabulary = len(metadata.mediapipe_vocabulary((run_dir / "vocab.txt").read_text(encoding="utf-8"),
                                                   tokenizer).encode())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
        made = [(name, io) for graph in signature["graphs"].values() for name, io in graph["files"].items()
                if not name.startswith("pruned_")]
        for name, io in made:
            variant = report["artifacts"][name]["variant"]
            if io["mediapipe"]["task"] is None:  # signature.json says MediaPipe cannot run it: recorded, not tried
                rows.append({"recipe": recipe, "tokenizer": tokenizer, "file": name, "variant": variant,
                             "why_not": io["mediapipe"]["why_not"]})
                continue
            done = subprocess.run([str(clients.mediapipe_python()), str(clients.MEDIAPIPE_CLASSIFY), str(folder / name),
                                   str(Path(tmp) / "texts.json"), str(Path(tmp) / "out.json")],
                                  capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"MediaPipe failed on {name}: {done.stderr[-1500:]}")
            found = json.loads((Path(tmp) / "out.json").read_text())
            lite = verify.Runner((folder / name).read_bytes()).predict(ids)
            tops = np.array([r[0]["index"] for r in found["results"]])
            art = report["artifacts"][name]
            rows.append({
                "recipe": recipe, "tokenizer": tokenizer, "file": name, "variant": variant, "reviews": len(texts),
                "agreement_with_zoo_predict": float(np.mean(tops == keras.argmax(1))),
                "agreement_with_interpreter": float(np.mean(tops == lite.argmax(1))),
                "max_score_diff": float(max(abs(c["score"] - lite[i, c["index"]])
                                            for i, r in enumerate(found["results"]) for c in r)),
                "names_match_labels": all(c["name"] == labels[c["index"]] for r in found["results"] for c in r),
                "differs": io["mediapipe"].get("differs", []),
                "mediapipe_p50_ms": float(np.median(found["ms"])),
                "interpreter_p50_ms": art["latency_ms_1_thread"]["p50"],
                "metadata_bytes": art.get("metadata_bytes"), "vocabulary_bytes": vocabulary,
                "labels_bytes": len("\n".join(labels)) + 1,
                "keras_test_accuracy": json.loads((run_dir / "metrics.json").read_text())["test_accuracy"],
                "mediapipe": found["mediapipe"], "data": json.loads((run_dir / "hparams.json").read_text())[
                    "data"]["source"]})
    return rows


def test_reviews(count: int) -> list:
    from zoo.data.reviews import IMDB, load_splits

    (_, (texts, _)), _ = load_splits(IMDB, staged_data_dir("lstm_imdb"))
    return [str(t) for t in texts[:count]]


def met(r: dict) -> bool:
    return "why_not" not in r and (r["agreement_with_zoo_predict"] >= TARGET and r["names_match_labels"]
            and r["metadata_bytes"] < 2048 + r["vocabulary_bytes"] + r["labels_bytes"])


def table(saved: dict) -> str:
    lines = []
    for where, entry in saved["machines"].items():
        rows = [r for r in entry["rows"] if "why_not" not in r]
        refused = [r for r in entry["rows"] if "why_not" in r]
        lines += [f"Measured {', '.join(entry['dates'])} on **{where}** with `python -m benchmarks.mediapipe_text`: "
                  f"the first {REVIEWS:,} IMDB test reviews, as raw text, through MediaPipe Tasks' "
                  f"TextClassifier (mediapipe {rows[0]['mediapipe'] if rows else '0.10.21'}, model path and "
                  "max_results only) "
                  "and through "
                  "`zoo.predict`'s path (Keras, the run's own tokenizer). `keras`: the recipe's default tokenisation, "
                  "which MediaPipe's regex tokenizer can only approximate (the reasons below); `regex`: trained with "
                  "`--set tokenizer=regex --set truncating=post`, the device's own tokenisation. Score difference: "
                  "MediaPipe against the LiteRT interpreter on zoo's ids (the same ids only with `regex`).", "",
                  "| recipe | tokenizer | file | Keras test accuracy | agreement with zoo.predict (≥ 99.5%) | "
                  "agreement with the interpreter | max score diff | metadata bytes (< 2 KB + vocabulary + labels) | "
                  "p50 ms MediaPipe | p50 ms interpreter | met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (r["recipe"], r["tokenizer"], r["file"])):
            lines.append(f"| `{r['recipe']}` | {r['tokenizer']} | `{r['file']}` | {r['keras_test_accuracy']:.2%} | "
                         f"{r['agreement_with_zoo_predict']:.1%} | {r['agreement_with_interpreter']:.1%} | "
                         f"{r['max_score_diff']:.1e} | "
                         f"{r['metadata_bytes']:,} (vocabulary {r['vocabulary_bytes']:,}) | "
                         f"{r['mediapipe_p50_ms']:.3f} | "
                         f"{r['interpreter_p50_ms']:.3f} | {'✅' if met(r) else '❌ (reasons below)'} |")
        lines += [f"| `{r['recipe']}` | {r['tokenizer']} | `{r['file']}` | not run: {r['why_not']} | | | | | | | ❌ |"
                  for r in sorted(refused, key=lambda r: (r["recipe"], r["tokenizer"], r["file"]))]
        reasons = sorted({d for r in rows for d in r["differs"]})
        if reasons:
            lines += ["", "Where MediaPipe's tokenizer splits a review otherwise than `tokenizer=keras` did "
                      "(signature.json's `mediapipe.differs`):", "", *(f"- {d}" for d in reasons)]
        lines.append("")
    return "\n".join(lines).rstrip()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", default=["lstm_imdb", "transformer_imdb"])
    p.add_argument("--tokenizers", default="keras,regex", help="which trainings to measure (default: both)")
    add_result_options(p, "mediapipe_text")
    args = p.parse_args()
    if render_only(args, "mediapipe_text", table):
        return 0
    if not clients.mediapipe_python().is_file():
        raise SystemExit(f"no MediaPipe environment at {clients.mediapipe_python()}: python -m venv .venv-mediapipe "
                         "&& .venv-mediapipe/bin/pip install -r requirements/mediapipe-client.txt")
    texts = test_reviews(REVIEWS)
    path = HERE / "results" / "mediapipe_text.json"
    for name in args.recipes:  # saved after each recipe: a long run keeps what it measured
        rows = []
        for tokenizer in args.tokenizers.split(","):
            rows += measure(name, tokenizer, Path(args.out), texts)
            if all("why_not" in r for r in rows):  # MediaPipe runs none of its files: another training cannot help
                break
        saved = merge_by_machine(path, rows, key=lambda r: (r["recipe"], r["tokenizer"], r["file"]))
        save("mediapipe_text", table(saved), saved, docs=not args.no_docs)
    where, _ = machine()
    return 0 if all(met(r) for r in saved["machines"][where]["rows"] if r["tokenizer"] == "regex"
                    and "why_not" not in r) else 1


if __name__ == "__main__":
    raise SystemExit(main())
