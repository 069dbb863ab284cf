"""Scripts an app-side client runs in its own environment (no zoo, no TensorFlow): they load the exported files the
way apps do and print what they computed, for the tests and benchmarks to compare."""

import os
from pathlib import Path

MEDIAPIPE_CLASSIFY = Path(__file__).with_name("mediapipe_classify.py")


def mediapipe_python() -> Path:
    """The Python of MediaPipe's own environment: $ZOO_MEDIAPIPE_PYTHON, else the checkout's .venv-mediapipe."""
    return Path(os.environ.get("ZOO_MEDIAPIPE_PYTHON", Path(__file__).resolve().parents[2] / ".venv-mediapipe" / "bin"
                               / "python"))
