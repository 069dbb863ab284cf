"""Export: SavedModel + TFLite variants verified with LiteRT, pruning, inspect, errors."""

import json

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import zoo
from conftest import data_arg, fake_data_dir, recipe_params, tiny_overrides
from export import __main__ as export_cli
from export import inspect as inspect_cli
from export import prune, quantize, sensitivity, tflite, verify
from zoo import runs, train

QUIET = dict(verbose=0, log=lambda s: None)


def tiny_run(root, name="cnn_mnist", precision="float32", epochs=2, **more):
    recipe = zoo.get(name)
    data = fake_data_dir(recipe, root / "data")
    result = train.train(name, overrides=tiny_overrides(recipe, epochs=epochs, **more), data_dir=data_arg(data),
                         run_dir=str(root / "run"), precision=precision, **QUIET)
    return result.run_dir, data


ALL = export_cli.parse_variants("all,auto")  # float32 by the converter, every other file by LiteRT Quantizer


def do_export(run, data, **kw):
    """The library form of python -m export; without model_rgb unless asked (rgb=True; tests/test_metadata.py)."""
    args = dict(variants=ALL, data_dir=data_arg(data), latency_runs=5, log=lambda s: None, rgb=False)
    args.update(kw)
    return export_cli.export_run(run, **args)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    # Five epochs: int8 and float32 agree on the argmax only where the model is sure, so it must have learned.
    run, data = tiny_run(tmp_path_factory.mktemp("exp"), epochs=5)
    return run, data, do_export(run, data)


def test_every_variant_is_written_and_verified(exported):
    run, data, report = exported
    out = run / "export"
    assert report["failures"] == {}
    for v in ALL:
        art = report["artifacts"][f"model_{v}.tflite"]
        assert art["made_by"] == "TFLite converter" if v == "float32" else art["made_by"].startswith("LiteRT Quantizer")
        assert (out / f"model_{v}.tflite").stat().st_size == art["bytes"]
        assert art["latency_ms_1_thread"]["p50"] > 0 and art["gzip_bytes"] > 0
        assert not any(op.startswith("Flex") for op in art["ops"])
        assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & set(art["ops"]), f"{v} computes shapes: {art['ops']}"
        assert art["shape_ops"] == []
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert report["artifacts"]["model_float32.tflite"]["max_abs_diff_vs_keras"] <= 1e-5
    for v in ("int8", "int16x8", "dynamic", "weights_int8", "auto"):  # a tiny model: a few near-ties may flip
        assert report["artifacts"][f"model_{v}.tflite"]["argmax_agreement_vs_keras"] >= 0.97, v
    sizes = {v: report["artifacts"][f"model_{v}.tflite"]["bytes"] for v in ALL}
    assert sizes["weights_int4"] < sizes["weights_int8"] < sizes["float16"] < sizes["float32"]
    assert sizes["int8"] < sizes["float16"] and sizes["int16x8"] < sizes["float16"]
    io = {v: report["artifacts"][f"model_{v}.tflite"]["io"]["inputs"][0]["dtype"] for v in ALL}
    assert io == {**{v: "float32" for v in ALL}, "int8": "int8", "auto": "int8", "int16x8": "int16"}
    assert {"report.json", "report.md", "labels.txt", "signature.json"} <= {p.name for p in out.iterdir()}


def test_serving_saved_model_takes_any_batch_size(exported):
    """TF Serving / batch inference: `saved_model/` has a dynamic batch; the fixed-batch graph is not shipped."""
    import tensorflow as tf

    run, data, _ = exported
    model = runs.load_model(run / "model.keras")
    x, _ = next(iter(zoo.get("cnn_mnist").data(json.loads((run / "hparams.json").read_text())["hparams"],
                                               data_dir=str(data)).test))
    serve = tf.saved_model.load(str(run / "export" / "saved_model")).signatures["serving_default"]
    assert serve.structured_input_signature[1]["input"].shape.as_list() == [None, 28, 28, 1]
    for n in (1, 5, len(x)):
        out = serve(input=tf.constant(x[:n], tf.float32))["probabilities"].numpy()
        assert out.shape == (n, 10) and out.dtype == np.float32
        np.testing.assert_allclose(out, np.asarray(model(x[:n])), atol=1e-5)
    assert [p.name for p in (run / "export").iterdir() if "saved_model" in p.name] == ["saved_model"]
    sig = json.loads((run / "export" / "signature.json").read_text())["graphs"]["model"]["saved_model"]
    assert sig["input_shape"] == [None, 28, 28, 1] and sig["signature"] == "serving_default"
    assert sig["dir"] == "saved_model" and sig["output"] == "probabilities"


