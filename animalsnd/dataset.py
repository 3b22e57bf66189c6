"""Find labelled recordings, hash them, group duplicates, assign folds."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsnd.audio import is_audio_file
from animalsnd.errors import ConfigError, DatasetError


@dataclass(frozen=True)
class Recording:
    """One audio file of a folder-per-class dataset."""

    path: Path
    label: str
    relpath: str


def discover(root: str | Path) -> list[Recording]:
    """List ``root/<label>/**`` audio files, sorted by relative path.

    Hidden files and folders are ignored; extensions match in any case.

    Raises
    ------
    DatasetError
        ``root`` is missing or has no class folder holding audio.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: data folder does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    out: list[Recording] = []
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for d in class_dirs:
        for p in sorted(d.rglob("*")):
            rel = p.relative_to(root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if is_audio_file(p):
                out.append(Recording(p, d.name, rel.as_posix()))
    if not out:
        raise DatasetError(
            f"{root}: no class folders with audio files (expected {root}/<label>/*.wav|flac|ogg|mp3|aiff)"
        )
    return out


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def duplicate_of(shas: list[str], names: list[str]) -> list[str]:
    """For each item, the name of the first item with the same hash ('' if first)."""
    first: dict[str, str] = {}
    out = []
    for sha, name in zip(shas, names):
        if sha in first:
            out.append(first[sha])
        else:
            first[sha] = name
            out.append("")
    return out


def assign_folds(
    labels: list[str], groups: list[str], *, n_folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Stratified, grouped, seeded fold index per item.

    Items sharing a group (e.g. identical content) always land in the same
    fold; class proportions are kept as far as the groups allow.

    Returns
    -------
    np.ndarray, shape (n,), int
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if not isinstance(n_folds, int) or n_folds < 2:
        raise ConfigError(f"folds={n_folds!r} must be an integer >= 2")
    n_groups = len(set(groups))
    if n_groups < n_folds:
        raise DatasetError(f"only {n_groups} unique clips, fewer than folds={n_folds}")
    folds = np.full(len(labels), -1, dtype=int)
    skf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    dummy = np.zeros(len(labels))
    for k, (_, test) in enumerate(skf.split(dummy, labels, groups)):
        folds[test] = k
    return folds


def fingerprint(shas: list[str], labels: list[str]) -> str:
    """Order-independent hash of a dataset's (content, label) pairs."""
    h = hashlib.sha256()
    for s, lab in sorted(zip(shas, labels)):
        h.update(f"{s}\t{lab}\n".encode())
    return h.hexdigest()[:16]


def class_counts(labels: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(labels).items()))
