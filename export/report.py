"""`report.json` and `report.md`: what each exported file measured (format `formats.REPORT_FORMAT`, schema in
`export/schemas/report.schema.json`)."""

from __future__ import annotations

from export import formats


def numbers(values: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()) or "-"


def build(opened, summary: dict, settings: dict, results: dict, failures: dict, skipped=None) -> dict:
    """The report of an export of the run `opened` (a `zoo.run.Run`), checked against its schema."""
    report = {"format": formats.REPORT_FORMAT, "recipe": opened.recipe.name, "task": opened.recipe.task,
              "run": str(opened.folder), **summary, **settings, "hparams": opened.hparams, "artifacts": results,
              "failures": failures, "skipped": skipped or {}}
    formats.check(report, "report")
    return report


def markdown(report: dict) -> str:
    keras = {k: v for k, v in report.items() if k.startswith("keras_") or k == "test_examples"}
    lines = [f"# Export report: {report['recipe']}", "",
             f"Keras float32: {numbers(keras)}; TFLite files run with the LiteRT interpreter.", "",
             "| file | bytes | gzip bytes | sparsity | test accuracy | change | max abs diff | mean abs diff | "
             "p50 ms (1 thread) | p50 ms (all) | ops |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["artifacts"].items():
        acc, change = r.get("test_accuracy"), r.get("accuracy_change_vs_keras")
        lines.append(
            f"| {name} | {r['bytes']:,} | {r['gzip_bytes']:,} | {r['weight_sparsity']:.2f} | "
            f"{'-' if acc is None else f'{acc:.4f}'} | {'-' if change is None else f'{change * 100:+.2f} pt'} | "
            f"{r['max_abs_diff_vs_keras']:.1e} | {r['mean_abs_diff_vs_keras']:.1e} | "
            f"{r['latency_ms_1_thread']['p50']:.3f} | {r['latency_ms_all_threads']['p50']:.3f} | "
            f"{', '.join(r['ops'])} |")
    for variant, why in report["failures"].items():
        lines.append(f"\n**{variant} failed**: {why}")
    for variant, why in report.get("skipped", {}).items():
        lines.append(f"\n{variant} was not made: {why}")
    decoders = {name: r for name, r in report["artifacts"].items() if "decode_tokens_per_s_1_thread" in r}
    if decoders:
        lines += ["", "## Decoding", "",
                  f"Each file's greedy loop (prefill, then one step per id) on {report['keras_greedy_prompts']} test "
                  f"prompts against Keras's; Keras (zoo.generate) writes {report['keras_tokens_per_s']:.1f} ids/s.", "",
                  "| file | same output as Keras | same ids | ids/s (1 thread) | prefill ms (1 thread) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {name} | {r['greedy_agreement_vs_keras']:.2%} | {r['token_agreement_vs_keras']:.2%} | "
                  f"{r['decode_tokens_per_s_1_thread']:,.0f} | {r['prefill_ms_1_thread']:.2f} |"
                  for name, r in decoders.items()]
    for name, r in report["artifacts"].items():
        if "auto" in r:
            a = r["auto"]
            kept = ", ".join(f"`{k}`" for k in a["kept_float"]) or "none"
            lines += ["", f"## {name}: selective int8", "",
                      f"Full int8 lost {a['full_int8_loss']:.3f} {a['unit']} (limit {a['limit']}); this file loses "
                      f"{a['loss']:.3f}{'' if a['reached'] else ', over the limit: the size budget stopped it'}. "
                      f"Kept in float32: {kept}. Cost against full int8: {r['bytes'] - a['full_int8_bytes']:+,} "
                      f"bytes, p50 {r['latency_ms_1_thread']['p50'] - a['full_int8_latency_ms_1_thread']['p50']:+.3f} "
                      "ms (1 thread)."]
    from export.sensitivity import markdown_table

    for name, r in report["artifacts"].items():
        if r.get("layers"):
            lines += ["", f"## Layer errors: {name} ({r['made_by']})", "",
                      "Each layer's output against the float32 file's on calibration inputs; the layers that lose "
                      "most on their own (own drop: SNR lost against the worst input the layer reads), in graph "
                      "order. All measured layers are in report.json.", "", markdown_table(r["layers"])]
    return "\n".join(lines) + "\n"
