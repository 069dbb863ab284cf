"""Property-based tests of every `python -m ...` entry point (issue #31): whatever the arguments and whatever small
files they point at, a command exits 0, 1 or 2, prints no traceback (an error is one `error: ...` line) and writes
or deletes nothing outside its output location.

Each example builds a sandbox: `in/` holds generated input files and folders (junk bytes, random JSON, run folders
whose `hparams.json` is a damaged copy of a real one), `out/` is the working directory and the only place a
command may write. The default run tries a few examples per command; `pytest -m slow` tries many more.
"""

import functools
import json
import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export import __main__ as export_cli
from export import inspect as inspect_cli
from export.web import __main__ as web_cli
from tuning import __main__ as tuning_cli
from zoo import ensemble, evaluate, explain, generate, predict, registry, train

COMMANDS = {
    "zoo.train": (train.main, "recipe"), "tuning": (tuning_cli.main, "recipe"),
    "zoo.evaluate": (evaluate.main, "run"), "zoo.predict": (predict.main, "run"), "zoo.explain": (explain.main, "run"),
    "zoo.generate": (generate.main, "run"),
    "zoo.ensemble": (ensemble.main, "run"), "export": (export_cli.main, "run"), "export.web": (web_cli.main, "run"),
    "export.inspect": (inspect_cli.main, "file"),
}
OPTIONS = ["--out", "--data-dir", "--top", "--samples", "--seed", "--epochs", "--batch-size", "--set", "--quantize",
           "--batch", "--latency-runs", "--prune", "--prune-epochs", "--max-loss", "--min-ratio", "--files", "--dir",
           "--max-trials", "--executions-per-trial", "--tuner", "--objective", "--run-dir", "--runs-root",
           "--precision", "--int8-io", "--calibration-samples", "--image", "--config", "--init-from", "--strategy",
           "--resume", "--invert", "--write", "--list", "--web", "--allow-flex", "--help", "--no-such-option"]


@functools.lru_cache(maxsize=None)
def own_options(command) -> list[str]:
    """The options a command's --help lists (--debug left out: it asks for tracebacks)."""
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        COMMANDS[command][0](["--help"])
    found = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text.getvalue())) - {"--debug"}
    assert found, f"{command} --help lists no options"
    return sorted(found)


FLAGS = {"--resume", "--invert", "--write", "--list", "--web", "--allow-flex", "--help", "--no-such-option"}
@functools.lru_cache(maxsize=None)
def flags_of(command) -> frozenset[str]:
    """The options of a command that take no value (store_true), from its parser's usage line."""
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        COMMANDS[command][0](["--help"])
    usage = text.getvalue().split("\n\n")[0]
    return frozenset(re.findall(r"\[(--[a-z][a-z0-9-]*)\]", usage))


RECORD = {"recipe": "cnn_mnist", "task": "classification", "precision": "float32", "seed": 0,
          "hparams": {"epochs": 1, "filters": 4},
          "data": {"name": "mnist", "input_shape": [28, 28, 1], "class_names": [str(k) for k in range(10)]}}

json_values = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) |
                           st.text(max_size=6), lambda inner: st.lists(inner, max_size=3) |
                           st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


@st.composite
def records(draw):
    """hparams.json texts: a valid record with one key dropped or replaced, random JSON, or bytes."""
    kind = draw(st.sampled_from(["drop", "replace", "random", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "random":
        return json.dumps(draw(json_values)).encode()
    record = json.loads(json.dumps(RECORD))
    where = draw(st.sampled_from([record, record["data"], record["hparams"]]))
    key = draw(st.sampled_from(sorted(where)))
    if kind == "drop":
        del where[key]
    else:
        where[key] = draw(json_values)
    return json.dumps(record).encode()


@st.composite
def sandboxes(draw):
    """(files to write under in/: relative path -> bytes or None for a folder, the names of run-like folders)."""
    layout: dict[str, bytes | None] = {}
    runs = []
    for k in range(draw(st.integers(1, 2))):
        name = f"run{k}"
        layout[f"{name}/hparams.json"] = draw(records())
        if draw(st.booleans()):
            layout[f"{name}/model.keras"] = draw(st.binary(max_size=30))
        runs.append(name)
    for name in draw(st.lists(st.sampled_from(["a.png", "b.jpg", "notes.txt", "x.tflite", "signature.json",
                                               "data/c.png", "data/d.csv", "empty"]), max_size=4, unique=True)):
        layout[name] = None if name == "empty" else draw(st.binary(max_size=60))
    return layout, runs


def values(paths):
    return st.one_of(st.integers(-3, 5).map(str), st.sampled_from(["nan", "inf", "-1e9", "0.5", "1.5"]),
                     st.text(alphabet="abz019_=,.-", max_size=8), st.sampled_from(paths))


@st.composite
def invocations(draw, command):
    layout, runs = draw(sandboxes())
    paths = [f"in/{p}" for p in [*layout, *runs]] + ["in/missing", "out/new", "out/new.png", "-"]
    kind = COMMANDS[command][1]
    if kind == "recipe":
        first = [draw(st.sampled_from([*registry.list_recipes()[:4], "gan_cifar99", ""]))]
    else:
        folders = st.sampled_from([f"in/{r}" for r in runs])  # mostly run-like folders: deeper than "not a folder"
        first = draw(st.lists(folders | folders | st.sampled_from(paths), min_size=1, max_size=3))
    argv = list(first)
    mine = own_options(command)
    for option in draw(st.lists(st.sampled_from(mine) | st.sampled_from(OPTIONS), max_size=5)):
        flag = option in FLAGS or option in flags_of(command)
        argv += [option] if flag else [option, draw(values(paths))]
    if kind == "recipe":  # never real data: training and search stop at the generated folder
        argv += ["--data-dir", "in/data"]
    return layout, argv


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*")) if not p.is_symlink()}


def check_command(command, tmp_path_factory, monkeypatch, capsys, data):
    main = COMMANDS[command][0]
    layout, argv = data.draw(invocations(command))
    box = tmp_path_factory.mktemp("cli")
    for rel, content in layout.items():
        path = box / "in" / rel
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    (box / "in" / "data").mkdir(parents=True, exist_ok=True)
    (box / "out").mkdir()
    argv = [a.replace("in/", f"{box}/in/").replace("out/", f"{box}/out/") for a in argv]
    monkeypatch.chdir(box / "out")
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    before = snapshot(box / "in")
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse: --help (0) and bad options (2)
        code = stop.code
    printed = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, printed.err[-800:])
    assert "Traceback" not in printed.err + printed.out, (argv, printed.err[-800:])
    errors = [line for line in printed.err.splitlines() if line.startswith("error: ")]
    assert code == 0 or errors, (argv, printed.err[-800:])
    assert snapshot(box / "in") == before, argv  # nothing written or deleted outside out/
    assert sorted(p.name for p in box.iterdir()) == ["in", "out"], argv


SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("command", sorted(COMMANDS))
@settings(max_examples=15, **SETTINGS)
@given(data=st.data())
def test_any_arguments_give_a_clean_exit(command, tmp_path_factory, monkeypatch, capsys, data):
    check_command(command, tmp_path_factory, monkeypatch, capsys, data)


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
@settings(max_examples=60, **{**SETTINGS, "derandomize": False})
@given(data=st.data())
def test_many_arguments_give_a_clean_exit(command, tmp_path_factory, monkeypatch, capsys, data):
    check_command(command, tmp_path_factory, monkeypatch, capsys, data)