def test_float32_tflite_matches_keras_within_1e_5(exported):
    run, data, _ = exported
    model = runs.load_model(run / "model.keras")
    x = np.concatenate([x.numpy() for x, _ in zoo.get("cnn_mnist").data(
        json.loads((run / "hparams.json").read_text())["hparams"], data_dir=str(data)).test])[:64]
    r = verify.Runner((run / "export" / "model_float32.tflite").read_bytes())
    np.testing.assert_allclose(r.predict(x), np.asarray(model(x)), atol=1e-5)
    assert r.batch == 1


def test_signature_tells_an_app_everything(exported):
    run, _, _ = exported
    sig = json.loads((run / "export" / "signature.json").read_text())
    assert sig["task"] == "classification" and list(sig["graphs"]) == ["model"]
    graph = sig["graphs"]["model"]
    assert graph["input"]["shape"] == [1, 28, 28, 1] and graph["input"]["dtype"] == "float32"
    assert graph["input"]["range"] == [0.0, 255.0] and "rescales inside" in graph["input"]["preprocessing"]
    assert graph["output"]["labels"] == [str(i) for i in range(10)] and "probabilities" in graph["output"]["meaning"]
    assert graph["output"]["shape"] == [1, 10]
    assert set(graph["files"]) == {f"model_{v}.tflite" for v in ALL}
    q = graph["files"]["model_int8.tflite"]["inputs"][0]
    assert q["dtype"] == "int8" and q["quantization"]["scale"] > 0
    labels = (run / "export" / "labels.txt").read_text().splitlines()
    assert labels == graph["output"]["labels"]


def test_int8_with_uint8_io(exported, tmp_path):
    run, data, _ = exported
    report = do_export(run, data, variants=["int8"], int8_io="uint8", out=tmp_path / "u8")
    io = report["artifacts"]["model_int8.tflite"]["io"]
    assert io["inputs"][0]["dtype"] == "uint8" and io["outputs"][0]["dtype"] == "uint8"
    assert report["artifacts"]["model_int8.tflite"]["argmax_agreement_vs_keras"] >= 0.98
    assert "TFLite converter" in report["artifacts"]["model_int8.tflite"]["made_by"]


def test_int8_with_float32_io_from_litert_quantizer(exported, tmp_path):
    """A web page or an app that feeds floats: QUANTIZE / DEQUANTIZE at the edges, int8 inside."""
    run, data, _ = exported
    report = do_export(run, data, variants=["int8"], int8_io="float32", out=tmp_path / "f")
    art = report["artifacts"]["model_int8.tflite"]
    assert art["io"]["inputs"][0]["dtype"] == "float32" and art["io"]["outputs"][0]["dtype"] == "float32"
    assert {"QUANTIZE", "DEQUANTIZE"} <= set(art["ops"]) and art["argmax_agreement_vs_keras"] >= 0.98
    assert art["made_by"] == "LiteRT Quantizer (static_wi8_ai8)"


def test_the_legacy_converter_path_is_kept_for_comparison(exported, tmp_path):
    run, data, _ = exported
    report = do_export(run, data, variants=["float32", "dynamic", "int8"], quantizer="converter", out=tmp_path / "c")
    assert report["failures"] == {}
    for v in ("dynamic", "int8"):
        art = report["artifacts"][f"model_{v}.tflite"]
        assert art["made_by"].startswith("TFLite converter (legacy") and art["argmax_agreement_vs_keras"] >= 0.98


