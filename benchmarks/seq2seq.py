"""seq2seq_dates against issue #32's targets: exact match on 10,000 held-out dates, training time, LiteRT decoding.

    python -m benchmarks.seq2seq                  # train (resumable), export, measure
    python -m benchmarks.seq2seq --render-only

Training: `python -m zoo.train seq2seq_dates --precision float32` with the recipe's defaults into
OUT/runs/seq2seq_dates-seed0 (a run of other settings is moved aside and trained afresh), best alone on the machine:
the time is `train_seconds`, the epochs' wall time with validation. Target: test exact match >= 99.5% on the 10,000
held-out dates (none of their strings in training) in <= 10 minutes of training.

Export: `python -m export RUN --quantize float32,dynamic,int8 --int8-io float32`.
Each file's whole output against Keras's greedy decoding on the first 100 test dates (#32's 100 prompts) and on all
10,000 (report.json), and its exact matches. Speed: greedy decoding one date at a time (batch 1, 11 tokens each) over
200 test dates, in tokens per second: Keras (`model.greedy`, traced once with tf.function) beside the LiteRT
interpreter with one thread, per file. Results are merged into benchmarks/results/seq2seq.json by (file, machine);
the table between the `results:seq2seq` markers of docs/results.md is rebuilt from it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (HERE, add_result_options, export_run, machine, merge_by_machine, render_only,
                               run_recipe, save)
from zoo.data.dates import TARGET_LENGTH

RECIPE = "seq2seq_dates"
PROMPTS, TIMED = 100, 200
TARGET_EXACT, TARGET_MINUTES = 0.995, 10.0
PICTURE = "seq2seq_attention.png"


def tokens_per_second(decode, sources) -> float:
    decode(sources[:1])  # warm-up (tracing, allocation)
    start = time.perf_counter()
    for i in range(len(sources)):
        decode(sources[i : i + 1])
    return len(sources) * TARGET_LENGTH / (time.perf_counter() - start)


def measure(out: Path) -> list[dict]:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from zoo.run import Run

    trained = run_recipe(RECIPE, 0, out, None, resume=True, precision="float32", strict=True)
    run_dir = Path(trained["run_dir"])
    folder = out / "seq2seq" / "export"
    options = ["--quantize", "float32,dynamic,int8", "--int8-io", "float32", "--latency-runs", "50",
               "--out", str(folder)]
    if export_run(run_dir, options) != 0:
        raise SystemExit(f"the export of {run_dir} failed")
    report = json.loads((folder / "report.json").read_text())
    shutil.copyfile(run_dir / "attention.png", HERE / "results" / PICTURE)  # shown under the table
    opened = Run(run_dir)
    model = opened.model()
    sources = np.concatenate([np.asarray(s) for (s, _), _ in opened.data().test.take(-(-TIMED // 64) * 4)])[:TIMED]
    keras_ids = np.asarray(model.greedy(sources[:PROMPTS])[0])
    greedy = tf.function(lambda s: model.greedy(s)[0])
    keras_speed = tokens_per_second(lambda s: greedy(s).numpy(), sources)
    rows = []
    for name, art in ((n, a) for n, a in report["artifacts"].items() if a["graph"] == "model"):  # the decoder
        interpreter = Interpreter(model_content=(folder / name).read_bytes(), num_threads=1)
        interpreter.allocate_tensors()
        given, taken = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

        def decode(s):
            interpreter.set_tensor(given, s)
            interpreter.invoke()
            return interpreter.get_tensor(taken).argmax(-1)

        lite_ids = np.concatenate([decode(sources[i : i + 1]) for i in range(PROMPTS)])
        rows.append({"recipe": RECIPE, "file": name, "variant": art["variant"], "bytes": art["bytes"],
                     "keras_test_exact_match": trained["test_exact_match"],
                     "test_perplexity": trained["test_perplexity"],
                     "train_seconds": trained["train_seconds"], "epochs": trained["epochs_run"],
                     "test_examples": trained["test_examples"],
                     "same_as_keras_on_prompts": [int(np.sum(np.all(lite_ids == keras_ids, axis=1))), PROMPTS],
                     "same_as_keras_on_test": art["greedy_agreement_vs_keras"],
                     "file_exact_match": art["test_exact_match"],
                     "keras_tokens_per_second": keras_speed,
                     "litert_tokens_per_second": tokens_per_second(decode, sources)})
    return rows


def met(r: dict) -> bool:
    return r["keras_test_exact_match"] >= TARGET_EXACT and r["train_seconds"] <= TARGET_MINUTES * 60


def table(saved: dict) -> str:
    lines = []
    for where, entry in saved["machines"].items():
        lines += [f"Measured {', '.join(entry['dates'])} on **{where}** with `python -m benchmarks.seq2seq`: "
                  "`seq2seq_dates` with its defaults (float32), exact match on 10,000 held-out generated dates, and "
                  f"its exported files decoding greedily in the LiteRT interpreter (one thread, one date at a time, "
                  "11 tokens each) beside Keras's `model.greedy` (traced).", "",
                  "| file | bytes | Keras exact match (≥ 99.5%) | train minutes (≤ 10) | epochs | test perplexity | "
                  "same output as Keras: 100 prompts, 10,000 test | file's exact match | tokens/s LiteRT | "
                  "tokens/s Keras | met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(entry["rows"], key=lambda r: r["file"]):
            same = r["same_as_keras_on_prompts"]
            lines.append(f"| `{r['file']}` | {r['bytes']:,} | {r['keras_test_exact_match']:.2%} | "
                         f"{r['train_seconds'] / 60:.1f} | {r['epochs']} | {r['test_perplexity']:.4f} | "
                         f"{same[0]} of {same[1]}, {r['same_as_keras_on_test']:.2%} | {r['file_exact_match']:.2%} | "
                         f"{r['litert_tokens_per_second']:,.0f} | {r['keras_tokens_per_second']:,.0f} | "
                         f"{'✅' if met(r) else '❌'} |")
        lines.append("")
    if (HERE / "results" / PICTURE).is_file():
        lines += ["Where the decoder looked while writing each character (the run's attention.png: test dates, "
                  "brighter = more weight):", "", f"![attention on test dates](benchmarks/results/{PICTURE})"]
    return "\n".join(lines).rstrip()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_result_options(p, "seq2seq")
    args = p.parse_args()
    if render_only(args, "seq2seq", table):
        return 0
    rows = measure(Path(args.out))
    saved = merge_by_machine(HERE / "results" / "seq2seq.json", rows, key=lambda r: r["file"])
    save("seq2seq", table(saved), saved, docs=not args.no_docs)
    where, _ = machine()
    return 0 if all(met(r) for r in saved["machines"][where]["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
