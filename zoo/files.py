"""Writing files without losing anybody's: atomic writes, temporaries of our own, output folders the zoo owns.

A leaf module: it imports nothing of the zoo but its errors, so every layer can use it.

The rules every command follows:
- An artifact is written under a temporary name beside it and moved into place only when complete
  (`atomic_path`), so a killed writer leaves the old file or none, never half of one.
- Temporary names start with `.zoo-tmp.HOST.PID.`: clean-up (`clean_temporaries`) removes only such names, and
  only those whose process is gone, so two commands writing into the same folder never remove each other's
  working files, and a user's own hidden files are never touched.
- An output folder (`claim_output`) is one the command creates, an empty one, or one that a marker file
  (`.zoo-output.json`) says the same command wrote before. Anything else, a file in its place included, is refused
  with one line before any work starts; in a folder the zoo wrote before, only the files it wrote are replaced.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Optional

from zoo.errors import RunDirError, UsageError

TMP_PREFIX = ".zoo-tmp."
MARKER = ".zoo-output.json"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMPORARY = re.compile(re.escape(TMP_PREFIX) + r"(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.")


def tmp_prefix() -> str:
    """The start of every temporary name this process makes."""
    return f"{TMP_PREFIX}{_HOST}.{os.getpid()}."


def write_error(path, error: OSError, kept: bool = False) -> RunDirError:
    """A failed write as one line naming the file and what to do."""
    why = error.strerror or str(error) or type(error).__name__
    state = "the previous version is kept" if kept else "nothing was written there"
    return RunDirError(f"cannot write {path}: {why}; {state}. Free space (or fix permissions) and run again; "
                       "training runs continue with --resume")


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    A killed or failing writer leaves the old file (or none), never a truncated one.
    The temporary name keeps the final name as its end (Keras insists on `.keras` / `.weights.h5`).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(), suffix="." + path.name, dir=path.parent)
    except OSError as e:
        raise write_error(path, e, path.exists()) from None
    os.close(fd)
    os.unlink(tmp)  # writers such as keras want to create the file themselves
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # disk full, quota, read-only: say so, keep what was there
        raise write_error(path, e, path.exists()) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def temporary_dir(beside: str | os.PathLike, name: str):
    """A folder named as our temporaries inside `beside` (for SavedModels and pages built before they move into
    place); removed afterwards unless the block moved it."""
    import shutil

    try:
        tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix(), suffix="." + name, dir=beside))
        tmp.chmod(0o755 & ~_umask())
    except OSError as e:
        raise write_error(Path(beside) / name, e) from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def is_temporary(path: Path) -> bool:
    """A name this zoo gives its temporaries (`.zoo-tmp.HOST.PID.…`)."""
    return _TEMPORARY.match(path.name) is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def is_abandoned(path: Path) -> bool:
    """One of our temporaries whose process (on this machine) is gone: safe to remove."""
    m = _TEMPORARY.match(path.name)
    return bool(m) and m["host"] == _HOST and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"]))


def clean_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove what killed zoo commands left behind under `folder`; return what was removed. Temporaries of running
    processes, of other machines and every name the zoo does not give its temporaries are left alone."""
    import shutil

    removed = []
    if not Path(folder).is_dir():
        return removed
    for root, dirs, names in os.walk(folder):
        for name in names + dirs:
            p = Path(root) / name
            if is_abandoned(p):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
                removed.append(p)
        dirs[:] = [d for d in dirs if not is_temporary(Path(d))]
    return removed


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing") from None
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path} is damaged ({e}); it is not valid JSON") from None


def unreadable(path: Path) -> Optional[str]:
    """Why `path` cannot be read as a file (a broken or looping symbolic link, a folder, no permission), or None."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop"
        if os.path.islink(path):
            return f"broken symbolic link (to {os.readlink(path)}, which does not exist)"
        return "no such file" if e.errno == errno.ENOENT else (e.strerror or str(e))
    if stat.S_ISDIR(st.st_mode):
        return "a folder, not a file"
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return None


# -- output folders -----------------------------------------------------------
def read_marker(folder: Path) -> Optional[dict]:
    """The marker a zoo command left in `folder`, or None (a hand-edited or foreign marker counts as none)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("command"), str) or \
            not isinstance(marker.get("files", []), list):
        return None
    return marker


