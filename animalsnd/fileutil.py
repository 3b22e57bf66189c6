"""Safe file writing: atomic replacement, usual permissions, output paths checked up front."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from animalsnd.errors import ConfigError


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