def test_every_quantized_file_gets_a_layer_error_table(exported):
    run, _, report = exported
    layers = report["artifacts"]["model_int8.tflite"]["layers"]
    assert report["artifacts"]["model_float32.tflite"]["layers"] == []
    assert {r["op"] for r in layers} >= {"CONV_2D", "FULLY_CONNECTED"}
    for r in layers:
        assert 0 <= r["drop_db"] and r["snr_db"] <= sensitivity.SNR_CAP_DB and -1 <= r["cosine"] <= 1.0001
    assert min(r["snr_db"] for r in layers) < 50  # int8 rounding is measurable
    fp16 = report["artifacts"]["model_float16.tflite"]["layers"]
    assert min(r["snr_db"] for r in fp16) > min(r["snr_db"] for r in layers)  # and float16 loses less
    md = (run / "export" / "report.md").read_text()
    assert "## Layer errors: model_int8.tflite (LiteRT Quantizer (static_wi8_ai8))" in md
    assert "## model_auto.tflite: selective int8" in md


def test_auto_keeps_the_most_sensitive_layers_in_float(exported):
    """The selection loop on the real float32 file; the quality loss is scripted: over the limit until a layer is
    kept in float32."""
    run, data, _ = exported
    float_content = (run / "export" / "model_float32.tflite").read_bytes()
    calibration = calibration_of(run, data)
    calibrated = quantize.Calibrated(float_content, calibration)
    errors = lambda c: sensitivity.layer_errors(float_content, c, list(calibration())[:8])  # noqa: E731
    full = calibrated.quantize("auto")
    most_sensitive = max(errors(full), key=lambda r: r["drop_db"])["layer"]

    found = quantize.auto_select(calibrated, "int8", lambda c: 0.0 if len(c) > len(full) else 1.0, 0.3, 1.5,
                                 errors, log=lambda s: None)
    assert found.reached and found.kept_float == [most_sensitive] and len(found.content) > len(full)
    assert [r["kept_float"] for r in found.rounds] == [0, 1]
    assert "DEQUANTIZE" in verify.op_names(found.content)  # the float layer reads dequantized int8

    budget = quantize.auto_select(calibrated, "int8", lambda c: 1.0, 0.3, len(float_content) / len(full) - 0.01,
                                  errors, log=lambda s: None)
    assert not budget.reached and budget.content == full and budget.kept_float == []


def calibration_of(run, data):
    from zoo.tasks.graphs import calibration_batches, dataset_inputs

    hp = json.loads((run / "hparams.json").read_text())["hparams"]
    return calibration_batches(dataset_inputs(zoo.get("cnn_mnist").data(hp, data_dir=str(data)).train), 50)


def test_batch_option_fixes_a_larger_batch(exported, tmp_path):
    run, data, _ = exported
    report = do_export(run, data, variants=["float32"], batch=4, out=tmp_path / "b4")
    art = report["artifacts"]["model_float32.tflite"]
    assert art["io"]["inputs"][0]["shape"] == [4, 28, 28, 1] and art["max_abs_diff_vs_keras"] <= 1e-5


def test_mixed_precision_run_exports_float32_io(tmp_path):
    run, data = tiny_run(tmp_path, precision="mixed_bfloat16", epochs=1)
    keras.mixed_precision.set_global_policy("float32")
    report = do_export(run, data, variants=["float32"])
    io = report["artifacts"]["model_float32.tflite"]["io"]
    assert io["inputs"][0]["dtype"] == "float32" and io["outputs"][0]["dtype"] == "float32"
    assert report["artifacts"]["model_float32.tflite"]["argmax_agreement_vs_keras"] >= 0.98


def test_failed_variant_is_named_and_others_are_kept(exported, tmp_path, monkeypatch, capsys):
    run, data, _ = exported
    real = quantize.Calibrated.quantize

    def flaky(self, variant, *a, **k):
        if variant == "float16":
            raise RuntimeError("quantizer exploded\nlong trace")
        return real(self, variant, *a, **k)

    monkeypatch.setattr(quantize.Calibrated, "quantize", flaky)
    code = export_cli.main([str(run), "--quantize", "float32,float16,int8", "--out", str(tmp_path / "o"),
                            "--data-dir", str(data), "--latency-runs", "5"])
    err = capsys.readouterr().err
    assert code == 1 and "float16: conversion failed: quantizer exploded" in err
    assert (tmp_path / "o" / "model_int8.tflite").is_file()
    assert (tmp_path / "o" / "model_float32.tflite").is_file()
    assert not (tmp_path / "o" / "model_float16.tflite").exists()