class Output:
    """An output folder a command owns: where it writes, and which files it wrote (listed in the marker)."""

    def __init__(self, folder: Path, command: str, previous: Iterable[str]):
        self.folder, self.command = folder, command
        self.previous = [f for f in previous if isinstance(f, str)]
        self.written: list[str] = []

    def path(self, name: str) -> Path:
        """Where to write `name` (relative to the folder); recorded as the zoo's own."""
        if name not in self.written:
            self.written.append(name)
            self._mark(self.previous + self.written)  # listed before it exists: a killed run still owns it
        return self.folder / name

    def finish(self, replace: bool = False) -> list[str]:
        """Record what the command wrote. With `replace`, the files an earlier run of the command wrote and this
        one did not are removed (never a file the zoo did not write); returns those removed."""
        removed = []
        if replace:
            for name in self.previous:
                p = self.folder / name
                if name not in self.written and _inside(self.folder, p) and (p.is_file() or p.is_symlink()):
                    p.unlink()
                    removed.append(name)
                    _prune_empty(self.folder, p.parent)
        self._mark(self.written if replace else self.previous + self.written)
        return removed

    def _mark(self, files) -> None:
        write_json(self.folder / MARKER, {"command": self.command, "format": 1, "files": list(dict.fromkeys(files))})


def _inside(folder: Path, p: Path) -> bool:
    try:
        p.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _prune_empty(folder: Path, sub: Path) -> None:
    while sub != folder and _inside(folder, sub) and sub.is_dir() and not any(sub.iterdir()):
        sub.rmdir()
        sub = sub.parent


def check_output(folder: str | os.PathLike, command: str, option: str = "--out", owned: bool = False) -> Path:
    """Refuse, before any work, an output folder that `command` may not write into (see the module's rules).
    `owned`: the folder is the default one inside a folder the zoo made (a run folder's export/)."""
    folder = Path(folder)
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir():
            raise UsageError(f"{option} {folder} is a file, not a folder; nothing was written. Choose another "
                             f"{option} (the zoo never replaces a file it did not write)")
        marker = read_marker(folder)
        if marker is not None and marker["command"] != command:
            raise UsageError(f"{option} {folder} holds the output of {marker['command']}, not {command}; choose "
                             f"another {option}")
        if marker is None and not owned and any(folder.iterdir()):
            raise UsageError(f"{option} {folder} already holds files the zoo did not write; nothing was written. "
                             f"Choose a new or empty folder for {option}")
    return folder


def written_by(path: Path) -> Optional[str]:
    """The command a PNG of ours names in its `Software` text chunk (`zoo.reports` writes it), or None."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.info.get("Software") if image.format == "PNG" else None
    except Exception:  # noqa: BLE001 - not an image, unreadable: not ours
        return None


def check_output_file(path: str | os.PathLike, command: str, option: str = "--out", suffix: str = ".png",
                      owned: bool = False) -> Path:
    """Refuse, before any work, a single-file output that would replace a folder or a file `command` did not
    write (a PNG it wrote names it in its `Software` chunk). `owned`: the default file inside a run folder."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise UsageError(f"{option} {path}: give a file name ending in {suffix}")
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name ending in {suffix}")
    if not owned and (path.exists() or path.is_symlink()) and written_by(path) != command:
        raise UsageError(f"{option} {path} already exists and was not written by {command}; nothing was written. "
                         f"Choose another {option} (the zoo never replaces a file it did not write)")
    return path


def claim_output(folder: str | os.PathLike, command: str, option: str = "--out", owned: bool = False) -> Output:
    """`check_output`, then create the folder and mark it as `command`'s."""
    folder = check_output(folder, command, option, owned)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(folder, e) from None
    marker = read_marker(folder) or {}
    out = Output(folder, command, marker.get("files", []))
    out._mark(out.previous)
    return out
