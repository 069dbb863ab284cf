"""What the benchmark scripts share: where things are, this machine's description, training and exporting a
recipe in a fresh process, and saving a result (benchmarks/results/SECTION.json and .md, and its table in the docs).

    from benchmarks.common import machine, run_recipe, save
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
DOCS = ROOT / "docs"


# data function -> folder under ../shared/data
STAGED = {"cifar10": "cifar10", "imdb_reviews": "imdb", "imdb_lm": "imdb"}
LOSSY = {"cifar10": "JPEG-lossy copy"}  # datasets whose staged copy is not the original


def machine() -> tuple[str, dict]:
    """This machine as one line for the tables (CPU model, cores, speed-relevant flags, GPU) and in detail."""
    from zoo import runtime

    details = runtime.machine()
    return runtime.describe_machine(details), details


def dataset_of(name: str) -> str:
    import zoo

    return zoo.get(name).data.__name__


def staged_data_dir(name: str) -> str | None:
    """The staged copy of the recipe's dataset under ../shared/data, where there is one (CIFAR-10, IMDB)."""
    dataset = dataset_of(name)
    folder = SHARED_DATA / STAGED[dataset] if dataset in STAGED else None
    return str(folder) if folder is not None and folder.is_dir() else None


def stale(run_dir: Path, name: str, precision: str) -> str:
    """Why the run in `run_dir` cannot stand for `name`'s defaults trained here in `precision` ("" if it can):
    it was trained with other hyperparameters (the defaults changed since), in another precision, or, once
    finished, on another machine (its times would be labelled with this one)."""
    from zoo import hparams as hparams_lib
    from zoo import registry, runtime

    saved = json.loads((run_dir / "hparams.json").read_text())
    defaults = hparams_lib.resolve(name, registry.get(name).hparams)
    changed = sorted(k for k in defaults if saved["hparams"].get(k) != defaults[k])
    if changed:
        return "trained with other hyperparameters than today's defaults (" + ", ".join(
            f"{k}={saved['hparams'].get(k)!r}, now {defaults[k]!r}" for k in changed[:3]) + ")"
    wanted = runtime.resolve_precision(precision)
    if saved["precision"] != wanted:
        return f"trained in {saved['precision']}, not {wanted}"
    theirs, ours = saved.get("machine", {}), runtime.machine()
    if (run_dir / "metrics.json").is_file() and (theirs.get("cpu"), theirs.get("cpu_flags")) != (
            ours["cpu"], ours["cpu_flags"]):
        return f"trained on another machine ({runtime.describe_machine(theirs)})"
    return ""


def run_recipe(name: str, seed: int, out: Path, data_dir: str | None, resume: bool, precision: str = "auto",
               strict: bool = False) -> dict:
    """Train `name` in a fresh process, or with `resume` reuse or continue OUT/runs/NAME-seedS. With `strict`
    (timed benchmarks) a run that is `stale` is moved aside to NAME-seedS-stale-STAMP and trained afresh."""
    dataset = dataset_of(name)
    data_dir = data_dir or staged_data_dir(name)
    stamp = "" if resume else "-" + time.strftime("%Y%m%d-%H%M%S")
    run_dir = out / "runs" / f"{name}-seed{seed}{stamp}"
    why = stale(run_dir, name, precision) if strict and (run_dir / "hparams.json").is_file() else ""
    if why:
        aside = run_dir.with_name(f"{run_dir.name}-stale-{time.strftime('%Y%m%d-%H%M%S')}")
        print(f"{run_dir} was {why}: moved to {aside.name}, training afresh", flush=True)
        run_dir.rename(aside)
    cmd = [sys.executable, "-m", "zoo.train", name, "--seed", str(seed), "--run-dir", str(run_dir),
           "--precision", precision]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    finished = (run_dir / "metrics.json").is_file()
    if resume and run_dir.exists() and not finished:
        cmd.append("--resume")
    if not finished:
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    hparams = json.loads((run_dir / "hparams.json").read_text())
    return {"recipe": name, "seed": seed, "run_dir": str(run_dir), "data": hparams["data"]["source"],
            "data_note": LOSSY.get(dataset, ""), "epoch_seconds": round(metrics["train_seconds"] /
                                                                        metrics["epochs_run"], 1), **metrics}


def finished_run(recipe: str, run_dir: str | None, out: Path) -> Path | None:
    """The run an export benchmark works on: `run_dir` if it has finished (None if not), else the train
    benchmark's `out/runs/RECIPE-seed0`, trained (or resumed) with the recipe's defaults first if need be."""
    if run_dir:
        return Path(run_dir) if (Path(run_dir) / "metrics.json").is_file() else None
    run_recipe(recipe, 0, out, None, resume=True)  # returns at once for a finished run
    return out / "runs" / f"{recipe}-seed0"


