"""A static web page that runs an exported model in the browser with LiteRT.js, from the export's files alone.

    python -m export.web runs/cnn_mnist/20261122-213000          # after python -m export: RUN_DIR/export/web/
    python -m export runs/cnn_mnist/20261122-213000 --int8-io float32 --web   # export, then the page
    python -m export.web runs/cnn_mnist/20261122-213000 --files model_float32.tflite,model_int8.tflite
    cd runs/cnn_mnist/20261122-213000/export/web && python -m http.server    # then open http://localhost:8000

The folder holds index.html with its app.js and style.css, the LiteRT.js runtime
(@litertjs/core from this project's package-lock.json: `npm ci`; its WebAssembly
files are served from the folder, so the page works offline), the chosen .tflite files,
signature.json (listing only those files), labels.txt and, for text models, vocab.txt
(an encoder-decoder: source_vocab.txt and target_vocab.txt).
The page reads everything it knows about the model from those files, as an app would.
Image classifiers take a drawing or an image file, text classifiers a typed text,
generators draw samples from random noise, language models continue a prompt and an
encoder-decoder rewrites a text (seq2seq_dates: a date, as an ISO date); the page shows
the top classes (or the samples, or the text written) and the time of the model call.

LiteRT.js 2.5 creates and reads float32, int32 and uint8 tensors only: a file with int8
or int16 inputs or outputs is left out with its reason (export int8 with --int8-io
float32 for the page).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

LITERTJS_VERSION = "2.5.3"  # the version package-lock.json pins and the page was tested with
FEEDS = ("float32", "int32", "uint8")  # tensor types LiteRT.js creates and reads
PAGE = Path(__file__).with_name("page")
PAGE_FILES = ("index.html", "app.js", "style.css")
# what the page imports, by the names its import map gives them, and the WebAssembly builds loadLiteRt() picks
# from without threads or JSPI: the relaxed-SIMD one, and the compatible one for browsers without relaxed SIMD
RUNTIME = {"core.js": "core/dist/index.js", "wasm-utils.js": "wasm-utils/dist/index.js"}
WASM = ("litert_wasm_internal.js", "litert_wasm_internal.wasm",
        "litert_wasm_compat_internal.js", "litert_wasm_compat_internal.wasm")


def litertjs_dir(given: Optional[str] = None) -> Path:
    """The `@litertjs` folder of node_modules: --litertjs if given, else $ZOO_LITERTJS if set, else this checkout's
    node_modules, then the working directory's."""
    from zoo.errors import UsageError

    given = given or os.environ.get("ZOO_LITERTJS")
    candidates = [Path(given)] if given else [Path(__file__).resolve().parents[2] / "node_modules",
                                              Path.cwd() / "node_modules"]
    for c in candidates:
        for folder in (c / "@litertjs", c):  # node_modules/ or node_modules/@litertjs/
            if all((folder / part).is_file() for part in RUNTIME.values()) and (folder / "core" / "wasm").is_dir():
                return folder
    where = ", ".join(dict.fromkeys(str(c.resolve()) for c in candidates))  # the checkout may be the working dir
    raise UsageError(f"LiteRT.js (@litertjs/core {LITERTJS_VERSION}) is not installed (looked in {where}): run "
                     "`npm ci` in the zoo checkout (needs Node.js), or pass --litertjs PATH/node_modules")


def feedable(io: dict) -> Optional[str]:
    """Why LiteRT.js cannot run a file with these inputs and outputs (`signature.json`'s per-file io), or None."""
    for t in io["inputs"] + io["outputs"]:
        if t["dtype"] not in FEEDS:
            return (f"{t['dtype']} {t['name']} tensor: LiteRT.js feeds {', '.join(FEEDS)} only (export int8 with "
                    "--int8-io float32 for the page)")
    return None


def has_page(graph: dict) -> bool:
    """Whether app.js has a page for a graph of signature.json: a classifier of images or token ids, a generator
    of images from standard normal noise, or the decoder of a language model or an encoder-decoder (app.js's roleOf
    says the same)."""
    given, out = graph["input"], graph["output"]
    if given.get("converted"):  # an RGB copy of a grayscale classifier, for the image task APIs: the page draws gray
        return False
    return bool(out.get("labels")) and given["kind"] in ("image", "tokens") or (
        out["name"] == "image" and given.get("sample") == "standard normal") or (
        "loop" in graph and given["kind"] in ("prompt", "characters"))  # a decoder: the page runs its loop


def _vocabularies(graphs) -> list[str]:
    """The text files a decoder's loop reads (an encoder-decoder's source_vocab.txt and target_vocab.txt)."""
    return [g["loop"][key] for g in graphs if "loop" in g for key in ("vocabulary", "source_vocabulary")
            if key in g["loop"]]


