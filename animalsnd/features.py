"""Pure feature functions: waveform -> per-band normalised log-Mel."""

from __future__ import annotations

import numpy as np

from animalsnd.config import FeatureConfig

_EPS = 1e-6
FLOOR_SCALE_DB = 10.0  # norm="floor": dB above the band median, in units of 10 dB


def logmel(y: np.ndarray, *, cfg: FeatureConfig, pad: bool = True) -> np.ndarray:
    """Log-Mel spectrogram, z-normalised per Mel band over the clip.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono waveform at ``cfg.sr``: a whole clip, cut to its active region
        first when ``cfg.trim`` (:func:`animalsnd.trim.trim` with ``LOGMEL_TRIM``: no margin).
    cfg : FeatureConfig
    pad : bool
        Pad (with zeros, the band mean after normalisation) or crop the time
        axis to ``cfg.frames``. With ``pad=False`` only cropping is applied.

    Returns
    -------
    np.ndarray, shape (cfg.frames, cfg.n_mels), float32
    """
    import librosa

    if cfg.trim:
        from animalsnd.trim import LOGMEL_TRIM, trim

        y = trim(np.asarray(y, dtype=np.float32), cfg.sr, LOGMEL_TRIM)
    # Only the first ``frames`` frames are kept: cut the waveform first. With
    # centred frames, frame t spans [t*hop - n_fft/2, t*hop + n_fft/2), so this
    # cut leaves those frames bit-identical and skips work on long recordings.
    y = np.asarray(y, dtype=np.float32)[: (cfg.frames - 1) * cfg.hop_length + cfg.n_fft // 2]
    S = librosa.feature.melspectrogram(
        y=y,
        sr=cfg.sr,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        power=2.0,
    )
    S = S[:, : cfg.frames]
    if cfg.norm == "pcen":
        return pcen(S.T, cfg=cfg, frames=cfg.frames if pad else None)
    db = librosa.power_to_db(S, ref=np.max, top_db=cfg.top_db)
    return normalise(db.T, frames=cfg.frames if pad else None, norm=cfg.norm)


def pcen(power: np.ndarray, *, cfg: FeatureConfig, frames: int | None) -> np.ndarray:
    """Per-channel energy normalisation of Mel power, then z-normalised over the clip.

    Parameters
    ----------
    power : np.ndarray, shape (t, n_mels)
        Mel power spectrogram of float audio in [-1, 1].
    frames : int or None
        Pad/crop to this many frames.

    Returns
    -------
    np.ndarray, shape (frames or t, n_mels), float32
    """
    import librosa

    # librosa's defaults (gain 0.98, bias 2, power 0.5, 400 ms smoother); the
    # 2**31 scale makes float audio's power look like the integer-scaled
    # power those defaults were tuned on
    p = librosa.pcen(np.asarray(power, np.float64).T * float(2**31), sr=cfg.sr, hop_length=cfg.hop_length)
    return normalise(p.T, frames=frames, norm="clip")


def normalise(db: np.ndarray, *, frames: int | None, norm: str = "band") -> np.ndarray:
    """Zero-mean, unit-variance per band (column), or over the whole clip with
    ``norm="clip"``; then pad/crop to ``frames``.

    Parameters
    ----------
    db : np.ndarray, shape (t, n_mels)
    frames : int or None
    norm : {"band", "clip", "floor"}
        ``"floor"`` subtracts each band's median over the clip (its stationary
        background, e.g. wind or rain), sets what lies below it to 0 and
        divides by 10 dB.

    Returns
    -------
    np.ndarray, shape (frames or t, n_mels), float32
    """
    if norm == "floor":
        # each band's median level is its background: keep only what rises above it
        z = (np.maximum(db - np.median(db, axis=0, keepdims=True), 0.0) / FLOOR_SCALE_DB).astype(np.float32)
        return z if frames is None else fit_frames(z, frames=frames)
    axis = 0 if norm == "band" else None
    mu = db.mean(axis=axis, keepdims=True)
    sd = db.std(axis=axis, keepdims=True)
    sd = np.where(sd < _EPS, 1.0, sd)
    z = ((db - mu) / sd).astype(np.float32)
    return z if frames is None else fit_frames(z, frames=frames)


def fit_frames(x: np.ndarray, *, frames: int) -> np.ndarray:
    """Crop (keep the start) or zero-pad the time axis of ``x`` (t, n_mels)."""
    t = x.shape[0]
    if t >= frames:
        return np.ascontiguousarray(x[:frames])
    out = np.zeros((frames, x.shape[1]), dtype=np.float32)
    out[:t] = x
    return out
