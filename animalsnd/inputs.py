"""Labelled model inputs for scoring a bundle: from its held-out fold, a prepared cache or a raw folder.

The pieces every model family builds its evaluation data from: finding the
clips (the bundle's held-out fold in the cache it was trained on, every
usable clip of another cache, or a folder-per-class directory), reading
per-clip vectors from a cache's store, computing inputs of raw files in
parallel, and the :class:`EvalData` they end in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.config import FeatureConfig
from animalsnd.errors import DatasetError
from animalsnd.labelmap import class_index, loose_notes, unmatched_note

__all__ = [
    "EvalData", "Progress", "check_cfg", "feature_set_data", "folder_inputs", "held_out_cache", "is_cache",
    "missing_note", "store_data", "training_cache_note", "training_overlap_note",
]

Progress = Callable[[int, int], None]
_MAX_LISTED = 10


@dataclass
class EvalData:
    """Labelled features ready for a bundle, and what could not be used.

    Attributes
    ----------
    X : np.ndarray, shape (n, *bundle.input_shape), float32
    y : np.ndarray, shape (n,), int
        Indices into the bundle's classes.
    paths : list of str
    source : str
        Human-readable origin ("held-out fold 2 of CACHE", a folder, ...).
    unknown : dict[str, int]
        Clips per label that is not one of the model's classes (not scored).
    failed : list of (path, reason)
        Files that could not be decoded (skipped).
    notes : list of str
        Other warnings about the data.
    """

    X: np.ndarray
    y: np.ndarray
    paths: list[str]
    source: str
    unknown: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = []
        if self.unknown:
            out.append(unmatched_note(self.unknown))
        for path, reason in self.failed[:_MAX_LISTED]:
            out.append(f"{path}: unreadable, skipped ({reason})")
        if len(self.failed) > _MAX_LISTED:
            out.append(f"... and {len(self.failed) - _MAX_LISTED} more unreadable file(s) skipped")
        return out + list(self.notes)


def is_cache(path: Path) -> bool:
    """``path`` is a prepared feature cache (config.json and manifest.csv)."""
    return (path / "config.json").is_file() and (path / "manifest.csv").is_file()


def check_cfg(cache_cfg: FeatureConfig, bundle, where: Path) -> None:
    """Refuse a cache whose features were made with other settings than the bundle's."""
    if cache_cfg == bundle.cfg:
        return
    from dataclasses import asdict

    a, b = asdict(cache_cfg), asdict(bundle.cfg)  # every field: to_dict leaves defaults out
    diff = ", ".join(f"{k}={a[k]} (model: {b[k]})" for k in a if a[k] != b[k])
    raise DatasetError(
        f"{where}: cache was built with other feature settings than the model ({diff}); "
        f"prepare it again with the model's settings or pass the raw folder"
    )


def feature_set_data(fs, bundle, rows: np.ndarray, source: str) -> EvalData:
    """The rows of a feature set whose labels are classes of ``bundle`` (others counted as unknown)."""
    known = class_index(bundle.classes)
    labels = [fs.classes[fs.y[i]] for i in rows]
    keep = np.array([lab in known for lab in labels], dtype=bool)
    unknown = dict(Counter(lab for lab in labels if lab not in known))
    rows = rows[keep] if len(rows) else rows
    y = np.array([known[fs.classes[fs.y[i]]] for i in rows], dtype=int)
    return EvalData(X=fs.X[rows], y=y, paths=[fs.paths[i] for i in rows], source=source, unknown=unknown,
                    notes=loose_notes(known))


def held_out_cache(bundle) -> Path:
    """The cache a bundle's held-out fold is in (it must record one, and the cache must exist)."""
    cache_dir = bundle.cache_dir
    if cache_dir is None or not bundle.test_shas:
        raise DatasetError(f"{bundle.path}: the bundle records no held-out fold; pass --data")
    if not is_cache(cache_dir):
        raise DatasetError(f"{bundle.path}: its feature cache {cache_dir} is gone; pass --data")
    return cache_dir


def missing_note(bundle, found: int, cache_dir: Path) -> list[str]:
    """A note when some of the bundle's held-out clips are no longer in the cache."""
    missing = len(set(bundle.test_shas)) - found
    return [f"{missing} held-out clip(s) are no longer in {cache_dir}; scored the rest"] if missing else []


