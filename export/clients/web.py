"""Classify images with MediaPipe's web package, as a web app does: `@mediapipe/tasks-vision` (npm, pinned in
package-lock.json; `npm ci` puts it in node_modules) runs an exported file in headless Chromium through
export/clients/mediapipe_web/, given the model path and maxResults only.

    from export.clients import web
    found = web.classify(Path("export/model_rgb_float32.tflite"), images)   # uint8 (n, height, width, 3)
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

PAGE = Path(__file__).with_name("mediapipe_web")
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
CHUNK = 100  # images per call into the page


def tasks_vision() -> Path:
    return NODE_MODULES / "@mediapipe" / "tasks-vision"


def missing() -> Optional[str]:
    """Why the web client cannot run here, or None."""
    from export.web import browser

    if not (tasks_vision() / "vision_bundle.mjs").is_file():
        return f"@mediapipe/tasks-vision is not in {NODE_MODULES}: run `npm ci` in the zoo checkout"
    return browser.missing()


def classify(model: Path, images: np.ndarray) -> dict:
    """uint8 RGB images (n, height, width, 3) -> {"results": per image the categories (index, name, score) in
    MediaPipe's order, "ms": the milliseconds of each classify call, "ready_ms": loading and compiling the model}."""
    from export.web.browser import Page

    if missing():
        raise RuntimeError(missing())
    images = np.asarray(images, np.uint8)
    with tempfile.TemporaryDirectory(prefix="zoo-mediapipe-web-") as folder:
        for file in PAGE.iterdir():
            shutil.copy(file, folder)
        (Path(folder) / "tasks-vision").symlink_to(tasks_vision(), target_is_directory=True)
        shutil.copy(model, Path(folder) / "model.tflite")
        with Page(folder) as page:
            page.driver.get(page.url + "index.html")
            ready_ms = page.call("for (let i = 0; i < 400 && !window.mediapipe; i++) await new Promise((r) => "
                                 "setTimeout(r, 25)); if (!window.mediapipe) throw new Error('classify.mjs did not "
                                 "start'); await window.mediapipe.ready; "
                                 "return performance.now();")
            found = []
            for i in range(0, len(images), CHUNK):
                part = images[i : i + CHUNK]
                rgba = np.concatenate([part, np.full((*part.shape[:-1], 1), 255, np.uint8)], axis=-1)
                found += page.call("const [w, h, flat] = args; return window.mediapipe.classify(w, h, flat);",
                                   part.shape[2], part.shape[1], [r.reshape(-1).tolist() for r in rgba])
    return {"results": [f["categories"] for f in found], "ms": [f["ms"] for f in found], "ready_ms": ready_ms}
