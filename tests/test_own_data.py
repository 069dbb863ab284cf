"""Training on the user's own data: image folders and text files; layouts, conversions, errors that name the file, later commands."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import QUIET_TRAIN
from export import __main__ as export_cli
from zoo import evaluate, predict, train
from zoo.data import folders
from zoo.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
TINY = {"epochs": 2, "batch_size": 16, "filters": 8, "dense_units": 16, "validation_fraction": 0.2,
        "augment_crop": 2, "augment_flip": True}
COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}


def photo(colour, size, rng, mode="RGB"):
    """A noisy image dominated by `colour`, `size` = (width, height), converted to `mode`."""
    pixels = np.clip(np.array(colour) + rng.normal(0, 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).convert(mode)


def make_folder(root: Path, per_class: int = 10, split: bool = False) -> Path:
    """Three colour classes in mixed formats, sizes and modes, plus files that are not images."""
    rng = np.random.default_rng(0)
    formats = [("png", "RGB"), ("jpg", "RGB"), ("bmp", "RGB"), ("gif", "P"), ("png", "L"), ("png", "RGBA")]
    for part, count in ([("train", per_class), ("test", 4)] if split else [("", per_class)]):
        for name, colour in COLOURS.items():
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                ext, mode = formats[i % len(formats)]
                size = (int(rng.integers(20, 60)), int(rng.integers(20, 60)))
                photo(colour, size, rng, mode if mode != "L" or name != "blue" else "RGB").save(folder / f"{i}.{ext}")
    (root / "README.txt").write_text("my photos")
    (root / "train" / "green" if split else root / "green").joinpath("notes.txt").write_text("taken in May")
    (root / "red" if not split else root / "train" / "red").joinpath(".DS_Store").write_bytes(b"\0\1")
    return root


def test_a_folder_trains_with_every_format_and_says_what_it_read(tmp_path):
    data = make_folder(tmp_path / "my_photos")
    logged = []
    result = train.train("cnn_cifar10", overrides=TINY, data_dir=str(data), run_dir=str(tmp_path / "run"),
                         precision="float32", verbose=0, log=logged.append)
    run = json.loads((result.run_dir / "hparams.json").read_text())["data"]
    summary = json.loads((result.run_dir / folders.SUMMARY).read_text())
    assert run["class_names"] == ["blue", "green", "red"] and run["input_shape"] == [32, 32, 3]
    assert run["num_test"] == 6 and run["num_train"] + run["num_val"] == 24  # 2 of each class's 10 held out
    assert {c: n["test"] for c, n in summary["counts"].items()} == {"blue": 2, "green": 2, "red": 2}
    assert sorted(s["file"] for s in summary["skipped"]) == ["README.txt", "green/notes.txt", "red/.DS_Store"]
    assert "bilinear" in run["preprocessing"] and run["folder"] == str(data.resolve())
    printed = "\n".join(logged)
    assert "red/.DS_Store: hidden file" in printed and "README.txt: not in a class folder" in printed
    assert "green/notes.txt: not an image file (.txt" in printed
    assert run["channel_mean"] == pytest.approx([(200 + 30 + 30) / 3] * 3, abs=6)  # one class per colour

    # later commands read the same folder and split without being told where it is
    again = evaluate.evaluate(result.run_dir, log=lambda s: None)
    assert again["test_accuracy"] == pytest.approx(json.loads((result.run_dir / "metrics.json").read_text())
                                                   ["test_accuracy"])
    report = export_cli.export_run(result.run_dir, variants=["float32", "int8"], latency_runs=2, log=lambda s: None)
    assert report["failures"] == {} and report["test_examples"] == 6
    assert (result.run_dir / "export" / "labels.txt").read_text().split() == ["blue", "green", "red"]
    signature = json.loads((result.run_dir / "export" / "signature.json").read_text())
    assert signature["graphs"]["model"]["output"]["labels"] == ["blue", "green", "red"]


def test_a_given_train_test_split_is_used_as_it_is(tmp_path):
    data = make_folder(tmp_path / "split", per_class=6, split=True)
    result = train.train("mlp_mnist", overrides={"epochs": 1, "batch_size": 8, "units": 8},
                         data_dir=str(data), run_dir=str(tmp_path / "run"), **QUIET_TRAIN)
    run = json.loads((result.run_dir / "hparams.json").read_text())["data"]
    assert run["num_test"] == 12 and run["input_shape"] == [28, 28, 1]  # colour photos converted to grey
    tested = json.loads((result.run_dir / folders.SUMMARY).read_text())["files"]["test"]
    assert all(path.startswith("test/") for path, _ in tested)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "green" / "3.jpg").write_bytes(b"\xff\xd8 not really a jpeg"), "green/3.jpg is not a readable image"),
    (lambda d: [f.unlink() for f in (d / "blue").iterdir()], "blue holds no images"),
    (lambda d: [f.unlink() for f in sorted((d / "blue").iterdir())[1:]], "blue has a single example"),
    (lambda d: [shutil.rmtree(d / c) for c in ("blue", "green")], "has 1 class folder"),
])
def test_bad_folders_are_named_in_one_line(tmp_path, damage, message):
    data = make_folder(tmp_path / "photos", per_class=4)
    damage(data)
    with pytest.raises(DataError, match=message) as e:
        train.train("cnn_cifar10", overrides=TINY, data_dir=str(data), run_dir=str(tmp_path / "run"), **QUIET_TRAIN)
    assert "\n" not in str(e.value) and not (tmp_path / "run").exists()


def test_a_run_needs_its_images_and_says_which_is_gone(tmp_path):
    data = make_folder(tmp_path / "photos", per_class=5)
    result = train.train("cnn_cifar10", overrides={**TINY, "epochs": 1}, data_dir=str(data),
                         run_dir=str(tmp_path / "run"), **QUIET_TRAIN)
    tested = json.loads((result.run_dir / folders.SUMMARY).read_text())["files"]["test"][0][0]
    (data / tested).unlink()
    with pytest.raises(DataError, match=f"{tested} is missing"):
        evaluate.evaluate(result.run_dir, log=lambda s: None)


def test_predict_reads_a_file_as_training_read_the_folder(tmp_path):
    data = make_folder(tmp_path / "photos", per_class=4)
    img = data / "red" / "1.jpg"
    import tensorflow as tf

    decoded = folders.decoder((32, 32, 3))(tf.constant(str(img))).numpy()
    np.testing.assert_array_equal(predict.read_image(img, (32, 32, 3)), decoded.astype(np.float32))


@pytest.mark.slow  # 80 s on 2 cores: in CI's `pytest -m slow`
def test_the_readme_walkthrough(tmp_path):
    """The docs' "Train on your own images" steps (docs/data.md), as a user runs them."""
    data = make_folder(tmp_path / "my_photos", per_class=8)
    run = tmp_path / "runs" / "mine"

    def step(*args):
        done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    step("zoo.train", "cnn_cifar10", "--data-dir", str(data), "--run-dir", str(run), "--epochs", "2",
         "--set", "filters=8", "--set", "dense_units=16", "--precision", "float32")
    assert "test" in (run / folders.SUMMARY).read_text()
    out = step("zoo.predict", str(run), str(data / "green" / "0.png"), "--top", "1")
    assert out.startswith(f"{data / 'green' / '0.png'}: ") and out.split(": ")[1].split()[0] in COLOURS
    step("export", str(run), "--quantize", "float32,int8")
    assert (run / "export" / "model_int8.tflite").is_file()


