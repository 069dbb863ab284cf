"""Ensemble trained runs: average their class probabilities on the test split.

    python -m zoo.ensemble runs/cnn_cifar10/A runs/cnn_cifar10/B runs/cnn_cifar10/C
    python -m zoo.ensemble RUN_DIR RUN_DIR --out runs/ensembles/cifar-3 --data-dir DIR
    python -m export runs/ensembles/cifar-3          # one TFLite file, averaging inside the graph

Prints the ensemble's test accuracy beside each member's and writes an ensemble
folder (default runs/ensembles/TIMESTAMP) laid out like a run folder: hparams.json
(the members and what they share), model.keras (one Keras model holding every
member), metrics.json, members.csv, classification_report.txt, confusion_matrix.png.
Members must share the dataset, input shape, classes and task, and text members the
same vocabulary (the same ids must mean the same words); the first one that does not
is named.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from zoo.cli import ArgumentParser, run_cli
from zoo.errors import UsageError


def check_members(folders, runs_info) -> None:
    """Refuse members that disagree with the first on dataset, input shape, classes, task or derived files."""
    from zoo.runs import read_data_files

    first = runs_info[0]
    for folder, run in zip(folders[1:], runs_info[1:]):
        for what, get in (("task", lambda r: r.get("task")), ("dataset", lambda r: r["data"]["name"]),
                          ("input shape", lambda r: tuple(r["data"]["input_shape"])),
                          ("classes", lambda r: tuple(r["data"]["class_names"]))):
            if get(run) != get(first):
                raise UsageError(f"{folder} does not fit the ensemble: its {what} is {get(run)!r}, the first "
                                 f"member's ({folders[0]}) is {get(first)!r}")
        mine, theirs = read_data_files(folder, run) or {}, read_data_files(folders[0], first) or {}
        for name in sorted(set(mine) | set(theirs)):
            if mine.get(name) != theirs.get(name):
                raise UsageError(f"{folder} does not fit the ensemble: its {name} differs from the first member's "
                                 f"({folders[0]}), so the same inputs mean different things to them")


def build_ensemble(run_dirs, out=None, data_dir=None, runs_root="runs", log=print) -> dict:
    """Evaluate each member and their average on the test split; write the ensemble folder."""
    import numpy as np

    from zoo import runs, runtime
    from zoo.models.ensemble import Ensemble
    from zoo.run import Run

    if len(run_dirs) < 2:
        raise UsageError("an ensemble needs at least two run folders")
    folders = [Path(d) for d in run_dirs]
    if len(set(map(Path.resolve, folders))) < len(folders):
        raise UsageError("the same run folder is given twice; each member must be a different run")
    if out:
        runs.check_run_dir_free(out)  # before any work
    loaded = [Run(f) for f in folders]
    for member in loaded:
        member.require_classifier("an ensemble (averaging class probabilities)")
    check_members(folders, [member.record for member in loaded])
    run, task = loaded[0].record, loaded[0].task
    runtime.set_precision("float32")  # members of mixed-precision runs are evaluated and saved in float32
    data = loaded[0].data(data_dir)
    members = [member.model() for member in loaded]
    rows, member_probs = [], []
    for member_run, folder, model in zip((m.record for m in loaded), folders, members):
        x_test, y_test, probs = task.predict(model, data.test)
        member_probs.append(probs)
        rows.append({"run": str(folder), "recipe": member_run["recipe"],
                     "test_accuracy": float(np.mean(probs.argmax(1) == y_test))})
    ensemble = Ensemble(members, name="ensemble")
    mean_probs = np.mean(member_probs, axis=0)
    # the saved model must compute what is scored: checked on a few examples, not a second pass over the test split
    np.testing.assert_allclose(np.asarray(ensemble(x_test[:32])), mean_probs[:32], atol=1e-5)
    result = task.score(x_test, y_test, mean_probs, data.info)

    folder = runs.claim_run_dir(out) if out else runs.new_run_dir(runs_root, "ensembles")
    runs.write_json(folder / runs.HPARAMS, {
        **{k: run[k] for k in ("recipe", "task", "hparams", "data") if k in run},
        "precision": "float32", "seed": run.get("seed", 0),
        "ensemble": {"members": [r["run"] for r in rows]},
        "versions": runtime.versions(), "machine": runtime.machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    for name, content in data.files.items():  # the first member's vocabulary (all members share it)
        runs.write_text(folder / name, content)
    with runs.atomic_path(folder / runs.MODEL) as tmp:
        ensemble.save(tmp)
    best = max(r["test_accuracy"] for r in rows)
    metrics = {**result["metrics"], "members": rows, "best_member_test_accuracy": best,
               "gain_over_best_member": result["metrics"]["test_accuracy"] - best,
               "params": int(ensemble.count_params()), "precision": "float32"}
    runs.write_json(folder / runs.METRICS, metrics)
    runs.write_text(folder / "members.csv", "run,recipe,test_accuracy\n" + "".join(
        f"{r['run']},{r['recipe']},{r['test_accuracy']:.4f}\n" for r in rows))
    task.write_reports(folder, result, data.info, f"ensemble of {len(rows)} ({folder.name})")
    width = max(len(r["run"]) for r in rows)
    for r in rows:
        log(f"{r['run']:<{width}}  {r['recipe']:<20} test accuracy {r['test_accuracy']:.4f}")
    log(f"{'ensemble':<{width}}  {'(mean probability)':<20} test accuracy {metrics['test_accuracy']:.4f} "
        f"({metrics['gain_over_best_member'] * 100:+.2f} pt vs the best member)")
    log(f"ensemble folder: {folder}")
    return {"folder": folder, "metrics": metrics}


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m zoo.ensemble", description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run folders of the same dataset")
    p.add_argument("--out", metavar="DIR", help="ensemble folder to create (default runs/ensembles/TIMESTAMP)")
    p.add_argument("--runs-root", default="runs", metavar="DIR", help="parent of the default folder (default runs)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset's files are (as for zoo.train)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)

    def body():
        build_ensemble(args.run_dirs, out=args.out, data_dir=args.data_dir, runs_root=args.runs_root)

    return run_cli(body, args.debug)


if __name__ == "__main__":
    sys.exit(main())
