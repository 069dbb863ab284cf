"""Runtime set-up: quiet TensorFlow start-up, precision policy, seeding, what machine this is."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")

# TensorFlow's C++ start-up lines that are notices, not errors: printed straight to the process's stderr
# (file descriptor 2) before Python's logging exists, so TF_CPP_MIN_LOG_LEVEL does not hide them in TF 2.21.
STARTUP_NOISE = re.compile(
    "|".join([
        r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
        r"cudart_stub\.cc.*Could not find cuda drivers",
        r"failed call to cuInit",
        r"cuda_diagnostics\.cc",
        r"cpu_feature_guard\.cc.*optimized to use available CPU instructions",
        r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.",
        r"oneDNN custom operations are on",
        r"Unable to register cu(DNN|FFT|BLAS) factory",
        r"computation placer already registered",
        r"TF-TRT Warning: Could not find TensorRT",
    ])
)
_held_back: list[str] = []  # the start-up lines hidden from the user; `--debug` prints them


@contextlib.contextmanager
def _stderr_captured(sink: list[str]):
    """Send file descriptor 2 (C++ and Python writes alike) to a temporary file; append its text to `sink`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode("utf-8", "replace"))


def import_tensorflow():
    """Import TensorFlow and find its devices with the start-up notices held back.

    Lines that match `STARTUP_NOISE` are kept for `startup_messages()` (the command-line programs print
    them with `--debug`); every other line, a real error included, is passed on to stderr as it came.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    captured: list[str] = []
    with _stderr_captured(captured):
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # CUDA's "failed call to cuInit" comes here, not at import
    held, passed = split_startup_output(captured[0])
    _held_back.extend(held)
    sys.stderr.write("".join(passed))
    return tf


def split_startup_output(text: str) -> tuple[list[str], list[str]]:
    """(notices to hold back, lines to pass on) of what TensorFlow printed while starting."""
    held, passed = [], []
    for line in text.splitlines(keepends=True):
        (held if STARTUP_NOISE.search(line) else passed).append(line)
    return held, passed


# What TensorFlow's converter, its SavedModel loader and the LiteRT interpreter log while exporting: C++ (absl)
# lines such as `W0000 00:00:1733 ... tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.`, the
# interpreter's `INFO: Created TensorFlow Lite XNNPACK delegate`, absl's Python warnings. Notices, not errors.
NATIVE_LOG = re.compile(r"^([IWE]\d{4} \d\d:\d\d:\d\d|INFO: |WARNING:absl:|WARNING: All log messages before absl)")


@contextlib.contextmanager
def native_logs_held(debug: bool = False):
    """Hold back the converters' and interpreters' log lines (`NATIVE_LOG`) written while the block runs; other
    stderr lines are passed on when it ends. With `debug` nothing is held."""
    if debug:
        yield
        return
    captured: list[str] = []
    try:
        with _stderr_captured(captured):
            yield
    finally:
        lines = captured[0].splitlines(keepends=True) if captured else []
        _held_back.extend(line for line in lines if NATIVE_LOG.search(line))
        sys.stderr.write("".join(line for line in lines if not NATIVE_LOG.search(line)))
        sys.stderr.flush()


def startup_messages() -> str:
    """The TensorFlow start-up lines `import_tensorflow` held back."""
    return "".join(_held_back)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (empty where there is none, as on macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def cpu_flags() -> set[str]:
    return set(_cpuinfo().get("flags", "").split())


# oneDNN, which runs TensorFlow's CPU kernels, can be held below what the CPU offers with the
# ONEDNN_MAX_CPU_ISA environment variable: `ONEDNN_MAX_CPU_ISA=AVX2` shows how a recipe runs on a CPU
# without AVX-512. Each cap and the speed flags it leaves to TensorFlow. Any other value counts as no cap:
# ALL and values oneDNN does not know leave it uncapped; the caps above AVX512_CORE_BF16 only hold back
# AVX512_FP16 and AMX, and are not modelled.
_AVX2 = frozenset({"avx2", "fma"})
_AVX512 = _AVX2 | {"avx512f"}
ONEDNN_CAPS = {
    "SSE41": frozenset(), "AVX": frozenset(), "AVX2": _AVX2, "AVX2_VNNI": _AVX2 | {"avx_vnni"},
    "AVX2_VNNI_2": _AVX2 | {"avx_vnni"}, "AVX512_CORE": _AVX512, "AVX512_CORE_VNNI": _AVX512 | {"avx512_vnni"},
    "AVX512_CORE_BF16": _AVX512 | {"avx512_vnni", "avx512_bf16"},
}
NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})  # what `auto` needs on a CPU to pick bfloat16


def onednn_cap() -> str | None:
    """The ONEDNN_MAX_CPU_ISA cap in force, upper-cased, or None when oneDNN may use everything the CPU has."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return cap if cap in ONEDNN_CAPS else None