def training_cache_note(bundle, fingerprint: str) -> list[str]:
    """A note when the data scored is the bundle's own training cache."""
    trained_on = bundle.meta.get("data", {}).get("fingerprint")
    if trained_on and fingerprint == trained_on:
        return ["this cache holds the model's training clips, so the scores are optimistic; "
                "omit --data to score the held-out fold"]
    return []


def training_overlap_note(bundles: list, paths: list[str]) -> list[str]:
    """A note when scored files have the same bytes as clips the ``bundles`` were trained on
    (their cache's clips outside each bundle's held-out fold); nothing when no cache is left."""
    from animalsnd.cache import usable_rows
    from animalsnd.dataset import sha256_file

    caches = {b.cache_dir for b in bundles}
    if None in caches or not all(is_cache(c) for c in caches):
        return []
    clips = {c: {r["sha256"] for r in usable_rows(c)} for c in caches}  # each manifest read once
    trained = set().union(*(clips[b.cache_dir] - set(b.test_shas) for b in bundles))
    if not trained:
        return []
    seen = [p for p in paths if sha256_file(p) in trained]
    if not seen:
        return []
    return [f"{len(seen)} of the {len(paths)} scored clip(s) are the same files as clips the model was trained "
            f"on (first: {seen[0]}), so the scores are optimistic; score clips it has not heard"]


def store_data(bundle, data: Path | None, *, ensure: Callable, read: Callable[[Path, str], np.ndarray],
               dim: int, jobs: int = -1, progress: Progress | None = None) -> EvalData:
    """Per-clip vectors (embeddings, descriptors) of a cache's store, for a model that takes them.

    ``data`` None: the bundle's held-out fold of the cache it was trained on;
    else every usable clip of the prepared cache ``data``. ``ensure(cache,
    rows=, jobs=, progress=)`` fills the store and returns ``(store, ...)``;
    ``read(store, sha)`` gives one clip's ``(dim,)`` vector.
    """
    from animalsnd.cache import read_config, usable_rows

    cache = held_out_cache(bundle) if data is None else Path(data)
    rows = usable_rows(cache)
    if data is None:
        wanted = set(bundle.test_shas)
        rows = [r for r in rows if r["sha256"] in wanted]
        source, notes = f"held-out fold {bundle.test_fold} of {cache}", missing_note(bundle, len(rows), cache)
    else:
        source, notes = str(cache), training_cache_note(bundle, read_config(cache).get("fingerprint", ""))
    known = class_index(bundle.classes)
    unknown = dict(Counter(r["label"] for r in rows if r["label"] not in known))
    rows = [r for r in rows if r["label"] in known]
    X = np.zeros((0, dim), np.float32)
    if rows:
        store = ensure(cache, rows=rows, jobs=jobs, progress=progress)[0]
        X = np.stack([read(store, r["sha256"]) for r in rows]).astype(np.float32)
    y = np.array([known[r["label"]] for r in rows], dtype=int)
    return EvalData(X=X, y=y, paths=[r["path"] for r in rows], source=source, unknown=unknown,
                    notes=[*notes, *loose_notes(known)])


def folder_inputs(root: Path, classes: list[str], compute: Callable, *, empty_shape: tuple[int, ...],
                  to_input: Callable | None = None, jobs: int = -1, progress: Progress | None = None) -> EvalData:
    """Model inputs of a raw folder-per-class directory.

    ``compute(path)`` (a module-level function or a partial of one: it runs
    in worker processes) gives one file's result, ``to_input`` turns it into
    the model input (identity by default). Folders of other classes are
    counted, unreadable files listed with their reason.
    """
    from animalsnd.cache import compute_paths
    from animalsnd.dataset import discover

    recs = discover(root)
    known = class_index(classes)
    unknown = dict(Counter(r.label for r in recs if r.label not in known))
    recs = [r for r in recs if r.label in known]
    results = compute_paths(compute, [str(r.path) for r in recs], jobs=jobs, progress=progress)
    X, y, paths, failed = [], [], [], []
    for rec, res in zip(recs, results):
        value, reason = res if isinstance(res, tuple) else (None, getattr(res, "error", "failed"))
        if value is None:
            failed.append((rec.relpath, reason))
            continue
        X.append(value if to_input is None else to_input(value))
        y.append(known[rec.label])
        paths.append(str(rec.path))
    Xa = np.stack(X).astype(np.float32, copy=False) if X else np.zeros((0, *empty_shape), dtype=np.float32)
    return EvalData(X=Xa, y=np.array(y, dtype=int), paths=paths, source=str(root), unknown=unknown, failed=failed,
                    notes=loose_notes(known))