@pytest.mark.parametrize("argv,message", [
    (["--quantize", "int4"], "--quantize takes"),
    (["--quantize", "weights_int4", "--quantizer", "converter"], "the TFLite converter cannot make weights_int4"),
    (["--quantize", "auto", "--int8-io", "uint8"], "--quantize auto writes int8 or float32 I/O"),
    (["--quantize", "auto", "--min-ratio", "0.5"], "--min-ratio at least 1"),
    (["--prune", "1.5"], "--prune takes a target sparsity between 0 and 1"),
])
def test_bad_options_are_usage_errors(exported, argv, message, capsys):
    run, data, _ = exported
    code = export_cli.main([str(run), "--data-dir", str(data), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_non_run_folder_and_corrupt_model_are_clear_errors(exported, tmp_path, capsys):
    run, data, _ = exported
    assert export_cli.main([str(tmp_path)]) == 1
    assert "not a run folder" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "hparams.json").write_text((run / "hparams.json").read_text())
    (bad / "model.keras").write_bytes(b"PK\x03\x04 this is not a keras zip")
    assert export_cli.main([str(bad), "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert "cannot load" in err and "damaged" in err and err.count("\n") == 1


def test_inspect_describes_a_file_and_refuses_non_tflite(exported, tmp_path, capsys):
    run, _, _ = exported
    assert inspect_cli.main([str(run / "export" / "model_int8.tflite")]) == 0
    out = capsys.readouterr().out
    assert "input  " in out and "int8" in out and "CONV_2D" in out and "FULLY_CONNECTED" in out
    (tmp_path / "x.tflite").write_bytes(b"\x00" * 64)
    assert inspect_cli.main([str(tmp_path / "x.tflite")]) == 2
    err = capsys.readouterr().err
    assert "not a TFLite flatbuffer" in err and err.count("\n") == 1


def test_polynomial_schedule():
    s = prune.PolynomialDecay(final_sparsity=0.8, begin_step=0, end_step=100, frequency=10)
    assert s.sparsity(0) == 0.0 and s.sparsity(100) == pytest.approx(0.8) and s.sparsity(500) == pytest.approx(0.8)
    values = [s.sparsity(t) for t in range(0, 101, 10)]
    assert values == sorted(values) and values[1] > 0.8 * 0.2  # fast rise first (cubic)
    assert s.should_update(0) and s.should_update(50) and not s.should_update(55) and not s.should_update(110)


def test_magnitude_mask_drops_the_smallest():
    w = np.array([[0.1, -5.0], [0.01, 2.0], [-0.3, 0.02]])
    m = prune.magnitude_mask(w, 0.5)
    np.testing.assert_array_equal(m, [[0, 1], [0, 1], [1, 0]])


def test_pruning_reaches_target_and_zeros_survive_training_and_saving(exported, tmp_path):
    run, data, _ = exported
    report = do_export(run, data, variants=["float32", "int8"], prune=0.8, prune_epochs=1, out=tmp_path / "p")
    pruned = runs.load_model(tmp_path / "p" / "model_pruned.keras")
    kernels = prune.prunable_kernels(pruned)
    assert kernels, "the tiny CNN must have prunable kernels"
    for k in kernels:
        assert np.mean(keras.ops.convert_to_numpy(k) == 0) >= 0.79
    art = report["artifacts"]["model_pruned_float32.tflite"]
    assert art["weight_sparsity"] >= 0.79 and art["max_abs_diff_vs_keras"] <= 1e-5
    assert report["artifacts"]["model_pruned_int8.tflite"]["gzip_bytes"] < \
        report["artifacts"]["model_int8.tflite"]["gzip_bytes"]


def test_masks_hold_through_optimizer_updates():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32), keras.layers.Dense(4)])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    pruner = prune.Pruner(prune.PolynomialDecay(0.5, 0, 0, initial_sparsity=0.5, frequency=1), min_size=100)
    x, y = np.random.rand(64, 64).astype("float32"), np.random.rand(64, 4).astype("float32")
    model.fit(x, y, epochs=3, batch_size=8, callbacks=[pruner], verbose=0)
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    assert np.mean(kernel == 0) == pytest.approx(0.5, abs=0.01)
    assert pruner.strip() == pytest.approx(0.5, abs=0.01)


