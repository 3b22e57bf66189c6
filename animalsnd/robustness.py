"""Noisy copies of evaluation clips, for measuring robustness to background noise.

Every clip gets noise at exactly the requested SNR, measured against the
active part of the call (the calibrated method of
:mod:`animalsnd.augment.copies`). Clip ``i`` of the list always draws its noise
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
from animalsnd.augment.copies import copy_rng, feature_window, mix
from animalsnd.cache import Progress, run_parallel
from animalsnd.config import FeatureConfig
from animalsnd.errors import AudioError, ConfigError
from animalsnd.features import logmel

__all__ = ["noisy_features", "noisy_vectors"]


def _mixed(path: str, index: int, sr: int, noise_root: str, noise_names: tuple[str, ...], snr_db: float,
           seed: int, *, min_samples: int = 1, max_samples: int | None = None) -> tuple[np.ndarray, float]:
    """Clip ``index`` at ``sr`` (cut to ``max_samples``) with noise at ``snr_db``, and the realised SNR."""
    y, _ = load(path, sr=sr, min_samples=min_samples)
    y = y[:max_samples] if max_samples else y
    noises = load_noise_waveforms(noise_root, noise_names, sr)
    mixer = NoiseMixer(noises, snr_db=snr_db, reference="active", sr=sr, noise_names=noise_names)
    mixed, info = mix(y, mixer, copy_rng(seed, index))
    return mixed, info["realised_snr_db"]


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
        mixed, snr = _mixed(path, index, cfg.sr, noise_root, noise_names, snr_db, seed,
                            min_samples=cfg.n_fft, max_samples=feature_window(cfg))
    except AudioError as exc:
        return str(exc)
    return logmel(mixed, cfg=cfg, pad=True), snr


def _noisy_vector(
    path: str,
    index: int,
    to_vector,
    noise_root: str,
    noise_names: tuple[str, ...],
    snr_db: float,
    seed: int,
) -> tuple[np.ndarray, float] | str:
    """Worker: a vector model's input (``to_vector`` of the mixed clip) of one noisy clip."""
    try:
        mixed, snr = _mixed(path, index, to_vector.sr, noise_root, noise_names, snr_db, seed)
    except AudioError as exc:
        return str(exc)
    return to_vector(mixed), snr


def _check_noise_options(snr_db: object, seed: object, jobs: object) -> None:
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.integer, np.floating)) \
            or not math.isfinite(snr_db):
        raise ConfigError(f"snr_db={snr_db!r} must be a finite number of dB")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    if not isinstance(jobs, int) or jobs == 0:
        raise ConfigError(f"jobs={jobs!r} must be -1 (all cores) or a positive integer")


def _collect(results: list, paths: list[str], empty_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Stacked inputs and realised SNRs of the workers' results (``empty_shape`` per clip when there are none)."""
    failed = [res if isinstance(res, str) else f"{paths[i]}: {getattr(res, 'error', res)}"
              for i, res in enumerate(results) if not isinstance(res, tuple)]
    if failed:
        raise AudioError(f"{len(failed)} of {len(paths)} evaluation clips could not be read (first: {failed[0]})")
    if not results:
        return np.zeros((0, *empty_shape), dtype=np.float32), np.zeros(0)
    return np.stack([x for x, _ in results]).astype(np.float32), np.array([s for _, s in results], dtype=float)


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
    return _noisy(_noisy_one, (cfg,), paths, noise_dir, sr=cfg.sr, empty_shape=cfg.shape, snr_db=snr_db,
                  seed=seed, jobs=jobs, progress=progress, return_snr=return_snr)


def noisy_vectors(paths: list[str], to_vector, noise_dir: str | Path,
                  **options) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Per-clip vectors (a pooled BirdNET embedding, a clip descriptor) of evaluation clips with noise at one SNR.

    ``to_vector`` (an :class:`animalsnd.families.WaveInput`, from the model's
    family) names the rate ``sr`` and turns one waveform at that rate into the
    model's input. The whole clip is mixed at that rate with the seeding and
    calibration of :func:`noisy_features`, then turned into its vector exactly
    as the training clips were. ``options`` and errors are those of
    :func:`noisy_features`.
    """
    # no clips: (0, 0), as the width of a vector is only known once a clip is embedded or described
    return _noisy(_noisy_vector, (to_vector,), paths, noise_dir, sr=int(to_vector.sr), empty_shape=(0,),
                  **{"seed": 0, "jobs": -1, "progress": None, "return_snr": False, **options})


def _noisy(worker, extra: tuple, paths: list[str], noise_dir, *, sr: int, empty_shape: tuple[int, ...], snr_db: float,
           seed: int, jobs: int, progress: Progress | None, return_snr: bool):
    """Run ``worker(path, i, *extra, noise_root, noise_names, snr_db, seed)`` on every clip."""
    _check_noise_options(snr_db, seed, jobs)
    bank = load_noise_bank(noise_dir, sr=sr)
    tasks = [(str(p), i, *extra, str(bank.root), tuple(bank.names), float(snr_db), int(seed))
             for i, p in enumerate(paths)]
    X, snr = _collect(run_parallel(worker, tasks, jobs=jobs, progress=progress), paths, empty_shape)
    return (X, snr) if return_snr else X
