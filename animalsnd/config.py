"""Frozen configuration objects that travel with caches and model bundles."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

import numpy as np

from animalsnd.errors import ConfigError


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive integer")


NORMS: tuple[str, ...] = ("band", "clip", "pcen", "floor")


def _slaney_mel(f: np.ndarray) -> np.ndarray:
    return np.where(f < 1000.0, f * 3 / 200, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) * 27 / np.log(6.4))


def _slaney_hz(m: np.ndarray) -> np.ndarray:
    return np.where(m < 15.0, m * 200 / 3, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27))


def _empty_mel_bands(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> int:
    """How many of librosa's (Slaney) Mel filters hold no FFT bin: their output is always 0."""
    edges = _slaney_hz(np.linspace(_slaney_mel(np.float64(fmin)), _slaney_mel(np.float64(fmax)), n_mels + 2))
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    first_in = np.searchsorted(bins, edges[:-2], side="right")
    first_past = np.searchsorted(bins, edges[2:], side="left")
    return int((first_past <= first_in).sum())


def from_known_fields(cls, d: dict, what: str):
    """``cls(**d)``, refusing keys that are not fields of the dataclass ``cls`` (ConfigError naming them)."""
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigError(f"unknown {what} options: {', '.join(sorted(unknown))}")
    return cls(**d)


@dataclass(frozen=True)
class FeatureConfig:
    """How a waveform becomes a model input.

    The defaults are the study's: 16 kHz audio, 128-bin log-Mel with
    ``n_fft=1024`` and ``hop_length=512``, per-band z-normalisation per clip,
    500 frames (16 s at 16 kHz). ``norm="clip"`` z-normalises with the
    clip's overall mean and deviation instead, which keeps the relative
    level of the bands; ``norm="pcen"`` applies per-channel energy
    normalisation; ``norm="floor"`` keeps each band's level above its median
    over the clip (its steady background) and sets the rest to 0 (see
    docs/augmentation.md). ``trim=True`` cuts a whole clip to its active
    region before its features are computed (:mod:`animalsnd.trim`; predict's
    windows never are); the study's pipeline does not.
    """

    sr: int = 16000
    n_mels: int = 128
    n_fft: int = 1024
    hop_length: int = 512
    frames: int = 500
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float = 80.0
    norm: str = "band"  # "band" (the study's), "clip", "pcen" or "floor": see NORMS and features.normalise
    trim: bool = False  # whole clips cut to their active region first (animalsnd.trim)

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ConfigError(f"norm={self.norm!r} must be one of: {', '.join(NORMS)}")
        for name in ("sr", "n_mels", "n_fft", "hop_length", "frames"):
            _positive_int(name, getattr(self, name))
        if self.sr < 1000:
            raise ConfigError(f"sr={self.sr} must be at least 1000 Hz")
        if self.n_fft // 2 + 1 < self.n_mels:
            raise ConfigError(
                f"n_fft={self.n_fft} gives {self.n_fft // 2 + 1} frequency bins, fewer than n_mels={self.n_mels}; "
                f"use --n-fft {2 * (self.n_mels - 1)} or more, or fewer --n-mels"
            )
        if self.hop_length > self.n_fft:
            raise ConfigError(
                f"hop_length={self.hop_length} must not exceed n_fft={self.n_fft}"
            )
        nyquist = self.sr / 2
        fmax = nyquist if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= nyquist:
            raise ConfigError(
                f"need 0 <= fmin ({self.fmin}) < fmax ({fmax}) <= sr/2 ({nyquist})"
            )
        empty = _empty_mel_bands(self.sr, self.n_fft, self.n_mels, self.fmin, fmax)
        if empty:
            raise ConfigError(
                f"n_fft={self.n_fft} at sr={self.sr} leaves {empty} of the n_mels={self.n_mels} Mel bands "
                f"between {self.fmin:g} and {fmax:g} Hz without an FFT bin (all-zero features); "
                "use a larger --n-fft or fewer --n-mels"
            )

    @property
    def clip_seconds(self) -> float:
        """Duration covered by ``frames`` frames, in seconds."""
        return (self.frames - 1) * self.hop_length / self.sr + self.n_fft / self.sr

    @property
    def shape(self) -> tuple[int, int]:
        """Feature array shape ``(frames, n_mels)``."""
        return (self.frames, self.n_mels)

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["norm"] == "band":  # the default is left out: caches and bundles made before it keep their hash
            del d["norm"]
        if not d["trim"]:  # likewise
            del d["trim"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        return from_known_fields(cls, d, "feature")

    def hash(self) -> str:
        """Short stable hash of the configuration (keys cache entries)."""
        blob = json.dumps({"kind": "logmel", **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
