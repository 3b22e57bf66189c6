"""Checks of what a feature cache holds: entries that load, manifest rows and config that parse.

A truncated or edited file must never be reused as if it were whole, and
reading one must end in a line naming the file and the fix, not a traceback.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from animalsnd.config import FeatureConfig
from animalsnd.errors import ConfigError, DatasetError

#: what reading a truncated or corrupt ``.npz`` can raise
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIX = "re-run `animalsnd prepare`"


def reusable_meta(npz: Path, cfg: FeatureConfig) -> dict | None:
    """Metadata of a cache entry that loads and has the config's shape; None (and the
    entry removed, so it is computed again) when it is truncated or corrupt."""
    try:
        with np.load(npz) as z:
            x, meta = z["x"], json.loads(str(z["meta"]))
        if x.ndim == 2 and x.shape[1] == cfg.n_mels and x.shape[0] > 0 and isinstance(meta, dict):
            return meta
    except UNREADABLE:
        pass
    npz.unlink(missing_ok=True)
    return None


def entry_ok(npz: Path) -> bool:
    """``npz`` exists and loads in full; a truncated or corrupt one is removed."""
    if not npz.exists():
        return False
    try:
        with np.load(npz) as z:
            for k in z.files:
                z[k]
        return True
    except UNREADABLE:
        npz.unlink(missing_ok=True)
        return False


def label_conflicts(rows: list[dict]) -> list[tuple[str, str]]:
    """(kept, dropped) relpaths of identical recordings filed under different labels."""
    first = {r["relpath"]: r for r in rows if not r["duplicate_of"]}
    return [(r["duplicate_of"], r["relpath"]) for r in rows
            if r["duplicate_of"] and r["duplicate_of"] in first and first[r["duplicate_of"]]["label"] != r["label"]]


def check_manifest_rows(path: Path, rows: list[dict], columns: list[str]) -> None:
    """Every row complete, every ``sha256`` 64 hex digits (it is joined into store paths)."""
    for i, r in enumerate(rows, start=2):
        if None in r or any(r.get(c) is None for c in columns):
            raise DatasetError(f"{path}: line {i} is truncated or malformed; {_FIX}")
        if not _SHA256.fullmatch(r["sha256"]):
            raise DatasetError(f"{path}: line {i}: sha256 {r['sha256'][:80]!r} is not 64 hex digits; {_FIX}")


def check_config(path: Path, conf: object) -> None:
    """A cache's config.json has a valid feature config, folds and seed."""
    missing = [k for k in ("feature", "folds", "seed") if not isinstance(conf, dict) or k not in conf]
    if missing:
        raise DatasetError(f"{path}: corrupt (missing {', '.join(missing)}); {_FIX}")
    try:
        FeatureConfig.from_dict(conf["feature"])
        int(conf["folds"]), int(conf["seed"])
    except (ConfigError, TypeError, ValueError, AttributeError) as exc:
        raise DatasetError(f"{path}: corrupt ({exc}); {_FIX}") from None