def export_run(run_dir: Path, options=()) -> int:
    """`python -m export RUN_DIR OPTIONS` on the data files the run was trained on; its exit code."""
    source = json.loads((run_dir / "hparams.json").read_text())["data"]["source"].split(" (")[0]
    data = ["--data-dir", source] if Path(source).is_dir() else []
    cmd = [sys.executable, "-m", "export", str(run_dir), *options, *data]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def update_docs(text: str, section: str = "train") -> None:
    """Replace the text between `<!-- results:SECTION:start -->` and `<!-- results:SECTION:end -->` in the docs page
    that holds those markers (docs/results.md, or the page of the command the result is about)."""
    pattern = re.compile(rf"(<!-- results:{section}:start -->)\n(?:.*?\n)?(<!-- results:{section}:end -->)", re.S)
    for picture in sorted(set(re.findall(r"\]\(benchmarks/results/([\w.-]+\.png)\)", text))):
        (DOCS / "images").mkdir(exist_ok=True)  # the site serves only what is under docs/
        shutil.copyfile(HERE / "results" / picture, DOCS / "images" / picture)
    text = re.sub(r"\]\(benchmarks/results/([\w.-]+\.png)\)", r"](images/\1)", text)
    for page in sorted(DOCS.rglob("*.md")):
        content = page.read_text(encoding="utf-8")
        if pattern.search(content):
            page.write_text(pattern.sub(lambda m: f"{m.group(1)}\n{text}\n{m.group(2)}", content), encoding="utf-8")
            return
    print(f"no page under {DOCS} has results:{section} markers; the docs were not updated", file=sys.stderr)


def save(section: str, md: str, payload: dict | None, docs: bool = True) -> None:
    """results/SECTION.json (unless `payload` is None) and .md, and the docs' table between the `results:SECTION`
    markers; prints the table."""
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    if payload is not None:
        (results / f"{section}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (results / f"{section}.md").write_text(md + "\n")
    if docs:
        update_docs(md, section)
    print(md)


def merge_by_machine(path: Path, rows: list[dict], key) -> dict:
    """results/SECTION.json as {"machines": {line: {machine_details, dates, rows}}} (upgraded from the
    one-machine layout of earlier versions), where `rows` replace this machine's rows of the same `key(row)`."""
    saved = json.loads(path.read_text()) if path.is_file() else {"machines": {}}
    if "machines" not in saved:
        saved = {"machines": {saved["machine"]: {"machine_details": saved.get("machine_details"),
                                                 "dates": [saved["date"]], "rows": saved["rows"]}}}
    where, details = machine()
    entry = saved["machines"].setdefault(where, {"machine_details": details, "dates": [], "rows": []})
    measured = {key(r) for r in rows}
    entry["rows"] = [r for r in entry["rows"] if key(r) not in measured] + rows
    entry["dates"] = sorted(set(entry["dates"]) | {time.strftime("%Y-%m-%d")})
    entry["machine_details"] = details
    return saved


def add_result_options(p, section: str) -> None:
    """--out, --no-docs and --render-only, as every benchmark that saves a `section` takes them."""
    p.add_argument("--out", default=str(HERE / "out"), help="where runs and exports go (default benchmarks/out)")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in the docs")
    p.add_argument("--render-only", action="store_true", help=f"rebuild the table from results/{section}.json")


def render_only(args, section: str, table) -> bool:
    """With --render-only, rebuild SECTION's table from its saved results (True: nothing else to do)."""
    if args.render_only:
        save(section, table(json.loads((HERE / "results" / f"{section}.json").read_text())), None,
             docs=not args.no_docs)
    return args.render_only


def recipes_main(doc: str, section: str, recipes, measure, table, key, met) -> int:
    """The command line of a benchmark over a few recipes: --recipes, --out, --no-docs, --render-only; measures,
    merges the rows into results/SECTION.json by (key, machine), saves the table; exit code 0 when every row of this
    machine meets its target (`met(row)`)."""
    import argparse

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", default=",".join(recipes), help=f"comma-separated (default: {', '.join(recipes)})")
    add_result_options(p, section)
    args = p.parse_args()
    if render_only(args, section, table):
        return 0
    chosen = [n for n in args.recipes.split(",") if n]
    unknown = sorted(set(chosen) - set(recipes))
    if unknown:
        raise SystemExit(f"unknown recipe {', '.join(unknown)}: choose from {', '.join(recipes)}")
    saved = merge_by_machine(HERE / "results" / f"{section}.json", measure(Path(args.out), chosen), key=key)
    save(section, table(saved), saved, docs=not args.no_docs)
    where, _ = machine()
    return 0 if all(met(r) for r in saved["machines"][where]["rows"]) else 1
