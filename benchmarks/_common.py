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
