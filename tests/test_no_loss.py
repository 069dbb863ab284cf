"""Never lose a user's file, never show a traceback (issue #31): every command writes only what it owns, refuses
what it may not replace with one line before any work, and reads back what it wrote in a fresh process."""

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import QUIET_TRAIN, write_imdb_like, write_mnist_like
from export import __main__ as export_cli
from export import formats, web
from export.web import __main__ as web_cli
from tuning import __main__ as tuning_cli
from zoo import distribute, ensemble, evaluate, explain, files, predict, runs, train
from zoo.data import folders
from zoo.cli import ArgumentParser, run_cli
from zoo.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
TINY_CNN = {"epochs": 1, "filters": 4, "dense_units": 8, "batch_size": 32, "augment_translate": 0.0}
NATIVE_LOG = re.compile(r"^([IWE]\d{4} \d\d:\d\d:\d\d|INFO: Created TensorFlow Lite)", re.M)


def cli(*args, stdin=None, env=None):
    """A command as a user runs it: a fresh interpreter, from the checkout."""
    return subprocess.run([sys.executable, "-m", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, env={**os.environ, **(env or {})})


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert "Traceback" not in text
    return lines[0]


def tree(folder: Path) -> dict:
    """Every file under `folder` with its bytes (to show that nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """A tiny finished cnn_mnist run, exported as float32 and dynamic."""
    root = tmp_path_factory.mktemp("noloss")
    data = write_mnist_like(root / "data", n_train=96, n_test=32)
    run = train.train("cnn_mnist", overrides=TINY_CNN, data_dir=str(data), run_dir=str(root / "run"),
                      **QUIET_TRAIN).run_dir
    report = export_cli.export_run(run, variants=["float32", "dynamic"], data_dir=str(data), latency_runs=2,
                                   log=lambda s: None)
    assert report["failures"] == {}
    return root, data, run


# -- 1. a command deletes or replaces only what it created ---------------------------------------------------------
def test_web_out_refuses_a_users_folder_and_a_users_file(mnist_run, tmp_path, capsys):
    _, _, run = mnist_run
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("four years of work")
    before = tree(tmp_path)
    assert web_cli.main([str(run), "--out", str(mine)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(mine) in line and "did not write" in line
    plain = tmp_path / "notes.md"
    plain.write_text("my notes")
    before = tree(tmp_path)
    assert web_cli.main([str(run), "--out", str(plain)]) == 2
    assert "is a file, not a folder" in one_error_line(capsys.readouterr().err)
    assert tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["mine", "notes.md"]


def test_web_rebuild_replaces_only_its_own_files(mnist_run, tmp_path, capsys):
    _, _, run = mnist_run
    page = tmp_path / "page"
    (tmp_path / ".draft.tmp").write_text("a user's hidden file beside the page")  # the old clean-up deleted it
    (tmp_path / ".page.old.tmp").write_text("named like the old swap's folder")
    assert web_cli.main([str(run), "--out", str(page)]) == 0
    assert {"model_float32.tflite", "model_dynamic.tflite", files.MARKER} <= set(os.listdir(page))
    (page / "notes.txt").write_text("what I saw on my phone")
    assert web_cli.main([str(run), "--out", str(page), "--files", "model_dynamic.tflite"]) == 0
    assert (page / "notes.txt").read_text() == "what I saw on my phone"
    assert not (page / "model_float32.tflite").exists()  # the zoo's own file from the first page, no longer listed
    assert (page / "model_dynamic.tflite").is_file() and (page / "litertjs" / "core.js").is_file()
    assert (tmp_path / ".draft.tmp").is_file() and (tmp_path / ".page.old.tmp").is_file()
    assert not [p for p in tmp_path.rglob("*") if files.is_temporary(p)]
    marker = json.loads((page / files.MARKER).read_text())
    assert marker["command"] == "export.web" and "notes.txt" not in marker["files"]


def test_export_and_explain_refuse_a_users_output_before_any_work(mnist_run, tmp_path, capsys):
    _, data, run = mnist_run
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.csv").write_text("a,b\n")
    picture = tmp_path / "holiday.png"
    picture.write_bytes(tf.io.encode_png(tf.zeros((4, 4, 3), tf.uint8)).numpy())
    before = tree(tmp_path)
    started = time.monotonic()
    assert export_cli.main([str(run), "--out", str(mine), "--data-dir", str(data)]) == 2
    assert str(mine) in one_error_line(capsys.readouterr().err)
    assert explain.main([str(run), "--out", str(picture), "--data-dir", str(data)]) == 2
    assert "holiday.png already exists and was not written by zoo.explain" in one_error_line(capsys.readouterr().err)
    assert explain.main([str(run), "--out", str(mine), "--data-dir", str(data)]) == 2
    capsys.readouterr()
    assert time.monotonic() - started < 20  # refused before loading data or converting anything
    assert tree(tmp_path) == before
    ours = tmp_path / "cam.png"
    for _ in range(2):  # its own file from a previous run is replaced
        assert explain.main([str(run), "--out", str(ours), "--data-dir", str(data), "--samples", "2"]) == 0
    assert files.written_by(ours) == "zoo.explain"


def test_ensemble_and_tuning_refuse_occupied_outputs(mnist_run, tmp_path, capsys):
    _, data, run = mnist_run
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("x")
    second = train.train("cnn_mnist", overrides=TINY_CNN, data_dir=str(data), run_dir=str(tmp_path / "r2"), seed=1,
                         **QUIET_TRAIN).run_dir
    assert ensemble.main([str(run), str(second), "--out", str(taken), "--data-dir", str(data)]) == 1
    assert "already exists" in one_error_line(capsys.readouterr().err)
    assert sorted(os.listdir(taken)) == ["keep.txt"]
    a_file = tmp_path / "search"
    a_file.write_text("not a folder")
    assert tuning_cli.main(["cnn_mnist", "--dir", str(a_file), "--data-dir", str(data), "--max-trials", "1"]) == 1
    assert "is a file, not a folder" in one_error_line(capsys.readouterr().err)
    assert a_file.read_text() == "not a folder"


def test_clean_up_removes_only_the_zoo_temporaries_of_dead_processes(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = files.tmp_prefix().split(".")[2]
    try:
        live = tmp_path / f".zoo-tmp.{host}.{sleeper.pid}.abc.model_int8.tflite"   # another command, still writing
        gone = tmp_path / "sub" / f".zoo-tmp.{host}.{dead.stdout.strip()}.abc.report.json"  # a killed one's
        other_machine = tmp_path / f".zoo-tmp.elsewhere.{dead.stdout.strip()}.abc.signature.json"
        users = [tmp_path / ".notes.tmp", tmp_path / ".model.x1y2.tmp.keras", tmp_path / ".saved_model.k"]
        for p in [live, gone, other_machine, *users]:
            p.parent.mkdir(exist_ok=True)
            p.write_text("x")
        assert files.clean_temporaries(tmp_path) == [gone]
        assert all(p.exists() for p in [live, other_machine, *users])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path):
    if os.geteuid() == 0:  # root writes through permissions; a full disk stands in
        target = tmp_path / "signature.json"
        target.write_text("old")
        with pytest.raises(runs.RunDirError, match=r"cannot write .*signature\.json: No space left on device; the "
                                                    r"previous version is kept"):
            with files.atomic_path(target):
                raise OSError(28, "No space left on device")
        assert target.read_text() == "old"
    else:
        os.chmod(tmp_path, 0o500)
        with pytest.raises(runs.RunDirError, match="cannot write .*Permission denied"):
            files.write_text(tmp_path / "x.json", "{}")


# -- 2. a built ensemble works with the documented commands in a fresh process --------------------------------------
def test_an_ensemble_is_used_by_every_documented_command_in_fresh_processes(mnist_run, tmp_path):
    _, data, run = mnist_run
    second = train.train("cnn_mnist", overrides=TINY_CNN, data_dir=str(data), run_dir=str(tmp_path / "r2"), seed=1,
                         **QUIET_TRAIN).run_dir
    ens = tmp_path / "ens"
    built = cli("zoo.ensemble", run, second, "--out", ens, "--data-dir", data)
    assert built.returncode == 0, built.stderr[-1500:]
    digit = tmp_path / "digit.png"
    digit.write_bytes(tf.io.encode_png(tf.zeros((28, 28, 1), tf.uint8)).numpy())
    for args in (("zoo.predict", ens, digit, "--top", "2"), ("zoo.evaluate", ens, "--data-dir", data),
                 ("export", ens, "--quantize", "float32", "--data-dir", data, "--latency-runs", "2")):
        done = cli(*args)
        assert done.returncode == 0, (args, done.stderr[-1500:])
        assert "Traceback" not in done.stderr and "Could not locate class" not in done.stderr
    assert (ens / "export" / "model_float32.tflite").is_file()


# -- 3. bad input is one line, never a traceback ------------------------------------------------------------------
@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    data = write_imdb_like(root / "data", n_train=96, n_test=32)
    return train.train("lstm_imdb", overrides={"epochs": 1, "units": 8, "embed_dim": 8, "vocab_size": 100,
                                               "sequence_length": 16, "batch_size": 32},
                       data_dir=str(data), run_dir=str(root / "run"), **QUIET_TRAIN).run_dir


@pytest.mark.parametrize("stdin", ["", "\n  \n\n"])
def test_predict_with_no_text_on_stdin_says_so(text_run, stdin, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert predict.main([str(text_run), "-"]) == 2
    assert "standard input held no line with text" in one_error_line(capsys.readouterr().err)


def test_unexpected_errors_and_failed_reads_are_one_line(capsys):
    assert run_cli(lambda: 1 / 0) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "unexpected ZeroDivisionError" in line and "--debug" in line
    assert run_cli(lambda: open("/nonexistent/zoo-test-file")) == 1
    assert "/nonexistent/zoo-test-file: No such file or directory" in one_error_line(capsys.readouterr().err)
    parser = ArgumentParser(prog="python -m zoo.x")
    parser.add_argument("--top", type=int)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--top", "many"])
    assert stop.value.code == 2
    assert "--top: invalid int value: 'many'" in one_error_line(capsys.readouterr().err)


def test_numeric_options_are_range_checked_and_named(mnist_run, capsys):
    _, data, run = mnist_run
    for main, args, name in [(export_cli.main, [str(run), "--latency-runs", "0"], "--latency-runs"),
                             (export_cli.main, [str(run), "--prune", "1.5"], "--prune"),
                             (export_cli.main, [str(run), "--max-loss", "nan"], "--max-loss"),
                             (train.main, ["cnn_mnist", "--seed", "-1"], "--seed"),
                             (train.main, ["cnn_mnist", "--set", "filters=0"], "filters"),
                             (train.main, ["cnn_mnist", "--set", "validation_fraction=1"], "validation_fraction"),
                             (predict.main, [str(run), "x.png", "--top", "0"], "--top"),
                             (explain.main, [str(run), "--samples", "-3"], "--samples"),
                             (tuning_cli.main, ["cnn_mnist", "--max-trials", "0"], "--max-trials")]:
        assert main(args) == 2, args
        assert name in one_error_line(capsys.readouterr().err)


def test_hand_edited_and_foreign_run_folders_are_refused_by_file_and_key(mnist_run, tmp_path, capsys):
    import shutil

    _, data, run = mnist_run
    edited = tmp_path / "edited"
    shutil.copytree(run, edited)
    record = json.loads((run / "hparams.json").read_text())
    cases = [({**record, "data": {**record["data"], "input_shape": "28x28"}}, "'data.input_shape' must be"),
             ({k: v for k, v in record.items() if k != "data"}, "lacks the key 'data'"),
             ({**record, "hparams": {**record["hparams"], "dropout": 7}}, "hyperparameter 'dropout'"),
             ([1, 2], "not a zoo run record")]
    for saved, expected in cases:
        (edited / "hparams.json").write_text(json.dumps(saved))
        for main in (evaluate.main, export_cli.main):
            assert main([str(edited), "--data-dir", str(data)]) == 1
            line = one_error_line(capsys.readouterr().err)
            assert expected in line and str(edited / "hparams.json") in line, line


def test_evaluate_refuses_data_of_other_classes(mnist_run, tmp_path, capsys):
    _, _, run = mnist_run
    for label in ("cat", "dog"):
        (tmp_path / "pets" / label).mkdir(parents=True)
        for k in range(12):
            (tmp_path / "pets" / label / f"{k}.png").write_bytes(
                tf.io.encode_png(tf.fill((28, 28, 1), tf.constant(20 * k, tf.uint8))).numpy())
    assert evaluate.main([str(run), "--data-dir", str(tmp_path / "pets")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "was trained on 10 classes, the data has 2" in line and "'cat'" in line


@pytest.mark.parametrize("config, expected", [
    ("{not json", "(not JSON: "),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     "'ps' are not trained by --strategy multi_worker"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "evaluator", "index": 0}}', "task.type 'evaluator'"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "from 0 to 1"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": true}}', "task.index"),
    ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}', "list of 'host:port'"),
    ('{"cluster": {"worker": ["a:1"], "chief": ["c:1", "d:2"]}, "task": {"type": "chief", "index": 0}}',
     "at most one chief"),
])
def test_tf_config_is_checked_in_full_before_tensorflow_sees_it(config, expected, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TF_CONFIG", config)
    with pytest.raises(UsageError, match=re.escape(expected)):
        distribute.tf_config()
    assert train.main(["cnn_mnist", "--strategy", "multi_worker", "--run-dir", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()
    assert expected in one_error_line(capsys.readouterr().err)


# -- 4. symbolic links in a user's folder ---------------------------------------------------------------------------
def test_symlinks_are_followed_or_listed_with_their_reason_and_loops_end(tmp_path):
    root = tmp_path / "photos"
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(tf.io.encode_png(tf.zeros((8, 8, 3), tf.uint8)).numpy())
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for k in range(3):
            (root / label / f"{k}.png").write_bytes(outside.read_bytes())
    (root / "cat" / "linked.png").symlink_to(outside)             # followed: a readable file
    (root / "cat" / "gone.png").symlink_to(tmp_path / "deleted.png")  # dangling
    (root / "dog" / "loopA.png").symlink_to(root / "dog" / "loopB.png")
    (root / "dog" / "loopB.png").symlink_to(root / "dog" / "loopA.png")
    (root / "dog" / "again").symlink_to(root / "dog")             # a folder loop
    summary = folders.scan(root)
    skipped = {s["file"]: s["reason"] for s in summary["skipped"]}
    assert "broken symbolic link" in skipped["cat/gone.png"]
    assert skipped["dog/loopA.png"] == skipped["dog/loopB.png"] == "symbolic link loop"
    assert "folder already read" in skipped["dog/again"]
    kept = [f for split in summary["files"].values() for f, _ in split]
    assert "cat/linked.png" in kept and len(kept) == 7
    printed = folders.describe({**summary, "counts": {}})
    assert "skipped cat/gone.png: broken symbolic link" in printed and "skipped dog/again" in printed


# -- 5. errors about a user's folder speak of that folder -----------------------------------------------------------
def test_a_text_folder_without_a_test_file_is_named(tmp_path, capsys):
    tickets = tmp_path / "tickets"
    tickets.mkdir()
    (tickets / "train.csv").write_text("text,label\nprinter broken,it\nlunch menu,facilities\n")
    assert train.main(["gru_imdb", "--data-dir", str(tickets)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert f"{tickets} has train.csv but no test file" in line and "imdb" not in line.lower()
    sheet = tmp_path / "tickets.tsv"
    sheet.write_text("text\tlabel\nprinter broken\tit\n")
    assert train.main(["gru_imdb", "--data-dir", str(sheet)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert f"{sheet}: your own texts are read from .csv" in line and "imdb" not in line.lower()


# -- 6. what users read: no converter logs, no kernel names ---------------------------------------------------------
def test_export_prints_no_converter_logs_and_debug_shows_them(mnist_run, tmp_path):
    _, data, run = mnist_run
    done = cli("export", run, "--quantize", "float32,dynamic", "--out", tmp_path / "e", "--data-dir", data,
               "--latency-runs", "2")
    assert done.returncode == 0, done.stderr[-1500:]
    assert not NATIVE_LOG.search(done.stdout + done.stderr), done.stdout + done.stderr
    debug = cli("export", run, "--quantize", "float32", "--out", tmp_path / "e", "--data-dir", data,
                "--latency-runs", "2", "--debug")
    assert debug.returncode == 0 and NATIVE_LOG.search(debug.stderr)


def test_an_undecodable_image_is_described_in_words(tmp_path, capsys):
    fake = tmp_path / "scan.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "readme.gif"
    text.write_text("hello")
    for path, reason in ((fake, "damaged or truncated PNG data"), (empty, "the file is empty"),
                         (text, "not a PNG, JPEG, GIF or BMP image")):
        with pytest.raises(predict.DataError) as e:
            predict.read_image(path, (28, 28, 1))
        assert str(e.value) == f"{path}: {reason}"
    photos = tmp_path / "photos"
    for label in ("a", "b"):
        (photos / label).mkdir(parents=True)
        for k in range(12):
            (photos / label / f"{k}.png").write_bytes(tf.io.encode_png(tf.zeros((8, 8, 1), tf.uint8)).numpy())
    (photos / "a" / "bad.png").write_bytes(fake.read_bytes())
    assert train.main(["cnn_mnist", "--data-dir", str(photos), "--epochs", "1"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "bad.png is not a readable image (damaged or truncated PNG data)" in line and "{{" not in line


def test_missing_litertjs_names_each_place_once(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / "export" / "web").mkdir(parents=True)
    monkeypatch.setattr(web, "__file__", str(checkout / "export" / "web" / "__init__.py"))
    monkeypatch.delenv("ZOO_LITERTJS", raising=False)
    monkeypatch.chdir(checkout)
    with pytest.raises(UsageError) as e:
        web.litertjs_dir()
    assert str(e.value).count(str(checkout / "node_modules")) == 1


# -- 7. versioned files apps read -----------------------------------------------------------------------------------
def test_signature_and_report_carry_their_format_and_match_their_schemas(mnist_run, tmp_path, capsys):
    _, _, run = mnist_run
    signature = json.loads((run / "export" / "signature.json").read_text())
    report = json.loads((run / "export" / "report.json").read_text())
    assert signature["format"] == formats.SIGNATURE_FORMAT == 2 and report["format"] == formats.REPORT_FORMAT == 1
    assert formats.problems(signature, "signature") == [] and formats.problems(report, "report") == []
    assert formats.problems({**signature, "graphs": {"model": {"files": {}}}}, "signature")  # the schema can fail
    page = tmp_path / "page"
    assert web_cli.main([str(run), "--out", str(page)]) == 0
    assert formats.problems(json.loads((page / "signature.json").read_text()), "signature") == []
    old = tmp_path / "old_export"
    old.mkdir()
    (old / "signature.json").write_text(json.dumps({k: v for k, v in signature.items() if k != "format"}))
    assert web_cli.main([str(old), "--out", str(tmp_path / "p2")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "is format 1 (no format field); the page reads format 2" in line and not (tmp_path / "p2").exists()


def test_schemas_ship_with_the_package():
    import importlib.resources

    names = {p.name for p in importlib.resources.files("export").joinpath("schemas").iterdir()}
    assert {"signature.schema.json", "report.schema.json"} <= names
    assert np.all([formats.schema(n)["$schema"].endswith("2020-12/schema") for n in ("signature", "report")])
