"""Clip descriptors: fixed-length summary statistics of a recording's spectrum.

What ``--model stats-mlp`` classifies. The per-band z-normalisation of the
log-Mel features removes each band's level, i.e. the spectral envelope that
tells a cow from a cat; these statistics keep it. Per clip (16 kHz mono)::

    Mel power, 64 bands 50 Hz - 8 kHz, n_fft 1024, hop 256 (16 ms)
      -> dB relative to the clip's loudest bin (level-invariant)
      -> active frames: loudest band within 40 dB of the clip maximum
      -> per band over the active frames: mean, std, 10/50/90th percentile,
         mean absolute frame-to-frame change                      6 x 64 = 384
      -> 20 MFCCs (all frames): mean, std, std of their deltas    3 x 20 =  60
      -> active fraction of the frames                                       1
      -> autocorrelation of the frame envelope, lags 1-63 step 2 (periodicity) 32
      -> spectral contrast (6 bands + valley), mean and std       2 x 7  =  14
                                                                  ---------------
                                                                  DIM    = 491

Nothing depends on the clip's duration or absolute level.

Layout of the store, next to the log-Mel features of a prepared cache::

    CACHE_DIR/descriptors/<spec-hash>/spec.json      what made them
    CACHE_DIR/descriptors/<spec-hash>/<sha256>.npz   float32 [DIM]
    CACHE_DIR/descriptors/<spec-hash>/<sha256>.err   why the clip could not be read

Computed in parallel (joblib), written atomically, reused on re-runs.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsnd.cache import FeatureSet, fill_store, read_config, row_fields, usable_rows
from animalsnd.cache_check import UNREADABLE
from animalsnd.errors import DatasetError
from animalsnd.trim import TRIM

__all__ = ["DIM", "SPEC", "DescriptorSet", "cache_fmax", "describe", "describe_clip", "describe_file",
           "ensure_descriptors", "load_descriptor_set", "spec", "spec_hash"]

Progress = Callable[[int, int], None]

#: Everything that decides a descriptor (stored in bundles; its hash names the store).
#: ``trim``: a whole clip is cut to its active region first (:mod:`animalsnd.trim`; not predict's windows).
SPEC: dict = {
    "version": 1, "sr": 16000, "n_fft": 1024, "hop_length": 256, "n_mels": 64, "fmin": 50.0,
    "n_mfcc": 20, "active_db": 40.0, "max_lag": 64, "lag_step": 2, "resample": "soxr-HQ", "trim": TRIM,
}
_PERCENTILES = (10, 50, 90)
_CONTRAST_BANDS = 6
DIM = (len(_PERCENTILES) + 3) * SPEC["n_mels"] + 3 * SPEC["n_mfcc"] + 1 \
    + len(range(1, SPEC["max_lag"], SPEC["lag_step"])) + 2 * (_CONTRAST_BANDS + 1)


def spec(fmax: float | None = None) -> dict:
    """:data:`SPEC` with the analysis cut-off ``fmax`` (Hz; None: the full band).

    The cut-off is left out when None, so stores and bundles made before it
    keep their hash.
    """
    return dict(SPEC) if fmax is None else {**SPEC, "fmax": float(fmax)}


def cache_fmax(cache_dir: str | Path) -> float | None:
    """The analysis cut-off of a prepared cache (its feature config's ``fmax``)."""
    return read_config(cache_dir)["feature"].get("fmax")


def describe(y: np.ndarray, *, sr: int = SPEC["sr"], fmax: float | None = None) -> np.ndarray:
    """Descriptor of one clip.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono waveform at ``sr`` (must be ``SPEC["sr"]``), at least one sample.
    fmax : float, optional
        Analysis cut-off (Hz): nothing above it reaches any statistic.

    Returns
    -------
    np.ndarray, shape (DIM,), float32
    """
    if sr != SPEC["sr"]:
        raise ValueError(f"sr={sr} must be {SPEC['sr']}")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"need a non-empty mono waveform, got shape {y.shape}")
    with warnings.catch_warnings():  # librosa warns about clips shorter than n_fft; they are padded
        warnings.simplefilter("ignore", UserWarning)
        return _describe(y, sr, fmax)