# resnet20's export takes 40-80 s on 2 cores, the longest of the default run: `pytest -m slow` (and CI) run it
@pytest.mark.parametrize("name", recipe_params(zoo.list_recipes("classification"), also=("resnet20_cifar10",)))
def test_every_classification_recipe_exports(name, tmp_path):
    # confident enough that int8 rounding rarely flips argmax. resnet56 takes twice the steps: at batch 32 its six
    # epochs reached 21% test accuracy on an AVX2-only AMD EPYC and int8 agreed on 86% (at 16: 35% and 100%)
    more = {"batch_size": 16} if name == "resnet56_cifar10" else {}
    run, data = tiny_run(tmp_path, name=name, epochs=6, **more)
    report = do_export(run, data, variants=["float32", "int8"], rgb=True)  # grayscale ones: model_rgb files too
    assert report["failures"] == {}
    assert report["artifacts"]["model_float32.tflite"]["max_abs_diff_vs_keras"] <= 1e-5
    assert report["artifacts"]["model_int8.tflite"]["argmax_agreement_vs_keras"] >= 0.95
    for file, art in report["artifacts"].items():  # phone-ready: builtin ops, no shape-computing ops
        assert art["shape_ops"] == [] and not any(op.startswith("Flex") for op in art["ops"]), art["ops"]
        tensors = Interpreter(model_path=str(run / "export" / file)).get_tensor_details()
        assert not [t["name"] for t in tensors if ";" in t["name"]], "fused-op names are kept joined"
    mediapipe = report["artifacts"]["model_float32.tflite"]["io"]["mediapipe"]
    if zoo.get(name).hparams.get("tokenizer") == "keras" and "transformer" in name:  # the default: what differs
        assert mediapipe["task"] == "TextClassifier" and mediapipe["differs"]
        assert "tokenizer=regex" in mediapipe["exact"]
        assert "TextClassifier (its tokenizer differs" in (run / "export" / "MODEL_CARD.md").read_text()
    elif zoo.get(name).hparams.get("tokenizer"):  # recurrent: WHILE loops, which MediaPipe's text tasks refuse ...
        assert mediapipe["task"] is None and "use the model_unrolled_* file" in mediapipe["why_not"], mediapipe
        unrolled = report["artifacts"]["model_unrolled_float32.tflite"]  # ... so the loops are also written out
        assert unrolled["io"]["mediapipe"]["task"] == "TextClassifier" and unrolled["max_abs_diff_vs_keras"] <= 1e-5
        assert "WHILE" not in unrolled["ops"] and "WHILE" in report["artifacts"]["model_float32.tflite"]["ops"]
        assert list(report["skipped"]) == ["model_unrolled int8"]  # not calibrated: reported, not failed
    else:
        assert mediapipe["task"] == "ImageClassifier" or "model_rgb" in mediapipe["why_not"], mediapipe


def test_a_twin_that_disagrees_with_the_trained_model_exports_nothing(exported, tmp_path, monkeypatch):
    from zoo.errors import ZooError

    run, data, _ = exported
    clone = tflite.float32_clone

    def broken(*args, **kwargs):  # as a wrong export_config would build it: other weights
        twin = clone(*args, **kwargs)
        twin.set_weights([w * 0 for w in twin.get_weights()])
        return twin

    monkeypatch.setattr(tflite, "float32_clone", broken)
    with pytest.raises(ZooError, match="export twin is wrong, so nothing was exported"):
        do_export(run, data, variants=["float32"], out=tmp_path / "x")
    assert not list((tmp_path / "x").glob("*.tflite"))
