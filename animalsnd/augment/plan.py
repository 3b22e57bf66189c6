"""Which clip each augmented copy comes from, and which source clips can still be read.

``calibrated`` sets cycle through each class's clips until every class has
its target; ``simple`` sets draw the same total from all clips regardless of
class. A source whose audio is gone or changed since ``prepare`` gets no copy.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsnd.dataset import sha256_file

__all__ = ["Copy", "check_sources", "plan_copies", "targets"]


def check_sources(cache_dir: Path, rows: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Split rows into those whose audio is still there, unchanged, and the rest."""
    try:
        index = json.loads((cache_dir / "hashes.json").read_text())
    except (OSError, ValueError):
        index = {}
    ok, bad = [], []
    for r in rows:
        p = Path(r["path"])
        try:
            st = p.stat()
        except OSError:
            bad.append((r["path"], "missing"))
            continue
        hit = index.get(r["path"])
        if hit and hit[:2] == [st.st_size, st.st_mtime_ns]:
            sha = hit[2]
        else:
            try:
                sha = sha256_file(p)
            except OSError as exc:
                bad.append((r["path"], f"cannot read ({exc.strerror})"))
                continue
        if sha != r["sha256"]:
            bad.append((r["path"], "changed since prepare"))
            continue
        ok.append(r)
    return ok, bad


@dataclass(frozen=True)
class Copy:
    """One planned augmented copy."""

    index: int
    source: dict  # a manifest row of the cache

    @property
    def id(self) -> str:
        return f"{self.index:06d}"


def targets(counts: dict[str, int], per_class: int | None) -> dict[str, int]:
    if per_class is not None:
        return {c: per_class for c in sorted(counts)}
    top = max(counts.values())
    return {c: top - n for c, n in sorted(counts.items())}


def plan_copies(
    sources: list[dict],
    *,
    mode: str,
    counts: dict[str, int],
    per_class: int | None,
    seed: int,
) -> list[Copy]:
    """Decide which source clip each augmented copy comes from.

    Parameters
    ----------
    sources : list of dict
        Cache manifest rows whose audio is available.
    mode : {"calibrated", "simple"}
    counts : dict
        Usable clips per class in the cache (sets the default targets).
    per_class : int or None
        Copies per class; ``None``: enough to reach the largest class.
    seed : int

    Returns
    -------
    list of Copy
        Indexed 0..n-1. ``calibrated``: per class (sorted), the class's
        sources shuffled and cycled. ``simple``: the same total, all sources
        shuffled and cycled regardless of class.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    wanted = targets(counts, per_class)
    picks: list[dict] = []
    if mode == "calibrated":
        by_class: dict[str, list[dict]] = defaultdict(list)
        for r in sources:
            by_class[r["label"]].append(r)
        for label, target in wanted.items():
            pool = by_class.get(label, [])
            if not pool or target == 0:
                continue
            order = rng.permutation(len(pool))
            picks += [pool[order[k % len(pool)]] for k in range(target)]
    else:
        total = sum(wanted.values())
        order = rng.permutation(len(sources))
        picks = [sources[order[k % len(sources)]] for k in range(total)]
    return [Copy(i, r) for i, r in enumerate(picks)]
