"""Reading the augmented sets of a cache: which are there, and one set's copies ready for training.

Layout of ``CACHE_DIR/augment/NAME/`` (written by :mod:`animalsnd.augment.store`)::

    config.json     options, noise file hashes, feature config, build key, status
    manifest.csv    one row per augmented copy (source, noise, offset, SNRs)
    <id>.npz        float32 [t <= frames, n_mels] log-Mel of the noisy copy + metadata
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.cache import read_config, read_manifest, stack_npz
from animalsnd.config import FeatureConfig
from animalsnd.errors import DatasetError

__all__ = ["AugmentedSet", "list_augmented", "load_augmented", "read_json"]


def read_json(path: Path) -> dict:
    """A JSON file as a dict ({} when missing or unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class AugmentedSet:
    """The augmented copies of one set, ready to join a training split.

    Select the copies of a split's training clips with ``source_shas`` (or
    ``source_folds``); never add copies of validation or test clips.
    """

    X: np.ndarray  # (n, frames, n_mels) float32
    labels: list[str]
    source_shas: list[str]
    source_folds: np.ndarray  # (n,) int, the source clip's fold in the cache
    snr_db: np.ndarray  # (n,) float, realised SNR of each copy
    ids: list[str] = field(default_factory=list)
    noise_files: list[str] = field(default_factory=list)
    name: str = ""
    mode: str = ""

    def __len__(self) -> int:
        return len(self.labels)


def list_augmented(cache_dir: str | Path) -> list[str]:
    """Names of the completed augmented sets of a cache, sorted."""
    root = Path(cache_dir) / "augment"
    if not root.is_dir():
        return []
    return sorted(
        d.name for d in root.iterdir()
        if d.is_dir() and (d / "manifest.csv").exists()
        and read_json(d / "config.json").get("status") in ("complete", "partial")
    )


def load_augmented(cache_dir: str | Path, name: str) -> AugmentedSet:
    """Read an augmented set built by :func:`animalsnd.augment.store.build_augmented`.

    Returns
    -------
    AugmentedSet
        ``X`` padded or cropped to ``cfg.frames`` like the cache's features;
        ``source_folds`` follow the cache's current fold assignment.

    Raises
    ------
    DatasetError
        Unknown name (the message lists the available ones), a set built
        for another feature config, or a missing copy.
    """
    cache_dir = Path(cache_dir)
    cfg = FeatureConfig.from_dict(read_config(cache_dir)["feature"])
    names = list_augmented(cache_dir)
    if name not in names:
        avail = ", ".join(names) if names else "none; run `animalsnd augment` first"
        raise DatasetError(f"{cache_dir}: no augmented set {name!r} (available: {avail})")
    out_dir = cache_dir / "augment" / name
    aconf = read_json(out_dir / "config.json")
    if aconf.get("feature_hash") != cfg.hash():
        raise DatasetError(
            f"augmented set {name!r} was built for other features than {cache_dir} now has; "
            f"re-run `animalsnd augment` with --name {name}"
        )
    with open(out_dir / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for i, r in enumerate(rows, start=2):  # ids are joined into paths: copy numbers only
        if not re.fullmatch(r"[0-9]{1,12}", r.get("id") or ""):
            raise DatasetError(f"{out_dir / 'manifest.csv'}: line {i}: id {str(r.get('id'))[:80]!r} is not a "
                               f"copy number; re-run `animalsnd augment` with --name {name}")
    folds_now = {r["sha256"]: int(r["fold"]) for r in read_manifest(cache_dir) if r["status"] == "ok"}
    X = stack_npz([out_dir / f"{r['id']}.npz" for r in rows], cfg=cfg,
                  what="copy", fix="re-run augment")
    return AugmentedSet(
        X=X,
        labels=[r["label"] for r in rows],
        source_shas=[r["source_sha256"] for r in rows],
        source_folds=np.array(
            [folds_now.get(r["source_sha256"], int(r["source_fold"])) for r in rows], dtype=int
        ),
        snr_db=np.array([float(r["realised_snr_db"]) for r in rows], dtype=float),
        ids=[r["id"] for r in rows],
        noise_files=[r["noise_file"] for r in rows],
        name=name,
        mode=str(aconf.get("mode", "")),
    )
