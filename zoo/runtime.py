"""Runtime set-up: precision policy, seeding and determinism, quiet TensorFlow logs."""

from __future__ import annotations

import os
import platform
from pathlib import Path

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ start-up chatter (set before TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


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
    native bf16 (AVX512_BF16 or AMX), else float32. Anything else is returned as given."""
    if requested != "auto":
        return requested
    cc = gpu_compute_capability()
    if cc is not None:
        return "mixed_float16" if tuple(cc) >= (7, 0) else "float32"
    if cpu_flags() & {"avx512_bf16", "amx_bf16"}:
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

    import zoo

    return {
        "zoo": zoo.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def machine() -> str:
    cc = None
    try:
        cc = gpu_compute_capability()
    except Exception:  # noqa: BLE001 - informative only
        pass
    cpu = platform.processor() or platform.machine()
    text = f"{cpu}, {os.cpu_count()} cores"
    if cc is not None:
        text += f", GPU compute capability {cc[0]}.{cc[1]}"
    return text