def usable_flags() -> set[str]:
    """The CPU's flags that TensorFlow may use: all of them unless ONEDNN_MAX_CPU_ISA holds oneDNN lower."""
    cap = onednn_cap()
    return cpu_flags() & ONEDNN_CAPS[cap] if cap else cpu_flags()


def cpu_model() -> str:
    info = _cpuinfo()
    return info.get("model name") or platform.processor() or platform.machine()


# The instruction-set extensions that decide how fast (and in which precision) TensorFlow runs on a CPU.
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16",
               "amx_int8")


def gpu_compute_capability():
    """(major, minor) of the first GPU, or None without one."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("compute_capability") or (0, 0)


def resolve_precision(requested: str) -> str:
    """`auto`: mixed_float16 on a GPU of compute capability 7.0+, mixed_bfloat16 on a CPU with
    native bf16 (AVX512_BF16 or AMX, unless ONEDNN_MAX_CPU_ISA holds oneDNN below it), else float32.
    Anything else is returned as given."""
    if requested != "auto":
        return requested
    cc = gpu_compute_capability()
    if cc is not None:
        return "mixed_float16" if tuple(cc) >= (7, 0) else "float32"
    if usable_flags() & NATIVE_BF16:
        return "mixed_bfloat16"
    return "float32"


def set_precision(policy: str) -> None:
    import keras

    keras.mixed_precision.set_global_policy(policy)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow; `deterministic` also turns on TF op determinism
    (bit-identical results on CPU for the same seed, at some speed cost)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.version import __version__

    return {
        "zoo": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def machine() -> dict:
    """What a run or a benchmark ran on: CPU model and the flags that matter for speed (those TensorFlow
    may use: see `usable_flags`), cores, GPU."""
    flags = usable_flags()
    gpu = None
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            cc = details.get("compute_capability")
            gpu = {"name": details.get("device_name", "GPU"), "count": len(gpus),
                   "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None}
    except Exception:  # noqa: BLE001 - informative only
        pass
    m = {
        "cpu": cpu_model(),
        "cpu_flags": [f for f in SPEED_FLAGS if f in flags],
        "native_bf16": bool(flags & NATIVE_BF16),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "gpu": gpu,
    }
    cap = onednn_cap()
    if cap:
        m["onednn_max_cpu_isa"] = cap
        m["cpu_flags_present"] = [f for f in SPEED_FLAGS if f in cpu_flags()]
    return m


def describe_machine(m: dict | None = None) -> str:
    """One line for reports: `AMD EPYC, 2 cores (avx2, fma; no AVX-512, no native bf16)`."""
    m = m or machine()
    flags = m.get("cpu_flags", [])
    notes = ", ".join(flags) or "no AVX2"
    if not any(f.startswith("avx512") for f in flags):
        notes += "; no AVX-512"
    if not m.get("native_bf16"):
        notes += ", no native bf16"
    if m.get("onednn_max_cpu_isa"):
        notes += (f"; oneDNN held at {m['onednn_max_cpu_isa']} by ONEDNN_MAX_CPU_ISA on a CPU that has "
                  f"{', '.join(m.get('cpu_flags_present', []))}")
    text = f"{m['cpu']}, {m['cores']} cores ({notes})"
    if m.get("gpu"):
        g = m["gpu"]
        text += f", {g['count']} x {g['name']} (compute capability {g['compute_capability']})"
    return text
