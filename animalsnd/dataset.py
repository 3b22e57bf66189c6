"""Find labelled recordings, hash them, group duplicates, assign folds."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsnd.audio import is_audio_file
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.labelmap import folder_label


@dataclass(frozen=True)
class Recording:
    """One audio file of a folder-per-class dataset."""

    path: Path
    label: str
    relpath: str


def discover(root: str | Path) -> list[Recording]:
    """List ``root/<label>/**`` audio files, sorted by relative path.

    Hidden files and folders are ignored; extensions match in any case. A
    folder's label is its name, or its class under an active ``--map``
    (:mod:`animalsnd.labelmap`).

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
    loops = set(looped_links(root))
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p not in loops)
    for d in class_dirs:
        for p in sorted(d.rglob("*")):
            rel = p.relative_to(root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if is_audio_file(p):
                out.append(Recording(p, folder_label(d.name), rel.as_posix()))
    if not out:
        raise DatasetError(
            f"{root}: no class folders with audio files (expected {root}/<label>/*.wav|flac|ogg|mp3|aiff)"
        )
    return out


def check_one_level_down(root: str | Path, recs: list[Recording]) -> None:
    """Refuse, before any work, a data folder whose only class folder holds its clips in two or
    more folders of their own (an archive unpacked into a folder of its own): those are the
    class folders, one level down.

    Raises
    ------
    DatasetError
        Naming the folder to give instead.
    """
    labels = {r.label for r in recs}
    if len(labels) != 1:
        return
    inner = sorted({Path(r.relpath).parts[1] for r in recs if len(Path(r.relpath).parts) > 2})
    if len(inner) >= 2 and all(len(Path(r.relpath).parts) > 2 for r in recs):
        top = Path(recs[0].relpath).parts[0]
        shown = ", ".join(inner[:4]) + (", ..." if len(inner) > 4 else "")
        raise DatasetError(f"{root}: one class folder ({top}), its clips in {len(inner)} folders of their own "
                           f"({shown}); the class folders seem to be one level down: {Path(root) / top}")


def looped_links(root: str | Path) -> list[Path]:
    """Class folders of ``root`` that are links to ``root`` itself, to a folder
    inside it or to one holding it: following them would read the same
    recordings again as a fake class."""
    root = Path(root)
    top = root.resolve()
    out = []
    for p in sorted(root.iterdir()):
        if p.is_symlink() and p.is_dir():
            target = p.resolve()
            if target == top or top in target.parents or target in top.parents:
                out.append(p)
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


def small_classes(labels: list[str], groups: list[str], *, n_folds: int) -> dict[str, int]:
    """Classes with fewer unique clips (groups) than ``n_folds``, with their count."""
    per_class: dict[str, set] = {}
    for lab, g in zip(labels, groups):
        per_class.setdefault(lab, set()).add(g)
    return {lab: len(gs) for lab, gs in sorted(per_class.items()) if len(gs) < n_folds}


def assign_folds(
    labels: list[str], groups: list[str], *, n_folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Stratified, grouped, seeded fold index per item.

    Items sharing a group (e.g. identical content) always land in the same
    fold; class proportions are kept as far as the groups allow. A class
    with fewer groups than ``n_folds`` (see :func:`small_classes`) is spread
    over as many folds as it has groups, one group per fold.

    Returns
    -------
    np.ndarray, shape (n,), int
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if not isinstance(n_folds, int) or n_folds < 2:
        raise ConfigError(f"folds={n_folds!r} must be an integer >= 2")
    n_groups = len(set(groups))
    if n_groups < n_folds:
        raise DatasetError(f"only {n_groups} unique clips, fewer than folds={n_folds}; prepare with fewer --folds")
    folds = np.full(len(labels), -1, dtype=int)
    small = small_classes(labels, groups, n_folds=n_folds)
    big = [i for i, lab in enumerate(labels) if lab not in small]
    if len({groups[i] for i in big}) >= n_folds:
        skf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        sub_labels, sub_groups = [labels[i] for i in big], [groups[i] for i in big]
        for k, (_, test) in enumerate(skf.split(np.zeros(len(big)), sub_labels, sub_groups)):
            folds[np.asarray(big)[test]] = k
    else:
        small = {lab: 0 for lab in labels}  # too few clips for stratification: every class spread by hand
    fold_of = {groups[i]: int(folds[i]) for i in range(len(labels)) if folds[i] >= 0}
    rng = np.random.default_rng(seed)
    load = np.bincount(folds[folds >= 0], minlength=n_folds)
    for lab in sorted(small):
        mine = sorted({g for la, g in zip(labels, groups) if la == lab})
        used = {fold_of[g] for g in mine if g in fold_of}  # a group shared with a placed class keeps its fold
        for g in (g for g in mine if g not in fold_of):
            order = np.lexsort((rng.random(n_folds), load, [k in used for k in range(n_folds)]))
            fold_of[g] = int(order[0])  # a fold without this class, least filled, ties at random
            used.add(fold_of[g])
            load[fold_of[g]] += 1
    for i, g in enumerate(groups):
        folds[i] = fold_of[g]
    return folds


def fingerprint(shas: list[str], labels: list[str]) -> str:
    """Order-independent hash of a dataset's (content, label) pairs."""
    h = hashlib.sha256()
    for s, lab in sorted(zip(shas, labels)):
        h.update(f"{s}\t{lab}\n".encode())
    return h.hexdigest()[:16]


def class_counts(labels: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(labels).items()))
