"""Drive the web page in headless Chromium: what the tests and benchmarks/web.py compare with the Python interpreter.

The folder is served as `python -m http.server` serves it (the same handler, on 127.0.0.1
and a free port), Debian's `chromium` runs the page through `chromium-driver` and
selenium, and every call goes through the page's own code (`window.zoo`): the pixels of
an image as ImageData, a text as typed, a noise vector, or a stroke drawn with the mouse.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path
from typing import Optional

import numpy as np

CHUNK = 100  # examples per call into the page


def missing() -> Optional[str]:
    """Why the page cannot be driven here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Page:
    """The page of `folder`, opened in headless Chromium; use as a context manager."""

    def __init__(self, folder, width: int = 820, height: int = 900):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        handler = functools.partial(_Quiet, directory=str(Path(folder)))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}"):
            options.add_argument(flag)
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        except Exception:
            self.server.shutdown()
            raise
        self.driver.set_script_timeout(300)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.driver.quit()
        self.server.shutdown()
        self.server.server_close()

    def call(self, script: str, *args):
        """Run `script` (an async function body that returns a value) in the page."""
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"(async (...args) => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
            ".then((value) => done({value}), (e) => done({error: String(e && e.message || e)}));", *args)
        if "error" in result:
            raise RuntimeError(f"the page failed: {result['error']}")
        return result["value"]

    def open(self, file: Optional[str] = None) -> dict:
        """Load the page (with `?file=`) and wait for its first prediction: {'readyMs': ms since navigation}."""
        self.driver.get(self.url + (f"?file={file}" if file else ""))
        return self.call("for (let i = 0; i < 400 && !window.zoo; i++) await new Promise((r) => setTimeout(r, 25));"
                          "if (!window.zoo) throw new Error('app.js did not start');"
                          "const r = await window.zoo.ready; return {readyMs: r.readyMs};")

    def classify_images(self, x) -> np.ndarray:
        """Images (n, height, width, channels) of 0..255 pixels, fed to the page as RGBA ImageData -> probabilities."""
        x = np.asarray(x).astype(np.uint8)
        out, self.call_ms = [], []  # call_ms: the page's own timing of each model call
        for i in range(0, len(x), CHUNK):
            part = x[i : i + CHUNK]
            rgba = np.concatenate([np.repeat(part, 3, axis=-1) if part.shape[-1] == 1 else part,
                                   np.full((*part.shape[:-1], 1), 255, np.uint8)], axis=-1)
            out += self.call(
                "const [h, w, images] = args; const all = [];"
                "for (const flat of images) {"
                "  const image = new ImageData(new Uint8ClampedArray(flat), w, h);"
                "  const r = await window.zoo.classifyImageData(image); all.push([r.probabilities, r.ms]); }"
                "return all;", part.shape[1], part.shape[2], [r.reshape(-1).tolist() for r in rgba])
        self.call_ms = [ms for _, ms in out]
        return np.asarray([p for p, _ in out], np.float32)

    def tokenize(self, texts) -> np.ndarray:
        return np.asarray(self.call("return args[0].map((t) => window.zoo.tokenize(t));", list(texts)), np.int32)

    def classify_texts(self, texts) -> np.ndarray:
        return np.asarray(self.call(
            "const all = []; for (const t of args[0]) all.push((await window.zoo.classifyText(t)).probabilities);"
            "return all;", list(texts)), np.float32)

    def generate(self, noise) -> np.ndarray:
        """Noise vectors (n, dim) -> the generated images' intensities, flat per image."""
        return np.asarray(self.call(
            "const all = []; for (const z of args[0]) all.push((await window.zoo.generateFrom(z)).image);"
            "return all;", np.asarray(noise, np.float64).tolist()), np.float32)

    def write(self, prompts, words: int) -> list[str]:
        """A language model's greedy continuation of each prompt by `words` ids, as the page writes it."""
        return self.call("const all = []; for (const p of args[0]) "
                         "all.push((await window.zoo.write(p, {words: args[1], temperature: 0})).text); return all;",
                         list(prompts), words)

    def rewrite(self, texts) -> list[str]:
        """An encoder-decoder's greedy output for each text, as the page writes it."""
        return self.call("const all = []; for (const t of args[0]) all.push((await window.zoo.rewrite(t)).text);"
                         "return all;", list(texts))

    def draw(self, strokes) -> list[str]:
        """Draw strokes (lists of (x, y) in the 280x280 pad's pixels) with the mouse; returns the labels the page
        shows, most probable first, once it has classified the drawing."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        pad = self.driver.find_element(By.ID, "pad")
        before = self.call("return window.zoo.page.predictions;")
        for stroke in strokes:
            chain = ActionChains(self.driver)
            (x0, y0), rest = stroke[0], stroke[1:]
            chain.move_to_element_with_offset(pad, x0 - 140, y0 - 140).click_and_hold()
            for (x, y), (px, py) in zip(rest, stroke):
                chain.move_by_offset(x - px, y - py)
            chain.release().perform()
        return self.call(
            "const before = args[0];"
            "for (let i = 0; i < 200 && window.zoo.page.predictions === before; i++)"
            "  await new Promise((r) => setTimeout(r, 25));"
            "return Array.from(document.querySelectorAll('#top .label')).map((e) => e.textContent);", before)

    def error(self) -> Optional[str]:
        return self.call("return window.zoo.error;")

    def screenshot(self, path) -> None:
        Path(path).write_bytes(self.driver.get_screenshot_as_png())
