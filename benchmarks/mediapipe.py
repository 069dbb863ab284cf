"""MediaPipe Tasks' ImageClassifier against the LiteRT interpreter on real test images (issue #29's targets).

    python -m benchmarks.mediapipe                                # cnn_mnist, trained with its defaults first
    python -m benchmarks.mediapipe cnn_mnist mlp_mnist cnn_fashion_mnist cnn_cifar10
    python -m benchmarks.mediapipe --render-only

For each recipe the train benchmark's run (benchmarks/out/runs/RECIPE-seed0, trained first if missing) is exported
with `--quantize float32,int8 --int8-io float32` into OUT/mediapipe/RECIPE. The first 2,000 test images then go
through MediaPipe's ImageClassifier (export/clients/mediapipe_classify.py in MediaPipe's own environment, a fresh
process, given the model path and max_results only) and through the LiteRT interpreter: top-1 agreement, the
largest score difference, category names against labels.txt, and the p50 time of one classification (MediaPipe's
classify call, image conversion included; the interpreter's invoke on a ready tensor). The same images and files
also go through MediaPipe's web package (@mediapipe/tasks-vision, pinned in package-lock.json) in headless Chromium
(export/clients/web.py). Grayscale recipes go through
their model_rgb_* files, each image's gray value in all three channels.

Targets: top-1 agreement >= 99.9%; scores within 1e-4 (float32) or one output quantisation step (1/256, int8);
metadata under 2 KB plus the labels file. Results are merged into benchmarks/results/mediapipe.json by (recipe,
machine); the table between the `results:mediapipe` markers of docs/results.md is rebuilt from it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from export import clients
from export.clients import web as web_client
from benchmarks.common import (HERE, add_result_options, export_run, finished_run, machine, merge_by_machine,
                               render_only, save)

IMAGES = 2000
TOLERANCE = {"float32": 1e-4, "int8": 1 / 256}
CLIENT = clients.MEDIAPIPE_CLASSIFY
PYTHON = clients.mediapipe_python()


def test_images(run_dir: Path, count: int) -> np.ndarray:
    from zoo.run import Run

    opened = Run(run_dir)
    source = opened.record["data"]["source"].split(" (")[0]
    data = opened.data(source if Path(source).is_dir() else None)
    batches, held = [], 0
    for x, _ in data.test:
        batches.append(np.asarray(x))
        held += len(batches[-1])
        if held >= count:
            break
    return np.concatenate(batches)[:count]


def measure(recipe: str, out: Path) -> list[dict]:
    from export import verify

    run_dir = finished_run(recipe, None, out)
    folder = out / "mediapipe" / recipe
    if export_run(run_dir, ["--quantize", "float32,int8", "--int8-io", "float32", "--latency-runs", "100",
                            "--out", str(folder)]) != 0:
        raise SystemExit(f"the export of {run_dir} failed")
    report = json.loads((folder / "report.json").read_text())
    labels = (folder / "labels.txt").read_text().splitlines()
    pixels = test_images(run_dir, IMAGES)
    rgb = np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels
    stem = "model_rgb" if pixels.shape[-1] == 1 else "model"
    whole = test_images(run_dir, 10**9).astype(np.float32) if pixels.shape[-1] == 1 else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "images.npy", rgb.astype(np.uint8))
        for variant in ("float32", "int8"):
            name = f"{stem}_{variant}.tflite"
            done = subprocess.run([str(PYTHON), str(CLIENT), str(folder / name), str(Path(tmp) / "images.npy"),
                                   str(Path(tmp) / "out.json")], capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"MediaPipe failed on {name}: {done.stderr[-1500:]}")
            found = json.loads((Path(tmp) / "out.json").read_text())
            lite = verify.Runner((folder / name).read_bytes()).predict(rgb.astype(np.float32))
            tops = np.array([r[0]["index"] for r in found["results"]])
            art = report["artifacts"][name]
            web = web_client.classify(folder / name, rgb.astype(np.uint8))  # @mediapipe/tasks-vision in Chromium
            web_tops = np.array([r[0]["index"] for r in web["results"]])
            same = None
            if whole is not None:  # issue #29: the RGB file gives the grayscale file's top-1 on the whole test split
                gray = verify.Runner((folder / f"model_{variant}.tflite").read_bytes()).predict(whole)
                colour = verify.Runner((folder / name).read_bytes()).predict(np.repeat(whole, 3, axis=-1))
                same = [int(np.sum(gray.argmax(1) == colour.argmax(1))), len(whole)]
            rows.append({
                "recipe": recipe, "file": name, "variant": variant, "images": len(rgb),
                "top1_agreement": float(np.mean(tops == lite.argmax(1))),
                "max_score_diff": float(max(abs(c["score"] - lite[i, c["index"]])
                                            for i, r in enumerate(found["results"]) for c in r)),
                "names_match_labels": all(c["name"] == labels[c["index"]] for r in found["results"] for c in r),
                "mediapipe_p50_ms": float(np.median(found["ms"])),
                "web_top1_agreement": float(np.mean(web_tops == lite.argmax(1))),
                "web_max_score_diff": float(max(abs(c["score"] - lite[i, c["index"]])
                                                for i, r in enumerate(web["results"]) for c in r)),
                "web_p50_ms": float(np.median(web["ms"])), "rgb_same_top1_as_gray": same,
                "interpreter_p50_ms": art["latency_ms_1_thread"]["p50"],
                "metadata_bytes": art.get("metadata_bytes"), "labels_bytes": len("\n".join(labels)) + 1,
                "mediapipe": found["mediapipe"], "data": json.loads((run_dir / "hparams.json").read_text())[
                    "data"]["source"]})
    return rows


def met(r: dict) -> bool:
    return (r["top1_agreement"] >= 0.999 and r["max_score_diff"] <= TOLERANCE[r["variant"]]
            and r["names_match_labels"] and r["metadata_bytes"] < 2048 + r["labels_bytes"]
            and r.get("web_top1_agreement", 1.0) >= 0.999)


def web(r: dict) -> str:
    if "web_top1_agreement" not in r:
        return "not measured"
    return f"{r['web_top1_agreement']:.2%}, {r['web_max_score_diff']:.1e}, {r['web_p50_ms']:.2f}"


def rgb(r: dict) -> str:
    same = r.get("rgb_same_top1_as_gray")
    if same is None:
        return "not measured" if r["file"].startswith("model_rgb") else "(colour recipe)"
    return f"{same[0]:,} of {same[1]:,}" + ("" if same[0] == same[1] else " ❌")


def table(saved: dict) -> str:
    lines = []
    for where, entry in saved["machines"].items():
        lines += [f"Measured {', '.join(entry['dates'])} on **{where}** with `python -m benchmarks.mediapipe`: the first "
                  f"{IMAGES:,} test images of each recipe through MediaPipe Tasks' ImageClassifier (mediapipe "
                  f"{entry['rows'][0]['mediapipe']}, Python, its own environment, model path and max_results only) "
                  "and through the LiteRT interpreter; and through MediaPipe's web package (@mediapipe/tasks-vision "
                  "0.10.21, headless Chromium, WebAssembly on the CPU). Grayscale recipes through their model_rgb "
                  "files.", "",
                  "| recipe | file | top-1 agreement (≥ 99.9%) | max score diff (≤ 1e-4 float32, ≤ 1/256 int8) | "
                  "category names = labels | metadata bytes (< 2 KB + labels) | p50 ms MediaPipe | p50 ms interpreter | "
                  "web: top-1 agreement, max score diff, p50 ms | RGB file's top-1 = grayscale file's (whole test split) | "
                  "met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(entry["rows"], key=lambda r: (r["recipe"], r["file"])):
            lines.append(f"| `{r['recipe']}` | `{r['file']}` | {r['top1_agreement']:.2%} | {r['max_score_diff']:.1e} | "
                         f"{'yes' if r['names_match_labels'] else 'no'} | {r['metadata_bytes']:,} (+ {r['labels_bytes']} "
                         f"labels) | {r['mediapipe_p50_ms']:.3f} | {r['interpreter_p50_ms']:.3f} | {web(r)} | {rgb(r)} | "
                         f"{'✅' if met(r) else '❌'} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", default=["cnn_mnist"])
    add_result_options(p, "mediapipe")
    args = p.parse_args()
    if render_only(args, "mediapipe", table):
        return 0
    path = HERE / "results" / "mediapipe.json"
    if web_client.missing():
        raise SystemExit(web_client.missing())
    if not PYTHON.is_file():
        raise SystemExit(f"no MediaPipe environment at {PYTHON}: python -m venv .venv-mediapipe && "
                         ".venv-mediapipe/bin/pip install -r requirements/mediapipe-client.txt")
    rows = [r for name in args.recipes for r in measure(name, Path(args.out))]
    saved = merge_by_machine(path, rows, key=lambda r: (r["recipe"], r["file"]))
    save("mediapipe", table(saved), saved, docs=not args.no_docs)
    where, _ = machine()
    return 0 if all(met(r) for r in saved["machines"][where]["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
