"""Per-clip stores beside a feature cache, and per-file work in parallel.

A store is a folder of ``<sha256>.npz`` entries (BirdNET embeddings,
descriptors, ...) with one spec file; an entry whose audio cannot be read is
remembered as ``<sha256>.err``. Entries are written atomically, so an
interrupted fill leaves only whole entries.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from animalsnd.cache_check import entry_ok
from animalsnd.errors import AudioError
from animalsnd.fileutil import atomic_write_bytes, atomic_write_text
from animalsnd.parallel import run_parallel

__all__ = ["compute_paths", "failure_reason", "fill_store", "save_npz"]


def save_npz(path: Path, **arrays) -> None:
    """Atomically write an uncompressed .npz."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())



def failure_reason(path: str, exc: BaseException) -> str:
    """Why ``path`` failed, for a one-line report: an AudioError's message without
    the leading path, or the exception's type and message."""
    if isinstance(exc, AudioError):
        msg = str(exc)
        return msg[len(path) + 2:] if msg.startswith(path + ": ") else msg
    return f"{type(exc).__name__}: {exc}"[:200]


def _value_or_reason(compute: Callable, path: str) -> tuple[object | None, str]:
    try:
        return compute(path), ""
    except Exception as exc:  # noqa: BLE001 - any failure is reported per file
        return None, failure_reason(path, exc)


def compute_paths(compute: Callable, paths, *, jobs: int = -1,
                  progress: Callable[[int, int], None] | None = None) -> list[tuple[object | None, str]]:
    """``compute(path)`` for every path in parallel, without caching:
    ``(result or None, reason)`` per path, in order. ``compute`` must be a
    module-level function (it is sent to worker processes)."""
    return run_parallel(_value_or_reason, [(compute, str(p)) for p in paths], jobs=jobs, progress=progress)


def _store_work(compute: Callable, path: str, out: str) -> dict:
    """Worker of :func:`fill_store`: one entry written atomically, or the reason it failed."""
    try:
        arrays = compute(path)
    except AudioError as exc:  # the file itself is bad: remembered, not retried
        atomic_write_text(Path(out).with_suffix(".err"), failure_reason(path, exc))
        return {"status": "failed", "error": failure_reason(path, exc)}
    except Exception as exc:  # noqa: BLE001 - unexpected: report, do not cache
        return {"status": "failed", "error": failure_reason(path, exc)}
    save_npz(Path(out), **arrays)
    return {"status": "ok"}


def fill_store(store: Path, rows: list[dict], compute: Callable, *, spec: dict, spec_name: str, jobs: int = -1,
               progress: Callable[[int, int], None] | None = None) -> tuple[Path, int, int]:
    """Compute a per-clip store entry (``<sha256>.npz``) for every row that has none yet.

    A row counts as done when its ``.npz`` or its ``.err`` (why its audio
    could not be read) exists. ``compute(path)`` returns the arrays of one
    entry (a module-level function; it runs in worker processes); ``spec`` is
    written once as ``spec_name``. Returns ``(store, computed, reused)``.
    """
    store.mkdir(parents=True, exist_ok=True)
    spec_file = store / spec_name
    if not spec_file.exists():
        atomic_write_text(spec_file, json.dumps(spec, indent=2) + "\n")
    tasks, seen = [], set()
    for r in rows:
        sha = r["sha256"]
        if sha not in seen and not entry_ok(store / f"{sha}.npz") and not (store / f"{sha}.err").exists():
            tasks.append((compute, r["path"], str(store / f"{sha}.npz")))
        seen.add(sha)
    run_parallel(_store_work, tasks, jobs=jobs, progress=progress)
    return store, len(tasks), len(seen) - len(tasks)
