"""One noisy copy of a clip: the audio a model's features see, the copy's own generator, and the mix.

Used wherever clean clips get noise at a measured SNR: the augmented sets of
:mod:`animalsnd.augment.store`, the noisy evaluation clips of
:mod:`animalsnd.robustness`, the re-rendered copies of
:mod:`animalsnd.augment.vectors`.
"""

from __future__ import annotations

import math

import numpy as np

from animalsnd.augment.noise import NoiseMixer, realised_snr
from animalsnd.config import FeatureConfig

__all__ = ["CLEAN_INFO", "copy_rng", "feature_window", "mix"]

#: the recipe of a chain-only copy (no noise): infinite SNR, unit gain
CLEAN_INFO = {"noise_file": "", "offset": 0, "target_snr_db": math.inf, "realised_snr_db": math.inf,
              "active_snr_db": math.inf, "gain": 1.0}


def feature_window(cfg: FeatureConfig) -> int:
    """Samples that influence the first ``cfg.frames`` feature frames.

    Cropping a waveform to this length leaves its features unchanged, and
    makes the SNR refer to the part of the clip the model sees.
    """
    return (cfg.frames - 1) * cfg.hop_length + cfg.n_fft


def copy_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of copy ``index``: child ``index`` of ``SeedSequence(seed)``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def mix(
    clip: np.ndarray, mixer: NoiseMixer, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """Mix noise into ``clip`` and measure the SNR that resulted.

    Parameters
    ----------
    clip : np.ndarray, shape (n,)
        Clean mono waveform at ``mixer.sr``.
    mixer : NoiseMixer
    rng : np.random.Generator

    Returns
    -------
    mixed : np.ndarray, shape (n,)
    info : dict
        ``noise_file``, ``offset``, ``target_snr_db``, ``gain``,
        ``realised_snr_db`` (against the mixer's reference) and
        ``active_snr_db`` (against the active level, for any mode).
    """
    mixed = mixer(clip, rng)
    p = mixer.params
    clean = np.asarray(clip, dtype=np.float64) * p["gain"]
    realised = realised_snr(clean, mixed, sr=mixer.sr, reference=mixer.reference)
    active = (
        realised if mixer.reference == "active"
        else realised_snr(clean, mixed, sr=mixer.sr, reference="active")
    )
    return mixed, {
        "noise_file": p["noise_name"],
        "offset": int(p["offset"]),
        "target_snr_db": round(float(p["snr_db"]), 4),
        "realised_snr_db": round(realised, 4),
        "active_snr_db": round(active, 4),
        "gain": round(float(p["gain"]), 6),
    }
