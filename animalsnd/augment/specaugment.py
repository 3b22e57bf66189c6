"""SpecAugment time and frequency masking on log-Mel features.

Features are shaped ``(frames, n_mels)`` and z-normalised per Mel band, so
the default ``mask_value=0.0`` replaces masked cells by the band mean.
Masks may overlap. Inputs are never modified.
"""

from __future__ import annotations

import math

import numpy as np

from animalsnd.errors import ConfigError

__all__ = ["MAX_MASKS", "SpecAugment"]

MAX_MASKS = 20


def _check_count(name: str, value: object) -> int:
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, bool)
        or not 0 <= value <= MAX_MASKS
    ):
        raise ConfigError(f"{name}={value!r} must be an integer in 0..{MAX_MASKS}")
    return int(value)


def _check_width(name: str, value: object) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name}={value!r} must be a non-negative integer")
    return int(value)


def _axis_mask(starts: np.ndarray, widths: np.ndarray, length: int) -> np.ndarray:
    """Union of intervals ``[start, start + width)`` per row.

    ``starts`` and ``widths`` are shaped (batch, n_masks); returns a boolean
    array shaped (batch, length).
    """
    pos = np.arange(length)
    s = starts[..., None]
    inside = (pos >= s) & (pos < s + widths[..., None])
    return inside.any(axis=1)


