"""The web page against the Python interpreter on real test images (issue #15), with its screenshot.

    python -m benchmarks.web                      # cnn_mnist: the train benchmark's run, trained first if missing
    python -m benchmarks.web --run-dir runs/cnn_mnist/20261122-213000 --examples 1000
    python -m benchmarks.web --render-only

Exports the run's float32 and int8 files (int8 with float32 inputs and outputs, which
LiteRT.js can feed) with `python -m export RUN --quantize float32,int8 --int8-io float32
--web`, opens the page in headless Chromium (a fresh browser per file, so the first load
fetches and compiles LiteRT.js's WebAssembly) and times page load to first prediction,
then feeds the first --examples MNIST test images through the page's own code and compares
each with the LiteRT Python interpreter on the same pixels. Last it draws a digit with the
mouse and saves the screenshot to benchmarks/results/web_cnn_mnist.png.

Targets: the page's argmax equals LiteRT-Python's on every image for both files; page load
to first prediction under 2 seconds. Results go to benchmarks/results/web.json and .md and
the docs text between the `results:web` markers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import HERE, add_result_options, export_run, finished_run, machine, render_only, save

VARIANTS = ("float32", "int8")
FILES = tuple(f"model_{v}.tflite" for v in VARIANTS)
LOADS = 3  # page loads per file: the first in a fresh browser, then reloads
SEVEN = [[(80, 60), (200, 60), (130, 230)]]  # a 7 drawn with the mouse, in the 280x280 pad's pixels


def mnist_test_images(run_dir: Path, count: int):
    from zoo.run import Run
    from zoo.tasks.graphs import take

    return take(Run(run_dir).data().test, count)


def measure(folder: Path, x, y, screenshot: Path) -> dict:
    from export import verify
    from export.web import browser

    files = {}
    for name in FILES:
        with browser.Page(folder) as page:
            loads = [page.open(name)["readyMs"] for _ in range(LOADS)]
            start = time.perf_counter()
            seen = page.classify_images(x)
            seconds = time.perf_counter() - start
            call_ms = page.call_ms
        expected = verify.Runner((folder / name).read_bytes()).predict(x.astype(np.float32))
        files[name] = {"first_load_ms": loads[0], "reload_ms": loads[1:], "examples": int(len(x)),
                       "argmax_equal": int((seen.argmax(1) == expected.argmax(1)).sum()),
                       "max_abs_diff": float(np.abs(seen - expected).max()),
                       "page_accuracy": float((seen.argmax(1) == y).mean()),
                       "python_accuracy": float((expected.argmax(1) == y).mean()),
                       "page_call_ms_p50": float(np.median(call_ms)),
                       "page_ms_per_image": 1000 * seconds / len(x)}
        print(f"{name}: {files[name]}", flush=True)
    with browser.Page(folder) as page:
        page.open(FILES[0])
        drawn = page.draw(SEVEN)
        page.screenshot(screenshot)
    return {"files": files, "drawn_seven": drawn}


def table(entry: dict) -> str:
    lines = [f"Measured {entry['date']} on {entry['machine']} with `python -m benchmarks.web` ({entry['chromium']}, "
             f"headless; LiteRT.js {entry['litertjs']}, WebAssembly on the CPU): `cnn_mnist`'s files, the first "
             f"{entry['examples']:,} MNIST test images fed through the page's own code.", "",
             "| file | argmax equal to LiteRT-Python | max abs diff | accuracy (page) | page load to first "
             "prediction, fresh browser | reloads | model call in the page, p50 |", "|---|---|---|---|---|---|---|"]
    for name, r in entry["files"].items():
        lines.append(f"| `{name}` | {r['argmax_equal']:,} / {r['examples']:,} | {r['max_abs_diff']:.1e} | "
                     f"{r['page_accuracy']:.2%} | {r['first_load_ms']:.0f} ms | "
                     f"{', '.join(f'{v:.0f}' for v in r['reload_ms'])} ms | {r['page_call_ms_p50']:.2f} ms |")
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'✅' if ok else '❌'} | {text} |" for name, ok, text in entry["checks"]]
    lines += ["", f"A 7 drawn with the mouse was read as {', '.join(entry['drawn_seven'][:3])} (top three):", "",
              "![the page after a prediction](benchmarks/results/web_cnn_mnist.png)"]
    return "\n".join(lines)


def checks(entry: dict) -> list:
    out = []
    for name, r in entry["files"].items():
        out.append((f"`{name}`: same argmax as LiteRT-Python", r["argmax_equal"] == r["examples"],
                    f"{r['argmax_equal']:,} of {r['examples']:,}"))
    slowest = max(r["first_load_ms"] for r in entry["files"].values())
    out.append(("page load to first prediction < 2 s", slowest < 2000, f"{slowest:.0f} ms at most (fresh browser)"))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", help="a finished cnn_mnist run (default: the train benchmark's seed-0 run)")
    p.add_argument("--examples", type=int, default=1000)
    add_result_options(p, "web")
    args = p.parse_args()
    if render_only(args, "web", table):
        return 0
    run_dir = finished_run("cnn_mnist", args.run_dir, Path(args.out))
    if run_dir is None:
        print(f"{args.run_dir} is not a finished run", file=sys.stderr)
        return 2
    folder = run_dir / "export_web"
    if export_run(run_dir, ["--quantize", ",".join(VARIANTS), "--int8-io", "float32", "--web",
                            "--out", str(folder)]):
        return 1
    x, y = mnist_test_images(run_dir, args.examples)
    where, details = machine()
    chromium = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.split(" built")[0]
    entry = {"machine": where, "machine_details": details, "date": time.strftime("%Y-%m-%d"), "run_dir": str(run_dir),
             "examples": int(len(x)),
             "chromium": chromium.strip(),
             "litertjs": json.loads((folder / "web" / "signature.json").read_text())["web"]["litertjs"],
             **measure(folder / "web", x, y, HERE / "results" / "web_cnn_mnist.png")}
    entry["checks"] = checks(entry)
    save("web", table(entry), entry, docs=not args.no_docs)
    return 0 if all(ok for _, ok, _ in entry["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