def _rank(name: str) -> tuple:
    """The page opens the first file: unpruned first, then by the variant table's page order."""
    from export import variants

    variant = max((v for v in variants.NAMES if name.endswith(f"_{v}.tflite")), key=len, default=None)
    return ("_pruned_" in name, variants.page_rank(variant), name)


def build(export_dir, out=None, files: Optional[Sequence[str]] = None, litertjs: Optional[str] = None,
          log=print) -> dict:
    """Write the page folder for an export folder (signature.json and its files); returns what it holds."""
    from export import formats
    from zoo import files as zfiles
    from zoo.errors import RunDirError, UsageError

    export_dir = Path(export_dir)
    if not (export_dir / "signature.json").is_file() and (export_dir / "export" / "signature.json").is_file():
        export_dir = export_dir / "export"  # given the run folder
    if not (export_dir / "signature.json").is_file():
        raise RunDirError(f"{export_dir} has no signature.json: export the run first (python -m export RUN_DIR)")
    signature = zfiles.read_json(export_dir / "signature.json")
    if not isinstance(signature, dict) or signature.get("format") != formats.SIGNATURE_FORMAT:
        found = signature.get("format", "1 (no format field)") if isinstance(signature, dict) else "unknown"
        raise RunDirError(f"{export_dir / 'signature.json'} is format {found}; the page reads format "
                          f"{formats.SIGNATURE_FORMAT}: export the run again (python -m export RUN_DIR)")
    wrong = formats.problems(signature, "signature")
    if wrong:
        raise RunDirError(f"{export_dir / 'signature.json'} does not match its schema ({wrong[0]}); was it edited "
                          "by hand? Export the run again (python -m export RUN_DIR)")
    shown = [g for g in signature["graphs"].values() if has_page(g)]
    if not shown:
        raise UsageError(f"{signature['recipe']}: the page runs classifiers, generators and the decoders of text "
                         f"writers, and its graphs ({', '.join(signature['graphs'])}) are none of them")
    listed = {name: io for g in shown for name, io in g["files"].items()}
    if files:
        unknown = [f for f in files if f not in listed]
        if unknown:
            raise UsageError(f"{', '.join(unknown)} not in {export_dir}/signature.json; it lists "
                             f"{', '.join(sorted(listed)) or 'no files'}")
    chosen = sorted(files or listed, key=_rank)
    refused = {name: why for name in chosen
               for why in [feedable(listed[name]) or (None if (export_dir / name).is_file() else "file missing")]
               if why}
    kept = [name for name in chosen if name not in refused]
    if not kept:
        raise UsageError(f"no file the page can run in {export_dir}: " +
                         "; ".join(f"{n}: {why}" for n, why in refused.items()))
    target, owned = (Path(out), False) if out else (export_dir / "web", True)
    zfiles.check_output(target, "export.web", owned=owned)
    source = litertjs_dir(litertjs)
    output = zfiles.claim_output(target, "export.web", owned=owned)
    out = output.folder
    zfiles.clean_temporaries(out)  # what a killed build left behind (only the zoo's own temporaries)
    with zfiles.temporary_dir(out, "page") as tmp:
        copies = {**{name: PAGE / name for name in PAGE_FILES},
                  **{f"litertjs/{name}": source / part for name, part in RUNTIME.items()},
                  **{f"litertjs/wasm/{name}": source / "core" / "wasm" / name for name in WASM},
                  **{name: export_dir / name for name in kept},
                  **{extra: export_dir / extra for extra in ("labels.txt", "vocab.txt", *_vocabularies(shown))
                     if (export_dir / extra).is_file()}}
        page_signature = dict(signature, graphs={
            g: dict(graph, files={n: graph["files"][n] for n in kept if n in graph["files"]})
            for g, graph in signature["graphs"].items()})
        page_signature["web"] = {"files": kept, "left_out": refused, "litertjs": _version(source)}
        try:
            for name, src in copies.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, tmp / name)
            (tmp / "signature.json").write_text(json.dumps(page_signature, indent=1) + "\n", encoding="utf-8")
        except OSError as e:
            raise zfiles.write_error(out / Path(e.filename or "").name, e) from None
        # each file moves into place whole; signature.json last, so a page whose build was killed still names
        # only files it holds
        for name in [*copies, "signature.json"]:
            target = output.path(name)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / name, target)
            except OSError as e:
                raise zfiles.write_error(target, e, target.exists()) from None
    output.finish(replace=True)  # the files of an earlier page that this one does not hold
    for name, why in refused.items():
        log(f"  left out {name}: {why}")
    log(f"web page: {out} ({', '.join(kept)}); try it with: cd {out} && python -m http.server")
    return {"folder": str(out), "files": kept, "left_out": refused}


def _version(source: Path) -> str:
    return json.loads((source / "core" / "package.json").read_text())["version"]
