"""Safe file writing: atomic replacement, usual permissions, output paths checked up front;
C-level stderr silenced safely across threads."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from animalsnd.errors import ConfigError

#: what a model folder holds (one of them marks a folder a re-run may replace)
MODEL_FOLDER_NAMES = ("bundle.json", "model.keras", "model.tflite", "cv.json", "fold-0")


_QUIET_LOCK = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


@contextlib.contextmanager
def c_stderr_silenced():
    """Send file descriptor 2 to /dev/null while the block runs (TensorFlow's load notes,
    libmpg123's resync notes, LiteRT's delegate line: C code that writes there directly).

    Shared by every thread: the first to enter redirects, the last to leave restores, so
    overlapping blocks in several threads never leave fd 2 pointing at /dev/null. The
    command line keeps Python's own stderr on a copy of fd 2 (``animalsnd.cli.main``), so a
    warning printed while another thread is in here is not lost.
    """
    global _quiet_depth, _quiet_saved
    with _QUIET_LOCK:
        if _quiet_depth == 0:
            try:
                saved = os.dup(2)
            except OSError:
                saved = None
            if saved is not None:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            _quiet_saved = saved
        _quiet_depth += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def usual_mode(path: str | Path, *, folder: bool = False) -> None:
    """Give a ``mkstemp``/``mkdtemp`` result the permissions ``open``/``mkdir`` would (0644/0755 under umask 022)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_csv(path: Path, rows: Iterable[dict], fieldnames: list[str]) -> None:
    """``rows`` as CSV (a header of ``fieldnames``, ``\\n`` line ends), written atomically;
    a row's missing fields are left empty."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n", restval="")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_parent(path: Path, option: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: {parent} is not writable; choose another path")


def check_output_file(path: str | Path | None, option: str, *, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse, before any work, an output file that is a folder, sits in an
    unwritable place, or is one of the ``inputs``.

    Raises
    ------
    ConfigError
    """
    if path is None or str(path) == "-":
        return
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name")
    for src in inputs:
        src = Path(src)
        if _same_file(path, src) or path.resolve() == src.resolve():
            raise ConfigError(f"{option} {path} is one of the inputs; choose another output file")
    _check_parent(path, option)


def check_output_folder(path: str | Path | None, option: str, *,
                        may_hold: Iterable[str] = (), inputs: Iterable[str | Path] = ()) -> None:
    """Refuse, before any work, an output folder that is a file, lies in an
    unwritable place, is one of the ``inputs`` (or holds one), or is a
    non-empty folder holding none of the names ``may_hold`` (what this
    command writes there, so a re-run may replace it).

    Raises
    ------
    ConfigError
    """
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file; give a folder")
    resolved = path.resolve()
    for src in inputs:
        src = Path(src).resolve()
        if resolved == src or resolved in src.parents:
            raise ConfigError(f"{option} {path} holds the inputs; choose another folder")
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        allowed = set(may_hold)
        if allowed and names and not names & allowed:
            raise ConfigError(
                f"{option} {path} is a non-empty folder that is not a model folder; choose a new or empty folder"
            )
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"{option} {path} is not writable; choose another folder")
    else:
        _check_parent(path, option)


def new_folder_beside(target: Path) -> Path:
    """An empty hidden folder next to ``target`` (same file system), mode as ``mkdir`` gives."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.new-"))
    usual_mode(tmp, folder=True)
    return tmp


def replace_folder(new: Path, target: Path) -> None:
    """Put folder ``new`` in place of ``target`` (which may not exist).

    The old folder is renamed aside first and removed only once ``new`` is in
    place, so at every moment one complete folder exists under one of the names.
    """
    import shutil

    new, target = Path(new), Path(target)
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.rmdir(old)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
