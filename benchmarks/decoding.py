"""The text writers on the device, against issue #32: LiteRT's greedy decoding id for id against Keras's on 100
test prompts, and decoding speed (ids per second, one thread) beside Keras's.

    python -m benchmarks.decoding                     # export the language benchmark's runs, measure
    python -m benchmarks.decoding --recipes gpt_imdb
    python -m benchmarks.decoding --render-only

The runs are benchmarks.language's and benchmarks.seq2seq's (OUT/runs/RECIPE-seed0, trained first if missing).
Each is exported with `python -m export RUN --quantize float32,dynamic,int8 --out OUT/exports/RECIPE`
(export/decoding.py): every decoder file is run by the LiteRT interpreter as an app runs it, prefill then one step
per id: a language model on the first 100 test reviews' first four words (<s> first), 20 ids each; seq2seq_dates on
the first 100 test dates, up to <end>. Agreement: the share of prompts whose ids are Keras's greedy ids exactly;
max |diff|: the probabilities fed Keras's ids against Keras's. Speed: the mean time of one step with one thread, as
ids per second; Keras's, batch 1 over 10 prompts: zoo.generate's loop (the whole window per id) for a language
model, `model.greedy` (eager) for seq2seq_dates.
Best alone on the machine. Results merge into benchmarks/results/decoding.json by (file, machine); the table between
the `results:decoding` markers of docs/results.md is rebuilt from it.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import export_run, recipes_main, run_recipe

RECIPES = ("lstm_lm_imdb", "gpt_imdb", "seq2seq_dates")
VARIANTS = "float32,dynamic,int8"


def measure(out: Path, recipes) -> list[dict]:
    rows = []
    for name in recipes:
        trained = run_recipe(name, 0, out, None, resume=True, precision="float32", strict=True)
        folder = out / "exports" / name
        if export_run(Path(trained["run_dir"]), ["--quantize", VARIANTS, "--out", str(folder)]) != 0:
            raise SystemExit(f"exporting {name} failed (its output above)")
        report = json.loads((folder / "report.json").read_text())
        for file, r in ((f, r) for f, r in report["artifacts"].items() if r["graph"] == "decoder"):
            rows.append({"recipe": name, "file": file, "bytes": r["bytes"], "made_by": r["made_by"],
                         "prompts": report["keras_greedy_prompts"], "greedy_agreement": r["greedy_agreement_vs_keras"],
                         "token_agreement": r["token_agreement_vs_keras"], "max_abs_diff": r["max_abs_diff_vs_keras"],
                         "litert_ids_per_s": r["decode_tokens_per_s_1_thread"], "prefill_ms": r["prefill_ms_1_thread"],
                         "keras_ids_per_s": report["keras_tokens_per_s"]})
        rows += [{"recipe": name, "file": f"decoder_{v.split()[-1]}.tflite", "failed": why}
                 for v, why in {**report["failures"], **report.get("skipped", {})}.items() if v.startswith("decoder")]
    return rows


def table(saved: dict) -> str:
    lines = []
    for where, entry in saved["machines"].items():
        lines += [f"Measured {', '.join(entry['dates'])} on **{where}** with `python -m benchmarks.decoding`: each "
                  "decoder file run by the LiteRT interpreter as an app runs it (prefill, then one step per id): the "
                  "language models on the first 100 test reviews' first four words, 20 ids each; seq2seq_dates on the "
                  "first 100 test dates, up to <end>. Keras's speed: zoo.generate's loop (language models), "
                  "`model.greedy` eager (seq2seq_dates), batch 1.", "",
                  "| recipe | file | bytes | same continuation as Keras | same ids | max abs diff | LiteRT ids/s "
                  "(1 thread) | prefill ms | Keras ids/s |", "|---|---|---|---|---|---|---|---|---|"]
        order = [f"decoder_{v}.tflite" for v in VARIANTS.split(",")]
        for r in sorted(entry["rows"], key=lambda r: (RECIPES.index(r["recipe"]), order.index(r["file"]))):
            if "failed" in r:
                lines.append(f"| `{r['recipe']}` | {r['file']} | not made: {r['failed']} | | | | | | |")
                continue
            lines.append(f"| `{r['recipe']}` | {r['file']} | {r['bytes']:,} | {r['greedy_agreement']:.0%} of "
                         f"{r['prompts']} | {r['token_agreement']:.1%} | {r['max_abs_diff']:.1e} | "
                         f"{r['litert_ids_per_s']:,.0f} | {r['prefill_ms']:.1f} | {r['keras_ids_per_s']:.1f} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def met(r: dict) -> bool:
    """#32's target: the float32 file decodes as Keras does (the quantized files report their agreement)."""
    return not r["file"].endswith("float32.tflite") or r.get("greedy_agreement") == 1.0


def main() -> int:
    return recipes_main(__doc__, "decoding", RECIPES, measure, table, key=lambda r: (r["recipe"], r["file"]), met=met)


if __name__ == "__main__":
    raise SystemExit(main())
