"""The feature cache: parallel, atomic, resumable, keyed by content and config.

Layout of CACHE_DIR::

    config.json                     feature config, folds, seed, data folder
    manifest.csv                    one row per discovered file
    hashes.json                     (path, size, mtime) -> sha256, to skip re-hashing
    features/<config-hash>/<sha256>.npz   float32 [t <= frames, n_mels] + metadata
    features/<config-hash>/<sha256>.err   why this content could not be used
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd import __version__
from animalsnd.audio import load
from animalsnd.cache_store import compute_paths, failure_reason, fill_store, save_npz  # noqa: F401  (re-exported)
from animalsnd.cache_check import (
    UNREADABLE,
    check_config,
    check_manifest_rows,
    label_conflicts,
    reusable_meta,
)
from animalsnd.config import FeatureConfig
from animalsnd.dataset import (
    assign_folds,
    check_one_level_down,
    class_counts,
    discover,
    duplicate_of,
    fingerprint,
    sha256_file,
    small_classes,
)
from animalsnd.errors import AudioError, ConfigError, DatasetError
from animalsnd.features import fit_frames, logmel
from animalsnd.fileutil import atomic_write_bytes, atomic_write_csv, atomic_write_text, check_output_folder  # noqa: F401
from animalsnd.parallel import TaskFailure, check_backend, check_jobs, run_parallel  # noqa: F401  (re-exported)

MANIFEST_COLUMNS = [
    "path", "relpath", "label", "sha256", "duration_s", "sample_rate", "channels",
    "subtype", "fold", "duplicate_of", "status", "error",
]

Progress = Callable[[int, int], None]


# ------------------------------------------------------------------ workers
def compute_features(path: str, *, cfg: FeatureConfig) -> tuple[np.ndarray, dict]:
    """Load one file and compute its (unpadded) features and metadata."""
    y, info = load(path, sr=cfg.sr, min_samples=cfg.n_fft)
    x = logmel(y, cfg=cfg, pad=False)
    meta = {
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "duration_s": round(info.duration_s, 4),
        "subtype": info.subtype,
        "n_frames": int(x.shape[0]),
    }
    return x, meta


def _work(path: str, out: str, cfg: FeatureConfig) -> dict:
    """Worker: compute, write atomically, return metadata or the failure."""
    try:
        x, meta = compute_features(path, cfg=cfg)
    except AudioError as exc:
        reason = str(exc)
        reason = reason[len(path) + 2:] if reason.startswith(path + ": ") else reason
        atomic_write_text(Path(out).with_suffix(".err"), reason)
        return {"status": "failed", "error": reason}
    except Exception as exc:  # unexpected decoder failure: report, do not cache
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:200]}
    save_npz(Path(out), x=x, meta=np.array(json.dumps(meta)))
    return {"status": "ok", **meta}


# ------------------------------------------------------------------ prepare
@dataclass
class PrepareResult:
    """What ``prepare`` did and found."""

    cache_dir: Path
    cfg: FeatureConfig
    rows: list[dict]
    computed: int
    reused: int
    n_folds: int
    seed: int
    low_classes: dict[str, int] = field(default_factory=dict)
    missing_in_fold: dict[int, list[str]] = field(default_factory=dict)
    small_classes: dict[str, int] = field(default_factory=dict)  # fewer unique clips than folds
    label_conflicts: list[tuple[str, str]] = field(default_factory=list)  # (kept, dropped) relpaths

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "failed"]

    @property
    def classes(self) -> list[str]:
        return sorted({r["label"] for r in self.rows if r["status"] == "ok" and int(r["fold"]) >= 0})


def _hash_all(paths: list[Path], index_path: Path) -> list[str]:
    """SHA-256 per path, reusing ``hashes.json`` when size and mtime match."""
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    new_index, out = {}, []
    for p in paths:
        key = str(p.resolve())
        st = p.stat()
        sig = [st.st_size, st.st_mtime_ns]
        hit = index.get(key)
        sha = hit[2] if hit and hit[:2] == sig else sha256_file(p)
        new_index[key] = [*sig, sha]
        out.append(sha)
    if new_index != index:
        atomic_write_text(index_path, json.dumps(new_index))
    return out


def _previous_meta(cache_dir: Path, cfg_hash: str) -> dict[str, dict]:
    """ok-rows of the last manifest written with the same feature config."""
    try:
        conf = json.loads((cache_dir / "config.json").read_text())
        if conf.get("feature_hash") != cfg_hash:
            return {}
        rows = read_manifest(cache_dir)
    except (OSError, ValueError, DatasetError):
        return {}
    return {r["sha256"]: r for r in rows if r["status"] == "ok"}


def prepare(
    data_dir: str | Path,
    cache_dir: str | Path,
    *,
    cfg: FeatureConfig = FeatureConfig(),
    folds: int = 5,
    seed: int = 0,
    jobs: int = -1,
    min_per_class: int = 2,
    backend: str = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
    background: str | Path | None = None,
) -> PrepareResult:
    """Discover, decode, featurise and fold a folder-per-class dataset.

    ``background`` adds every audio file of that folder tree as the reserved
    class ``background`` (see :mod:`animalsnd.background`).

    Bad files never stop the run: they are recorded with a reason. Features
    already in the cache (same content, same config) are never recomputed.

    Raises
    ------
    DatasetError
        Missing/empty data folder, or fewer than two usable classes.
    """
    if not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"folds={folds!r} must be an integer >= 2")
    if min_per_class < 1:
        raise ConfigError(f"min-per-class={min_per_class} must be at least 1")
    check_jobs(jobs)
    check_backend(backend, scheduler)
    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    from animalsnd.annotated import is_clips_dir

    # the clips cut from annotated recordings live inside the cache (animalsnd.annotated)
    check_output_folder(cache_dir, "--cache", inputs=[] if is_clips_dir(data_dir, cache_dir) else [data_dir])
    recs = discover(data_dir)
    if background is None:
        check_one_level_down(data_dir, recs)
    else:
        from animalsnd.background import discover_background

        recs += discover_background(background)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cfg_hash = cfg.hash()
    feat_dir = cache_dir / "features" / cfg_hash
    feat_dir.mkdir(parents=True, exist_ok=True)

    shas = _hash_all([r.path for r in recs], cache_dir / "hashes.json")
    dups = duplicate_of(shas, [r.relpath for r in recs])
    prev = _previous_meta(cache_dir, cfg_hash)

    meta_by_sha: dict[str, dict] = {}
    tasks, task_shas = [], []
    for rec, sha in zip(recs, shas):
        if sha in meta_by_sha or sha in task_shas:
            continue
        npz, err = feat_dir / f"{sha}.npz", feat_dir / f"{sha}.err"
        meta = reusable_meta(npz, cfg) if npz.exists() else None
        if meta is not None:
            meta_by_sha[sha] = {**(prev.get(sha) or meta), "status": "ok"}
        elif err.exists():
            meta_by_sha[sha] = {"status": "failed", "error": err.read_text().strip()}
        else:
            tasks.append((str(rec.path), str(npz), cfg))
            task_shas.append(sha)
    reused = sum(m["status"] == "ok" for m in meta_by_sha.values())  # known failures count as failed
    results = run_parallel(_work, tasks, jobs=jobs, backend=backend, scheduler=scheduler,
                           progress=progress)
    for sha, res in zip(task_shas, results):
        if isinstance(res, TaskFailure):
            res = {"status": "failed", "error": res.error}
        meta_by_sha[sha] = res
    computed = sum(meta_by_sha[sha]["status"] == "ok" for sha in task_shas)

    rows = []
    for rec, sha, dup in zip(recs, shas, dups):
        m = meta_by_sha[sha]
        rows.append({
            "path": str(rec.path.resolve()),
            "relpath": rec.relpath,
            "label": rec.label,
            "sha256": sha,
            "duration_s": m.get("duration_s", ""),
            "sample_rate": m.get("sample_rate", ""),
            "channels": m.get("channels", ""),
            "subtype": m.get("subtype", ""),
            "fold": -1,
            "duplicate_of": dup,
            "status": m["status"],
            "error": m.get("error", ""),
        })

    if background is not None:
        from animalsnd.background import check_usable

        check_usable(rows, background)
    ok = [r for r in rows if r["status"] == "ok"]
    unique_ok = class_counts([r["label"] for r in ok if not r["duplicate_of"]])
    low = {lab: n for lab, n in unique_ok.items() if n < min_per_class}
    for r in rows:
        if r["status"] == "failed":
            continue
        if r["label"] in low:
            r["error"] = f"class has {low[r['label']]} usable clips, fewer than --min-per-class {min_per_class}"
    usable = [r for r in ok if r["label"] not in low]
    n_classes = len({r["label"] for r in usable})
    missing: dict[int, list[str]] = {}
    small: dict[str, int] = {}
    if n_classes >= 2:
        labels, groups = [r["label"] for r in usable], [r["sha256"] for r in usable]
        small = small_classes(labels, groups, n_folds=folds)
        fold_idx = assign_folds(labels, groups, n_folds=folds, seed=seed)
        for r, k in zip(usable, fold_idx):
            r["fold"] = int(k)
        for k in range(folds):
            present = {r["label"] for r in usable if r["fold"] == k}
            gone = sorted({r["label"] for r in usable} - present - set(small))
            if gone:
                missing[k] = gone

    write_manifest(cache_dir, rows)
    conf = {
        "animalsnd_version": __version__,
        "feature": cfg.to_dict(),
        "feature_hash": cfg_hash,
        "folds": folds,
        "seed": seed,
        "min_per_class": min_per_class,
        "data_dir": str(data_dir.resolve()),
        **({"background_dir": str(Path(background).resolve())} if background is not None else {}),
        "fingerprint": fingerprint([r["sha256"] for r in usable], [r["label"] for r in usable]),
    }
    atomic_write_text(cache_dir / "config.json", json.dumps(conf, indent=2) + "\n")
    if n_classes < 2:
        raise DatasetError(
            f"{data_dir}: {n_classes} usable class(es); need at least two classes with "
            f">= {min_per_class} usable clips"
        )
    return PrepareResult(cache_dir, cfg, rows, computed, reused, folds, seed, low, missing, small,
                         label_conflicts(rows))


# ------------------------------------------------------------------ reading
def write_manifest(cache_dir: Path, rows: list[dict]) -> None:
    atomic_write_csv(Path(cache_dir) / "manifest.csv", rows, MANIFEST_COLUMNS)


def read_manifest(cache_dir: str | Path) -> list[dict]:
    path = Path(cache_dir) / "manifest.csv"
    if not path.exists():
        raise DatasetError(f"{cache_dir}: not a feature cache (no manifest.csv; run `animalsnd prepare` first)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: unreadable ({exc}); re-run `animalsnd prepare`") from None
    check_manifest_rows(path, rows, MANIFEST_COLUMNS)
    return rows


def usable_rows(cache_dir: str | Path) -> list[dict]:
    """Manifest rows of the clips models use: decoded, in a fold, not a duplicate.

    Raises
    ------
    DatasetError
        Not a cache, or no such clip.
    """
    all_rows = read_manifest(cache_dir)
    try:
        in_folds = [r for r in all_rows if r["status"] == "ok" and int(r["fold"]) >= 0]
    except ValueError:
        raise DatasetError(f"{Path(cache_dir) / 'manifest.csv'}: malformed fold column; "
                           "re-run `animalsnd prepare`") from None
    expected = read_config(cache_dir).get("fingerprint")
    if expected and fingerprint([r["sha256"] for r in in_folds], [r["label"] for r in in_folds]) != expected:
        raise DatasetError(f"{Path(cache_dir) / 'manifest.csv'}: does not match the data fingerprint in "
                           "config.json (edited or truncated); re-run `animalsnd prepare`")
    rows = [r for r in in_folds if not r["duplicate_of"]]
    if not rows:
        raise DatasetError(f"{cache_dir}: no usable clips in the cache")
    return rows


def row_fields(rows: list[dict], conf: dict) -> dict:
    """The :class:`FeatureSet` fields other than ``X`` for manifest ``rows`` of a cache with ``conf``."""
    classes = sorted({r["label"] for r in rows})
    return dict(
        y=np.array([classes.index(r["label"]) for r in rows], dtype=int), classes=classes,
        folds=np.array([int(r["fold"]) for r in rows]), shas=[r["sha256"] for r in rows],
        paths=[r["path"] for r in rows], cfg=FeatureConfig.from_dict(conf["feature"]),
        n_folds=int(conf["folds"]), seed=int(conf["seed"]), fingerprint=conf.get("fingerprint", ""),
    )


def read_config(cache_dir: str | Path) -> dict:
    path = Path(cache_dir) / "config.json"
    if not path.exists():
        raise DatasetError(f"{cache_dir}: not a feature cache (no config.json; run `animalsnd prepare` first)")
    try:
        conf = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path}: corrupt ({exc}); re-run `animalsnd prepare`") from None
    check_config(path, conf)
    return conf


@dataclass
class FeatureSet:
    """Cached features of the usable, de-duplicated clips of a dataset."""

    X: np.ndarray  # (n, frames, n_mels) float32
    y: np.ndarray  # (n,) int, index into classes
    classes: list[str]
    folds: np.ndarray  # (n,) int
    shas: list[str]
    paths: list[str]
    cfg: FeatureConfig
    n_folds: int
    seed: int
    fingerprint: str

    def __len__(self) -> int:
        return len(self.y)


def stack_npz(paths: list[Path], *, cfg: FeatureConfig, what: str, fix: str) -> np.ndarray:
    """Read the ``x`` arrays of cached .npz files, padded to ``cfg.frames``.

    Returns
    -------
    np.ndarray, shape (len(paths), cfg.frames, cfg.n_mels), float32

    Raises
    ------
    DatasetError
        A file is missing or corrupt (named, with ``what`` and ``fix``).
    """
    X = np.zeros((len(paths), cfg.frames, cfg.n_mels), dtype=np.float32)
    for i, npz in enumerate(paths):
        try:
            with np.load(npz) as z:
                X[i] = fit_frames(z["x"], frames=cfg.frames)
        except UNREADABLE as exc:
            raise DatasetError(f"{npz}: missing or corrupt {what} ({type(exc).__name__}: {exc}); {fix}") from None
    return X


def load_features(cache_dir: str | Path) -> FeatureSet:
    """Read a prepared cache: one row per unique usable clip, padded to frames."""
    cache_dir = Path(cache_dir)
    conf = read_config(cache_dir)
    cfg = FeatureConfig.from_dict(conf["feature"])
    feat_dir = cache_dir / "features" / cfg.hash()
    rows = usable_rows(cache_dir)
    X = stack_npz([feat_dir / f"{r['sha256']}.npz" for r in rows], cfg=cfg,
                  what="cache entry", fix="re-run prepare")
    return FeatureSet(X=X, **row_fields(rows, conf))