class SpecAugment:
    """Random time and frequency masks (Park et al., 2019), without warping.

    Each mask has a width drawn uniformly in ``[0, max_width]`` and a start
    drawn uniformly among the positions where it fits entirely.

    Parameters
    ----------
    time_masks : int, default 2
        Number of time masks (0..20).
    time_width : int, default 40
        Maximum width of a time mask, in frames; must be smaller than the
        number of frames of the features it is applied to.
    freq_masks : int, default 2
        Number of frequency masks (0..20).
    freq_width : int, default 16
        Maximum width of a frequency mask, in Mel bands; must be smaller
        than ``n_mels``.
    mask_value : float, default 0.0
        Value written into masked cells.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``shape`` (frames, n_mels) and ``time`` /
        ``freq``, lists of ``(start, width)`` pairs.
    batch_params : dict
        Set by :meth:`apply_batch`: ``time_starts``, ``time_widths``
        (batch, time_masks) and ``freq_starts``, ``freq_widths``
        (batch, freq_masks) integer arrays.
    """

    def __init__(
        self,
        *,
        time_masks: int = 2,
        time_width: int = 40,
        freq_masks: int = 2,
        freq_width: int = 16,
        mask_value: float = 0.0,
    ) -> None:
        self.time_masks = _check_count("time_masks", time_masks)
        self.time_width = _check_width("time_width", time_width)
        self.freq_masks = _check_count("freq_masks", freq_masks)
        self.freq_width = _check_width("freq_width", freq_width)
        if (
            not isinstance(mask_value, (int, float, np.integer, np.floating))
            or isinstance(mask_value, bool)
            or not math.isfinite(mask_value)
        ):
            raise ConfigError(f"mask_value={mask_value!r} must be a finite number")
        self.mask_value = float(mask_value)
        self.params: dict = {}
        self.batch_params: dict = {}

    def __repr__(self) -> str:
        return (
            f"SpecAugment(time_masks={self.time_masks}, time_width={self.time_width}, "
            f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, "
            f"mask_value={self.mask_value})"
        )

    def _check_shape(self, frames: int, n_mels: int) -> None:
        if self.time_masks and self.time_width >= frames:
            raise ConfigError(
                f"time_width={self.time_width} must be smaller than the "
                f"number of frames ({frames})"
            )
        if self.freq_masks and self.freq_width >= n_mels:
            raise ConfigError(
                f"freq_width={self.freq_width} must be smaller than n_mels ({n_mels})"
            )

    def _draw(
        self, rng: np.random.Generator, batch: int, frames: int, n_mels: int
    ) -> dict[str, np.ndarray]:
        self._check_shape(frames, n_mels)
        tw = rng.integers(0, self.time_width + 1, size=(batch, self.time_masks))
        ts = rng.integers(0, frames - tw + 1)
        fw = rng.integers(0, self.freq_width + 1, size=(batch, self.freq_masks))
        fs = rng.integers(0, n_mels - fw + 1)
        return {
            "time_starts": ts.reshape(batch, self.time_masks),
            "time_widths": tw,
            "freq_starts": fs.reshape(batch, self.freq_masks),
            "freq_widths": fw,
        }

    @staticmethod
    def _as_features(x: object, ndim: int, what: str) -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim != ndim:
            raise ValueError(f"{what} must be {ndim}-D, got shape {arr.shape}")
        return arr

    def randomize(
        self, features: np.ndarray, rng: np.random.Generator | int | None = None
    ) -> dict:
        """Draw masks for one example.

        Parameters
        ----------
        features : np.ndarray, shape (frames, n_mels)
            The features that will be passed to :meth:`apply`.
        rng : np.random.Generator or int, optional
            Random generator (or seed).

        Returns
        -------
        dict
            ``self.params``.
        """
        x = self._as_features(features, 2, "features (frames, n_mels)")
        frames, n_mels = x.shape
        d = self._draw(np.random.default_rng(rng), 1, frames, n_mels)
        self.params = {
            "shape": (frames, n_mels),
            "time": [
                (int(s), int(w)) for s, w in zip(d["time_starts"][0], d["time_widths"][0])
            ],
            "freq": [
                (int(s), int(w)) for s, w in zip(d["freq_starts"][0], d["freq_widths"][0])
            ],
        }
        return self.params

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Apply the masks drawn by :meth:`randomize`.

        Parameters
        ----------
        features : np.ndarray, shape (frames, n_mels)
            Must have the shape given to :meth:`randomize`. Not modified.

        Returns
        -------
        np.ndarray, shape (frames, n_mels)
            A masked copy with the dtype of ``features``.
        """
        if not self.params:
            raise RuntimeError("SpecAugment.apply() called before randomize()")
        x = self._as_features(features, 2, "features (frames, n_mels)")
        if tuple(x.shape) != tuple(self.params["shape"]):
            raise ValueError(
                f"features shape {x.shape} differs from the randomized "
                f"shape {self.params['shape']}"
            )
        out = x.copy()
        for start, width in self.params["time"]:
            out[start : start + width, :] = self.mask_value
        for start, width in self.params["freq"]:
            out[:, start : start + width] = self.mask_value
        return out

    def __call__(
        self, features: np.ndarray, rng: np.random.Generator | int | None = None
    ) -> np.ndarray:
        """:meth:`randomize` then :meth:`apply`."""
        self.randomize(features, rng)
        return self.apply(features)

    def apply_batch(
        self, x: np.ndarray, rng: np.random.Generator | int | None = None
    ) -> np.ndarray:
        """Mask every example of a batch with its own random masks.

        Vectorised over the batch; the draws are recorded in
        ``self.batch_params``. For a batch of one, the same ``rng`` state
        gives the same masks as :meth:`randomize`.

        Parameters
        ----------
        x : np.ndarray, shape (batch, frames, n_mels)
            Feature batch. Not modified.
        rng : np.random.Generator or int, optional
            Random generator (or seed).

        Returns
        -------
        np.ndarray, shape (batch, frames, n_mels)
            A masked copy with the dtype of ``x``.
        """
        arr = self._as_features(x, 3, "x (batch, frames, n_mels)")
        batch, frames, n_mels = arr.shape
        d = self._draw(np.random.default_rng(rng), batch, frames, n_mels)
        self.batch_params = d
        out = arr.copy()
        if self.time_masks:
            out[_axis_mask(d["time_starts"], d["time_widths"], frames)] = self.mask_value
        if self.freq_masks:
            freq = _axis_mask(d["freq_starts"], d["freq_widths"], n_mels)
            out.transpose(0, 2, 1)[freq] = self.mask_value
        return out
