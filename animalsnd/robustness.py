"""Noisy copies of evaluation clips, for measuring robustness to background noise.

Every clip gets noise at exactly the requested SNR, measured against the
active part of the call (the calibrated method of
:mod:`animalsnd.augment.store`). Clip ``i`` of the list always draws its noise
file and offset from ``SeedSequence(seed, spawn_key=(i,))``, so a sweep over
SNRs adds the *same* noise segment at different levels, and results do not
depend on ``jobs``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from animalsnd.audio import load
from animalsnd.augment.noise import NoiseMixer
from animalsnd.augment.noisebank import load_noise_bank, load_noise_waveforms
from animalsnd.augment.store import copy_rng, feature_window, mix
from animalsnd.cache import Progress, run_parallel
from animalsnd.config import FeatureConfig
from animalsnd.errors import AudioError, ConfigError
from animalsnd.features import logmel

__all__ = ["noisy_features"]


def _noisy_one(
    path: str,
    index: int,
    cfg: FeatureConfig,
    noise_root: str,
    noise_names: tuple[str, ...],
    snr_db: float,
    seed: int,
) -> tuple[np.ndarray, float] | str:
    """Worker: features of one clip with noise at ``snr_db``, or why it failed."""
    try:
        y, _ = load(path, sr=cfg.sr, min_samples=cfg.n_fft)
    except AudioError as exc:
        return str(exc)
    y = y[: feature_window(cfg)]
    noises = load_noise_waveforms(noise_root, noise_names, cfg.sr)
    mixer = NoiseMixer(noises, snr_db=snr_db, reference="active", sr=cfg.sr, noise_names=noise_names)
    mixed, info = mix(y, mixer, copy_rng(seed, index))
    return logmel(mixed, cfg=cfg, pad=True), info["realised_snr_db"]


def noisy_features(
    paths: list[str],
    cfg: FeatureConfig,
    noise_dir: str | Path,
    *,
    snr_db: float,
    seed: int = 0,
    jobs: int = -1,
    progress: Progress | None = None,
    return_snr: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Features of evaluation clips with background noise at one SNR.

    Parameters
    ----------
    paths : list of str
        Audio files (e.g. the ``paths`` of a :class:`~animalsnd.cache.FeatureSet`).
    cfg : FeatureConfig
        The model's feature configuration.
    noise_dir : str or Path
        Folder of noise recordings, searched recursively.
    snr_db : float
        Target SNR in dB against the active level of each clip.
    seed : int
        Clip ``i`` uses the generator ``(seed, i)`` for its noise and offset.
    jobs : int
        Parallel workers (-1: all cores); the result does not depend on it.
    progress : callable(done, total), optional
    return_snr : bool
        Also return the realised SNR of each clip.

    Returns
    -------
    X : np.ndarray, shape (n, cfg.frames, cfg.n_mels), float32
    snr : np.ndarray, shape (n,), float
        Only with ``return_snr=True``.

    Raises
    ------
    ConfigError
        Non-finite ``snr_db``, negative ``seed`` or ``jobs == 0``.
    DatasetError
        No usable noise in ``noise_dir``.
    AudioError
        An evaluation clip cannot be read (the message says how many).
    """
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.integer, np.floating)) \
            or not math.isfinite(snr_db):
        raise ConfigError(f"snr_db={snr_db!r} must be a finite number of dB")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    if not isinstance(jobs, int) or jobs == 0:
        raise ConfigError(f"jobs={jobs!r} must be -1 (all cores) or a positive integer")
    bank = load_noise_bank(noise_dir, sr=cfg.sr)
    tasks = [
        (str(p), i, cfg, str(bank.root), tuple(bank.names), float(snr_db), int(seed))
        for i, p in enumerate(paths)
    ]
    results = run_parallel(_noisy_one, tasks, jobs=jobs, progress=progress)
    X = np.zeros((len(paths), cfg.frames, cfg.n_mels), dtype=np.float32)
    snr = np.zeros(len(paths), dtype=float)
    failed = []
    for i, res in enumerate(results):
        if isinstance(res, tuple):
            X[i], snr[i] = res
        else:
            failed.append(res if isinstance(res, str) else f"{paths[i]}: {getattr(res, 'error', res)}")
    if failed:
        raise AudioError(f"{len(failed)} of {len(paths)} evaluation clips could not be read (first: {failed[0]})")
    return (X, snr) if return_snr else X
