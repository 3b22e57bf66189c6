"""A recorder's or codec's roll-off below its Nyquist frequency: a random low-pass.

Microphones, pre-amplifiers and low-bit-rate codecs often stop well below
the storage rate's Nyquist frequency (a telephone line at 3.4 kHz, MP3 at a
low bit rate at 5-8 kHz). :class:`LowPass` removes everything above a drawn
corner with the project's zero-phase band limit
(:func:`animalsnd.audio.band_limit`): gain 1 up to 80 % of the corner, a
raised-cosine taper, 0 from the corner on.
"""

from __future__ import annotations

import numpy as np

from animalsnd.augment._draw import Stage, check_probability, check_range, uniform

__all__ = ["LowPass", "low_pass"]


def low_pass(y: np.ndarray, sr: int, corner_hz: float) -> np.ndarray:
    """``y`` with nothing above ``corner_hz`` (taper over the 20 % below it); float32."""
    from animalsnd.audio import band_limit

    return np.asarray(band_limit(np.asarray(y, np.float32), sr, corner_hz, taper_hz=0.2 * corner_hz), np.float32)


class LowPass(Stage):
    """A random low-pass corner per clip.

    Parameters
    ----------
    corner_hz : (float, float), default (2500, 8000)
        Range of the corner (Hz), drawn log-uniformly. A corner at or above
        the clip's Nyquist frequency changes nothing.
    p : float, default 1.0
        Probability that a clip is low-passed at all.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``corner_hz``, or None when not applied.
    """

    def __init__(self, *, corner_hz=(2500.0, 8000.0), p: float = 1.0) -> None:
        self.corner_hz = check_range("corner_hz", corner_hz, low=100.0)
        self.p = check_probability("p", p)
        self.params: dict = {}

    def randomize(self, rng: np.random.Generator) -> dict:
        """Draw whether to apply and the corner; returns ``self.params``."""
        applied = rng.uniform() < self.p
        corner = float(np.exp(uniform(rng, (np.log(self.corner_hz[0]), np.log(self.corner_hz[1])))))
        self.params = {"corner_hz": round(corner, 2) if applied else None}
        return self.params

    def _render(self, y: np.ndarray, sr: int) -> np.ndarray:
        return low_pass(y, sr, self.params["corner_hz"])