def _describe(y: np.ndarray, sr: int, fmax: float | None = None) -> np.ndarray:
    import librosa

    n_mels, hop, n_fft = SPEC["n_mels"], SPEC["hop_length"], SPEC["n_fft"]
    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))  # one STFT for the Mel bands and the contrast
    if fmax is not None:  # the analysis band: bins above the cut-off carry nothing
        mag[librosa.fft_frequencies(sr=sr, n_fft=n_fft) > fmax] = 0.0
    S = librosa.feature.melspectrogram(S=mag**2, sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=SPEC["fmin"], fmax=fmax)
    P = librosa.power_to_db(S + 1e-10)
    L = P - P.max()  # relative to the loudest bin: level-invariant
    env = L.max(axis=0)
    act = env > -SPEC["active_db"]
    La = L[:, act] if act.sum() > 1 else L
    mf = librosa.feature.mfcc(S=L, n_mfcc=SPEC["n_mfcc"])
    d = librosa.feature.delta(mf, mode="nearest") if mf.shape[1] >= 3 else np.zeros_like(mf)
    change = np.abs(np.diff(La, axis=1)).mean(axis=1) if La.shape[1] > 1 else np.zeros(n_mels)
    e = env - env.mean()
    ac = np.correlate(e, e, "full")[len(e) - 1:]
    ac = ac / (ac[0] + 1e-9)
    lags = np.zeros(SPEC["max_lag"] - 1)
    lags[: min(len(ac) - 1, len(lags))] = ac[1: SPEC["max_lag"]]
    sc = librosa.feature.spectral_contrast(S=mag, sr=sr, n_bands=_CONTRAST_BANDS)
    parts = [La.mean(axis=1), La.std(axis=1), *np.percentile(La, _PERCENTILES, axis=1), change,
             mf.mean(axis=1), mf.std(axis=1), d.std(axis=1), [act.mean()],
             lags[:: SPEC["lag_step"]], sc.mean(axis=1), sc.std(axis=1)]
    out = np.concatenate([np.ravel(p) for p in parts]).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def describe_clip(y: np.ndarray, fmax: float | None = None) -> np.ndarray:
    """Descriptor of a whole clip at 16 kHz: :func:`describe` of its active region
    (:func:`animalsnd.trim.trim`), so the quiet around a call does not dilute it."""
    from animalsnd.trim import trim

    return describe(trim(np.asarray(y, dtype=np.float32), SPEC["sr"], SPEC["trim"]), fmax=fmax)


def describe_file(path: str | Path, fmax: float | None = None) -> np.ndarray:
    """Descriptor of an audio file (decoded and resampled to 16 kHz; :func:`describe_clip`).

    Raises
    ------
    AudioError
        Unreadable, empty, silent or NaN audio.
    """
    from animalsnd.audio import load

    y, _ = load(path, sr=SPEC["sr"])
    return describe_clip(y, fmax=fmax)


def spec_hash(fmax: float | None = None) -> str:
    """Short hash of :func:`spec` (names the store folder)."""
    return hashlib.sha256(json.dumps(spec(fmax), sort_keys=True).encode()).hexdigest()[:16]


_UNSET = object()


def store_dir(cache_dir: str | Path, fmax=_UNSET) -> Path:
    """The store of descriptors with cut-off ``fmax`` (default: the cache's own)."""
    fmax = cache_fmax(cache_dir) if fmax is _UNSET else fmax
    return Path(cache_dir) / "descriptors" / spec_hash(fmax)


def _store_arrays(path: str, fmax: float | None = None) -> dict[str, np.ndarray]:
    return {"x": describe_file(path, fmax)}


def ensure_descriptors(cache_dir: str | Path, *, rows: list[dict] | None = None, jobs: int = -1,
                       progress: Progress | None = None, fmax=_UNSET) -> tuple[Path, int, int]:
    """Describe every usable clip of a cache that is not in the store yet.

    ``fmax`` is the analysis cut-off (default: the cache's own, from its
    feature config), so a bundle evaluated on another cache keeps its own.

    Returns
    -------
    (store, computed, reused)
    """
    from functools import partial

    fmax = cache_fmax(cache_dir) if fmax is _UNSET else fmax
    rows = usable_rows(cache_dir) if rows is None else rows
    compute = _store_arrays if fmax is None else partial(_store_arrays, fmax=fmax)
    return fill_store(store_dir(cache_dir, fmax), rows, compute, spec=spec(fmax), spec_name="spec.json",
                      jobs=jobs, progress=progress)


def read_descriptor(store: Path, sha: str) -> np.ndarray:
    """The stored descriptor of one clip, ``(DIM,)``."""
    npz = store / f"{sha}.npz"
    try:
        with np.load(npz) as z:
            x = np.asarray(z["x"], dtype=np.float32)
        if x.shape != (DIM,):
            raise ValueError(f"shape {x.shape}")
        return x
    except UNREADABLE:
        err = store / f"{sha}.err"
        reason = err.read_text().strip() if err.exists() else "missing or corrupt descriptor file"
        raise DatasetError(f"{npz}: {reason}") from None


@dataclass
class DescriptorSet(FeatureSet):
    """A :class:`~animalsnd.cache.FeatureSet` whose ``X`` holds descriptors, shape ``(n, DIM)``."""

    cache_dir: Path | None = None


def load_descriptor_set(cache_dir: str | Path, *, jobs: int = -1,
                        progress: Progress | None = None) -> DescriptorSet:
    """Descriptors of a cache's usable clips (computed when missing).

    Rows, labels, folds and hashes are those of
    :func:`animalsnd.cache.load_features` on the same cache.

    Raises
    ------
    DatasetError
        Not a cache, or a clip that could not be described.
    """
    cache_dir = Path(cache_dir)
    conf = read_config(cache_dir)
    rows = usable_rows(cache_dir)
    store, _, _ = ensure_descriptors(cache_dir, rows=rows, jobs=jobs, progress=progress)
    return DescriptorSet(X=np.stack([read_descriptor(store, r["sha256"]) for r in rows]),
                         **row_fields(rows, conf), cache_dir=cache_dir)
