"""Background noise mixed into waveforms at an exact, random SNR.

:class:`NoiseMixer` scales a segment of one of its noises (cut by
:func:`noise_segment`) so that the clip's reference level over the noise's
level is the drawn SNR (:func:`~animalsnd.augment.levels.calculate_desired_noise_rms`).
The level measurements live in :mod:`animalsnd.augment.levels`, the parsing of
SNR options in :mod:`animalsnd.augment.snr_options`; both are re-exported here.

Outputs keep the float dtype of the clip (float32 for non-float input).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from animalsnd.augment.levels import (
    DEFAULT_FRAME_S,
    DEFAULT_THRESHOLD_DB,
    REFERENCES,
    active_rms,
    as_mono,
    calculate_desired_noise_rms,
    check_active_options,
    check_reference,
    is_real,
    realised_snr,
    reference_rms,
    rms,
)
from animalsnd.augment.snr_options import parse_snr_list, parse_snr_range
from animalsnd.errors import AudioError, ConfigError

__all__ = [
    "DEFAULT_FRAME_S",
    "DEFAULT_THRESHOLD_DB",
    "REFERENCES",
    "NoiseMixer",
    "active_rms",
    "calculate_desired_noise_rms",
    "noise_segment",
    "parse_snr_list",
    "parse_snr_range",
    "realised_snr",
    "rms",
]

# A noise recording quieter than this (about -160 dBFS) counts as silent.
_SILENT_RMS = 1e-8
# Offsets re-drawn before falling back when a segment is digital silence.
_MAX_REDRAWS = 8


def noise_segment(noise: np.ndarray, *, length: int, offset: int) -> np.ndarray:
    """Take ``length`` samples of ``noise`` starting at ``offset``, looping.

    The noise wraps around to its start as often as needed, so a noise
    shorter than the clip is repeated; ``offset`` is taken modulo the noise
    length.

    Parameters
    ----------
    noise : np.ndarray, shape (n_noise,)
        Mono noise waveform, not empty.
    length : int
        Number of samples wanted (>= 0).
    offset : int
        Start sample in ``noise``.

    Returns
    -------
    np.ndarray, shape (length,)
        A new array with the dtype of ``noise``.
    """
    arr = as_mono(noise, "noise")
    if arr.size == 0:
        raise ConfigError("noise is empty (0 samples)")
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise ConfigError(f"length={length!r} must be a non-negative integer")
    if not isinstance(offset, (int, np.integer)):
        raise ConfigError(f"offset={offset!r} must be an integer")
    start = int(offset) % arr.size
    if start + length <= arr.size:
        return arr[start : start + length].copy()
    idx = (start + np.arange(length)) % arr.size
    return arr[idx]


def _check_snr_range(snr_db: object) -> tuple[float, float]:
    if is_real(snr_db):
        lo = hi = snr_db
    else:
        try:
            lo, hi = snr_db  # type: ignore[misc]
        except (TypeError, ValueError):
            raise ConfigError(
                f"snr_db={snr_db!r} must be a number or a (low, high) pair"
            ) from None
    if not (is_real(lo) and is_real(hi)):
        raise ConfigError(f"snr_db={snr_db!r} must hold numbers")
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"snr_db={snr_db!r} must be finite")
    if lo > hi:
        raise ConfigError(f"snr_db={snr_db!r} is inverted: low {lo} > high {hi}")
    return lo, hi


class NoiseMixer:
    """Add one of several background noises to a clip at a random SNR.

    The noise segment is scaled so that
    ``20 * log10(reference_rms(clip) / rms(scaled_segment))`` equals the drawn
    SNR exactly. If the mix would clip (``|x| > 1``), the whole mix is scaled
    down uniformly, which keeps the SNR; the factor is ``params["gain"]``.

    Parameters
    ----------
    noises : list of np.ndarray, each shape (n_noise_i,)
        Mono noise waveforms at the clips' sample rate. A noise shorter than
        a clip is looped.
    snr_db : (float, float) or float, default (10.0, 20.0)
        SNR range in dB; the SNR is drawn uniformly in ``[low, high]``.
    reference : {"active", "whole"}, default "active"
        Signal level: RMS over the active frames (:func:`active_rms`) or over
        the whole clip (naive baseline).
    sr : int, default 16000
        Sample rate in Hz (sets the frame length of the active reference).
    noise_names : list of str, optional
        One name per noise (e.g. file names), recorded in ``params``.
        Defaults to ``noise_0``, ``noise_1``, ...
    frame_s, threshold_db : float
        Options of :func:`active_rms`.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``snr_db``, ``noise_index``, ``noise_name``,
        ``offset``; :meth:`apply` adds ``gain`` (1.0 unless the mix was
        scaled down) and ``noise_rms`` (level of the added noise before gain).

    Examples
    --------
    ::

        mixer = NoiseMixer([rain, wind], snr_db=(5, 15), sr=16000,
                           noise_names=["rain.wav", "wind.wav"])
        noisy = mixer(clip, np.random.default_rng(0))
        mixer.params  # {"snr_db": ..., "noise_name": "wind.wav", ...}
    """

    def __init__(
        self,
        noises: Sequence[np.ndarray],
        *,
        snr_db: tuple[float, float] | float = (10.0, 20.0),
        reference: str = "active",
        sr: int = 16000,
        noise_names: Sequence[str] | None = None,
        frame_s: float = DEFAULT_FRAME_S,
        threshold_db: float = DEFAULT_THRESHOLD_DB,
    ) -> None:
        if noises is None or len(noises) == 0:
            raise ConfigError("noises is empty: give at least one noise waveform")
        if noise_names is None:
            names = [f"noise_{i}" for i in range(len(noises))]
        else:
            names = [str(n) for n in noise_names]
            if len(names) != len(noises):
                raise ConfigError(
                    f"noise_names has {len(names)} names for {len(noises)} noises"
                )
        arrays: list[np.ndarray] = []
        for i, (noise, name) in enumerate(zip(noises, names)):
            arr = np.asarray(noise)
            if arr.ndim != 1:
                raise ConfigError(
                    f"noise {name!r} must be a mono 1-D array, got shape {arr.shape}"
                )
            if arr.size == 0:
                raise ConfigError(f"noise {name!r} is empty (0 samples)")
            if not np.issubdtype(arr.dtype, np.floating):
                arr = arr.astype(np.float32)
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"noise {name!r} contains NaN or infinite samples")
            if rms(arr) <= _SILENT_RMS:
                raise ConfigError(f"noise {name!r} is silent (RMS {rms(arr):.3g})")
            arrays.append(arr)
        self.noises = arrays
        self.noise_names = names
        self.snr_db = _check_snr_range(snr_db)
        check_reference(reference)
        self.reference = reference
        check_active_options(sr, frame_s, threshold_db)
        self.sr = int(sr)
        self.frame_s = float(frame_s)
        self.threshold_db = float(threshold_db)
        self.params: dict = {}

    def __repr__(self) -> str:
        return (
            f"NoiseMixer({len(self.noises)} noises, snr_db={self.snr_db}, "
            f"reference={self.reference!r}, sr={self.sr})"
        )

    def randomize(
        self, clip: np.ndarray, rng: np.random.Generator | int | None = None
    ) -> dict:
        """Draw the SNR, the noise and its offset for ``clip``.

        Parameters
        ----------
        clip : np.ndarray, shape (n_samples,)
            The clip that will be passed to :meth:`apply`.
        rng : np.random.Generator or int, optional
            Random generator (or seed).

        Returns
        -------
        dict
            ``self.params``.
        """
        arr = as_mono(clip, "clip")
        rng = np.random.default_rng(rng)
        lo, hi = self.snr_db
        snr = float(rng.uniform(lo, hi)) if hi > lo else lo
        index = int(rng.integers(len(self.noises)))
        noise = self.noises[index]
        offset = int(rng.integers(noise.size))
        length = arr.size
        # A segment of pure digital silence cannot be scaled to any SNR:
        # re-draw, then start at the next non-zero sample.
        redraws = 0
        while length and not np.any(noise_segment(noise, length=length, offset=offset)):
            if redraws < _MAX_REDRAWS:
                offset = int(rng.integers(noise.size))
                redraws += 1
                continue
            nonzero = np.flatnonzero(np.roll(noise, -offset))
            offset = (offset + int(nonzero[0])) % noise.size
        self.params = {
            "snr_db": snr,
            "noise_index": index,
            "noise_name": self.noise_names[index],
            "offset": offset,
        }
        return self.params

    def apply(self, clip: np.ndarray) -> np.ndarray:
        """Mix the noise drawn by :meth:`randomize` into ``clip``.

        Parameters
        ----------
        clip : np.ndarray, shape (n_samples,)
            Mono waveform. Not modified.

        Returns
        -------
        np.ndarray, shape (n_samples,)
            The mix, with the clip's float dtype (float32 otherwise), within
            [-1, 1] if the clip's peak is. A silent clip (reference RMS 0) is
            returned unchanged (as a copy): no SNR can be defined for it.
        """
        if not self.params:
            raise RuntimeError("NoiseMixer.apply() called before randomize()")
        arr = as_mono(clip, "clip")
        if not np.all(np.isfinite(arr)):
            raise AudioError("clip contains NaN or infinite samples")
        out_dtype = arr.dtype
        x = arr.astype(np.float64)
        noise = self.noises[self.params["noise_index"]]
        seg = noise_segment(noise, length=x.size, offset=self.params["offset"]).astype(
            np.float64
        )
        signal_rms = reference_rms(
            x,
            reference=self.reference,
            sr=self.sr,
            frame_s=self.frame_s,
            threshold_db=self.threshold_db,
        )
        seg_rms = rms(seg)
        if signal_rms == 0.0 or seg_rms == 0.0:
            self.params["gain"] = 1.0
            self.params["noise_rms"] = 0.0
            return arr.copy()
        target = calculate_desired_noise_rms(signal_rms, self.params["snr_db"])
        mixed = x + seg * (target / seg_rms)
        peak = float(np.max(np.abs(mixed)))
        gain = 1.0 / peak if peak > 1.0 else 1.0
        if gain != 1.0:
            mixed *= gain
            np.clip(mixed, -1.0, 1.0, out=mixed)  # absorb rounding at the peak
        self.params["gain"] = gain
        self.params["noise_rms"] = target
        return mixed.astype(out_dtype)

    def __call__(
        self, clip: np.ndarray, rng: np.random.Generator | int | None = None
    ) -> np.ndarray:
        """:meth:`randomize` then :meth:`apply`."""
        self.randomize(clip, rng)
        return self.apply(clip)