TEAMS = {"billing": ["invoice", "refund", "charge", "payment"], "network": ["router", "wifi", "outage", "dns"],
         "accounts": ["password", "login", "locked", "username"]}
TEXT_TINY = {"epochs": 3, "batch_size": 16, "vocab_size": 60, "sequence_length": 12, "embed_dim": 8, "units": 8,
             "text_column": "body", "label_column": "team"}


def tickets(n, seed=0):
    rng = np.random.default_rng(seed)
    filler = ["please", "help", "today", "my", "the", "is", "not", "working", "again", "hello"]
    rows = []
    for i in range(n):
        team = list(TEAMS)[i % 3]
        words = list(rng.choice(filler, 5)) + list(rng.choice(TEAMS[team], 2))
        rng.shuffle(words)
        rows.append({"body": " ".join(words).capitalize() + "!", "team": team})
    return rows


def write_csv(path, rows, columns=("body", "team")):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_a_csv_of_three_classes_trains_a_text_recipe_and_predicts_raw_text(tmp_path):
    data = write_csv(tmp_path / "tickets.csv", tickets(90))
    logged = []
    result = train.train("lstm_imdb", overrides={**TEXT_TINY, "epochs": 12, "learning_rate": 0.01},
                         data_dir=str(data), run_dir=str(tmp_path / "run"), precision="float32", verbose=0,
                         log=logged.append)
    run = json.loads((result.run_dir / "hparams.json").read_text())["data"]
    summary = json.loads((result.run_dir / "data_summary.json").read_text())
    assert run["class_names"] == ["accounts", "billing", "network"] and run["num_test"] == 18
    assert summary["counts"]["billing"] == {"train": 24, "test": 6} and summary["columns"]["label"] == "team"
    assert "billing" in "\n".join(logged)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5  # three classes: chance is 0.33
    again = evaluate.evaluate(result.run_dir, log=lambda s: None)  # the same file, found from the run
    assert again["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    done = subprocess.run([sys.executable, "-m", "zoo.predict", str(result.run_dir), "my router has an outage",
                           "--top", "1"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(": ")[-1].split()[0] in TEAMS

    data.write_text(data.read_text() + "late row,billing\n")
    with pytest.raises(DataError, match="changed since the run was trained"):
        evaluate.evaluate(result.run_dir, log=lambda s: None)


def test_train_and_test_jsonl_files_with_numeric_labels(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    for split, n, seed in (("train", 60, 0), ("test", 15, 1)):
        lines = [json.dumps({"body": r["body"], "team": list(TEAMS).index(r["team"]) * 5}) for r in tickets(n, seed)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    result = train.train("lstm_imdb", overrides={**TEXT_TINY, "epochs": 1}, data_dir=str(folder),
                         run_dir=str(tmp_path / "run"), **QUIET_TRAIN)
    run = json.loads((result.run_dir / "hparams.json").read_text())["data"]
    assert run["class_names"] == ["0", "5", "10"] and run["num_test"] == 15  # numeric order, the given split


@pytest.mark.parametrize("content, message", [
    ("text,label\nhello,billing\n", "no column 'body' or 'team' \\(columns: text, label\\)"),
    ("body,team\nhello,billing\nthere,\n", "tickets.csv line 3: no label \\(column 'team'\\)"),
    ("body,team\n" + "a,x\n" * 5 + "b,y\n", "label 'y' has a single example"),
])
def test_bad_text_files_are_named_in_one_line(tmp_path, content, message):
    data = tmp_path / "tickets.csv"
    data.write_text(content)
    with pytest.raises(DataError, match=message):
        train.train("lstm_imdb", overrides=TEXT_TINY, data_dir=str(data), run_dir=str(tmp_path / "run"),
                    **QUIET_TRAIN)
    assert not (tmp_path / "run").exists()


def test_a_test_label_unseen_in_training_is_refused(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    write_csv(folder / "train.csv", tickets(30))
    write_csv(folder / "test.csv", tickets(6) + [{"body": "where is my parcel", "team": "shipping"}])
    with pytest.raises(DataError, match="test labels \\['shipping'\\] never occur in training"):
        train.train("lstm_imdb", overrides=TEXT_TINY, data_dir=str(folder), run_dir=str(tmp_path / "run"),
                    **QUIET_TRAIN)


def weights_by_key(model):  # of a loaded model: paths start at its layers
    return {v.path: np.asarray(v) for v in model.weights}


def test_fine_tuning_rebuilds_the_head_and_a_frozen_backbone_stays_as_it_was(tmp_path):
    from zoo import runs
    from zoo.errors import UsageError

    first = train.train("cnn_cifar10", overrides={**TINY, "epochs": 1}, data_dir=str(make_folder(tmp_path / "a")),
                        run_dir=str(tmp_path / "first"), **QUIET_TRAIN)
    two = make_folder(tmp_path / "b", per_class=6)
    shutil.rmtree(two / "blue")
    tuned = train.train("cnn_cifar10", overrides={**TINY, "freeze_backbone": True}, data_dir=str(two),
                        run_dir=str(tmp_path / "tuned"), init_from=str(first.run_dir), **QUIET_TRAIN)
    init = json.loads((tuned.run_dir / "hparams.json").read_text())["init_from"]
    assert init["run"] == str(first.run_dir.resolve()) and init["layers_rebuilt"] == ["head"]
    before = weights_by_key(runs.load_model(first.run_dir / "model.keras"))
    after = weights_by_key(runs.load_model(tuned.run_dir / "model.keras"))
    assert after["head/kernel"].shape[-1] == 2 and before["head/kernel"].shape[-1] == 3
    assert init["weights_copied"] == len(before) - 2
    for key, value in before.items():
        if not key.startswith("head/"):
            np.testing.assert_array_equal(after[key], value, err_msg=key)  # frozen, BatchNorm statistics included

    unfrozen = train.train("cnn_cifar10", overrides=TINY, data_dir=str(two), run_dir=str(tmp_path / "unfrozen"),
                           init_from=str(first.run_dir), **QUIET_TRAIN)
    moved = weights_by_key(runs.load_model(unfrozen.run_dir / "model.keras"))
    assert any(not np.array_equal(moved[k], v) for k, v in before.items() if not k.startswith("head/"))

    with pytest.raises(UsageError, match="is a run of cnn_cifar10; start resnet20_cifar10 from a run of"):
        train.train("resnet20_cifar10", data_dir=str(two), run_dir=str(tmp_path / "x"), init_from=str(first.run_dir),
                    **QUIET_TRAIN)
    with pytest.raises(UsageError, match="give --init-from RUN_DIR"):
        train.train("cnn_cifar10", overrides={**TINY, "freeze_backbone": True}, data_dir=str(two),
                    run_dir=str(tmp_path / "y"), **QUIET_TRAIN)


def test_fine_tuning_a_text_run_keeps_its_vocabulary(tmp_path):
    first = train.train("lstm_imdb", overrides={**TEXT_TINY, "epochs": 1},
                        data_dir=str(write_csv(tmp_path / "a.csv", tickets(60))), run_dir=str(tmp_path / "first"),
                        **QUIET_TRAIN)
    other = [{"body": r["body"] + " zebra quokka", "team": "billing" if r["team"] == "billing" else "other"}
             for r in tickets(40, seed=3)]
    tuned = train.train("lstm_imdb", overrides={**TEXT_TINY, "epochs": 1}, data_dir=str(write_csv(tmp_path / "b.csv", other)),
                        run_dir=str(tmp_path / "tuned"), init_from=str(first.run_dir), **QUIET_TRAIN)
    assert (tuned.run_dir / "vocab.txt").read_text() == (first.run_dir / "vocab.txt").read_text()
    assert "zebra" not in (tuned.run_dir / "vocab.txt").read_text().split()
    assert json.loads((tuned.run_dir / "hparams.json").read_text())["data"]["class_names"] == ["billing", "other"]


@pytest.mark.slow  # 70 s on 2 cores: in CI's `pytest -m slow`
def test_tuning_ensembling_and_grad_cam_work_on_a_folder(tmp_path):
    from tuning import __main__ as tuning_cli
    from zoo import ensemble, explain

    data = make_folder(tmp_path / "photos", per_class=6)
    best = tuning_cli.run_search("cnn_cifar10", tuner="random", max_trials=2, epochs=1,
                                 directory=str(tmp_path / "search"), overrides={**TINY, "epochs": 1},
                                 data_dir=str(data), isolate=False, verbose=0, log=lambda s: None)
    assert best["hparams"]["epochs"] == 1
    members = [train.train("cnn_cifar10", overrides={**TINY, "epochs": 1}, data_dir=str(data), seed=s,
                           run_dir=str(tmp_path / f"m{s}"), **QUIET_TRAIN).run_dir for s in (0, 1)]
    built = ensemble.build_ensemble(members, out=str(tmp_path / "ens"), log=lambda s: None)
    held_out = json.loads((members[0] / "hparams.json").read_text())["data"]["num_test"]
    assert built["metrics"]["test_examples"] == held_out == 3  # the members' held-out images, without --data-dir
    grid = explain.explain(members[0], samples=4, out=str(tmp_path / "cam.png"), log=lambda s: None)
    assert Path(grid).stat().st_size > 0
