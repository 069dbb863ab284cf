"""What a user meets first: `import zoo` in a fresh interpreter, and a quiet start of every command."""

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_mnist_like
from zoo import runtime, train

ROOT = Path(__file__).resolve().parents[1]


def fresh(code: str, *args: str):
    """Run `code` in a new interpreter that has imported nothing of ours."""
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def saved_model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("load")
    data = write_mnist_like(root / "data", n_train=96, n_test=32)
    result = train.train("cnn_mnist", overrides={"epochs": 1, "filters": 4, "dense_units": 8, "batch_size": 32,
                                                 "augment_translate": 0.0},
                         data_dir=str(data), run_dir=str(root / "run"), precision="float32", verbose=0,
                         log=lambda s: None)
    return result.run_dir / "model.keras"


def test_import_zoo_then_keras_load_model_in_a_fresh_interpreter(saved_model_file):
    """The promise of docs/reference.md (model.keras), exactly as written there: nothing else imported first."""
    done = fresh("import zoo, keras, sys; import numpy as np\n"
                 "m = keras.saving.load_model(sys.argv[1])\n"
                 "p = m(np.zeros((2, 28, 28, 1), 'float32'))\n"
                 "print(type(m).__name__, tuple(p.shape))", str(saved_model_file))
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.split() == ["ConvNet", "(2,", "10)"]


def test_commands_start_without_tensorflow_notices():
    """TensorFlow's C++ start-up lines (no CUDA driver, cuInit, CPU-feature notice) are held back."""
    bare = fresh("import tensorflow")
    expected = [line for line in bare.stderr.splitlines() if runtime.STARTUP_NOISE.search(line)]
    done = subprocess.run([sys.executable, "-m", "zoo.train", "--list"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "cnn_mnist" in done.stdout
    assert done.stderr == "", done.stderr
    shown = subprocess.run([sys.executable, "-m", "zoo.train", "--list", "--debug"], cwd=ROOT, capture_output=True,
                           text=True)
    for line in expected:  # --debug shows what was held back (the pid and time stamp differ)
        assert line.split("]", 1)[-1] in shown.stderr


def test_only_known_notices_are_held_back_and_real_errors_pass():
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795466824.575802    2486 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
        "GPU will not be used.\n"
        "E0000 00:00:1795466907.047362    3689 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
        "Failed call to cuInit: UNKNOWN ERROR (303)\n"
        "I0000 00:00:1795466824.662629    2486 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
        "available CPU instructions in performance-critical operations.\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.\n"
        "E0000 00:00:1795466907.1    3689 op_kernel.cc:10] Could not load dynamic library 'libfoo.so'\n"
        "Traceback (most recent call last):\n"
    )
    held, passed = runtime.split_startup_output(text)
    assert len(held) == 5
    assert passed == ["E0000 00:00:1795466907.1    3689 op_kernel.cc:10] Could not load dynamic library 'libfoo.so'\n",
                      "Traceback (most recent call last):\n"]


def test_machine_names_the_cpu_model_and_its_speed_flags(monkeypatch):
    monkeypatch.setattr(runtime, "_cpuinfo", lambda: {
        "model name": "Intel(R) Xeon(R) Platinum 8480+",
        "flags": "fpu sse4_2 avx avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8"})
    m = runtime.machine()
    assert m["cpu"] == "Intel(R) Xeon(R) Platinum 8480+" and m["native_bf16"] is True
    assert m["cpu_flags"] == ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"]
    assert runtime.describe_machine(m).startswith("Intel(R) Xeon(R) Platinum 8480+, ")
    monkeypatch.setattr(runtime, "_cpuinfo", lambda: {"model name": "AMD EPYC", "flags": "fpu avx avx2 fma"})
    line = runtime.describe_machine(runtime.machine())
    assert "AMD EPYC" in line and "(avx2, fma; no AVX-512, no native bf16)" in line


def test_a_onednn_isa_cap_is_what_the_machine_record_and_auto_precision_go_by(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 on an AVX-512 bf16 CPU stands in for a CPU without AVX-512: the record says so."""
    monkeypatch.setattr(runtime, "_cpuinfo", lambda: {
        "model name": "AMD EPYC", "flags": "fpu avx avx2 fma avx512f avx512_vnni avx512_bf16"})
    monkeypatch.setattr(runtime, "gpu_compute_capability", lambda: None)
    assert runtime.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert runtime.resolve_precision("auto") == "float32"
    m = runtime.machine()
    assert m["cpu_flags"] == ["avx2", "fma"] and m["native_bf16"] is False and m["onednn_max_cpu_isa"] == "AVX2"
    assert m["cpu_flags_present"] == ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"]
    assert runtime.describe_machine(m) == ("AMD EPYC, {} cores (avx2, fma; no AVX-512, no native bf16; oneDNN held "
                                           "at AVX2 by ONEDNN_MAX_CPU_ISA on a CPU that has avx2, fma, avx512f, "
                                           "avx512_vnni, avx512_bf16)").format(m["cores"])
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert runtime.resolve_precision("auto") == "mixed_bfloat16"
    for no_cap in ("ALL", "not-an-isa"):  # oneDNN itself ignores a value it does not know
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", no_cap)
        assert "onednn_max_cpu_isa" not in runtime.machine() and runtime.resolve_precision("auto") == "mixed_bfloat16"
