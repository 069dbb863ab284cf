"""The benchmark scripts' own logic: which saved runs a timed benchmark may reuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import common as bench  # the scripts are a package: nothing shadows `export` or `tuning`

stale = bench.stale


def fake_run(folder: Path, name: str, finished: bool, **changes) -> Path:
    """A run folder as `zoo.train` leaves it for `name` trained here with its defaults, then `changes` applied."""
    from zoo import hparams, registry, runtime

    folder.mkdir()
    saved = {"recipe": name, "hparams": hparams.resolve(name, registry.get(name).hparams),
             "precision": runtime.resolve_precision("auto"), "machine": runtime.machine()}
    saved["hparams"].update(changes.pop("hparams", {}))
    saved.update(changes)
    (folder / "hparams.json").write_text(json.dumps(saved))
    if finished:
        (folder / "metrics.json").write_text("{}")
    return folder


@pytest.mark.parametrize("finished", [False, True])
def test_a_run_of_todays_defaults_on_this_machine_is_reused(tmp_path, finished):
    assert stale(fake_run(tmp_path / "run", "cnn_mnist", finished), "cnn_mnist", "auto") == ""


def test_a_run_of_older_defaults_is_not(tmp_path):
    run = fake_run(tmp_path / "run", "cnn_mnist", True, hparams={"epochs": 3})
    why = stale(run, "cnn_mnist", "auto")
    assert "other hyperparameters" in why and "epochs=3" in why


def test_a_run_in_another_precision_is_not(tmp_path):
    run = fake_run(tmp_path / "run", "cnn_mnist", False, precision="mixed_float16")
    assert "trained in mixed_float16" in stale(run, "cnn_mnist", "auto")


def test_a_finished_run_from_another_machine_is_not_but_an_unfinished_one_continues(tmp_path):
    elsewhere = {"cpu": "Some Other CPU", "cpu_flags": ["avx2"], "cores": 64}
    finished = fake_run(tmp_path / "finished", "cnn_mnist", True, machine=elsewhere)
    assert "another machine (Some Other CPU" in stale(finished, "cnn_mnist", "auto")
    unfinished = fake_run(tmp_path / "unfinished", "cnn_mnist", False, machine=elsewhere)
    assert stale(unfinished, "cnn_mnist", "auto") == ""


def test_results_merge_by_machine_keeps_other_machines_and_replaces_what_was_measured_again(tmp_path):
    path = tmp_path / "section.json"
    here, _ = bench.machine()
    old = {"machine": "Old CPU, 2 cores", "date": "2026-01-01", "rows": [{"recipe": "a", "rate": 1}]}
    path.write_text(json.dumps(old))  # the one-machine layout of earlier versions
    saved = bench.merge_by_machine(path, [{"recipe": "a", "rate": 2}, {"recipe": "b", "rate": 3}],
                                   key=lambda r: r["recipe"])
    path.write_text(json.dumps(saved))
    saved = bench.merge_by_machine(path, [{"recipe": "b", "rate": 4}], key=lambda r: r["recipe"])
    assert saved["machines"]["Old CPU, 2 cores"]["rows"] == [{"recipe": "a", "rate": 1}]
    assert saved["machines"][here]["rows"] == [{"recipe": "a", "rate": 2}, {"recipe": "b", "rate": 4}]
