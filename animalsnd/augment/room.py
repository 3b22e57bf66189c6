"""A short room or mounting response: the clip convolved with a small reverberant tail.

The impulse response is a direct path (a unit impulse) plus a tail of
exponentially decaying white noise whose energy falls by 60 dB in ``rt60_s``
seconds and whose total energy lies ``wet_db`` below the direct path's. The
tail's noise comes from ``SeedSequence(ir_seed)``, so a recorded draw gives
the same room every time (at another sample rate, a room of the same decay).
"""

from __future__ import annotations

import numpy as np

from animalsnd.augment._draw import Stage, check_probability, check_range, uniform

__all__ = ["Room", "room_response", "reverberate"]


def room_response(sr: int, *, rt60_s: float, wet_db: float, ir_seed: int) -> np.ndarray:
    """Impulse response of the room (see the module notes); shape (ceil(rt60_s * sr),)."""
    n = max(2, int(np.ceil(rt60_s * sr)))
    t = np.arange(n) / sr
    tail = np.random.default_rng(np.random.SeedSequence(ir_seed)).standard_normal(n)
    tail *= 10.0 ** (-3.0 * t / rt60_s)  # amplitude -60 dB at rt60 (energy decay 60 dB)
    tail[0] = 0.0
    tail *= 10.0 ** (wet_db / 20.0) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    return tail


def reverberate(y: np.ndarray, sr: int, *, rt60_s: float, wet_db: float, ir_seed: int) -> np.ndarray:
    """``y`` convolved with :func:`room_response`, cut to its length; float32."""
    from scipy.signal import fftconvolve

    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return y.astype(np.float32)
    ir = room_response(sr, rt60_s=rt60_s, wet_db=wet_db, ir_seed=ir_seed)
    return fftconvolve(y, ir)[: y.size].astype(np.float32)


class Room(Stage):
    """A random small room per clip.

    Parameters
    ----------
    rt60_s : (float, float), default (0.05, 0.4)
        Range of the decay time (s), drawn uniformly.
    wet_db : (float, float), default (-20, -6)
        Range of the tail's energy against the direct sound (dB).
    p : float, default 1.0
        Probability that a clip is reverberated at all.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``rt60_s``, ``wet_db`` and ``ir_seed``, or None values.
    """

    def __init__(self, *, rt60_s=(0.05, 0.4), wet_db=(-20.0, -6.0), p: float = 1.0) -> None:
        self.rt60_s = check_range("rt60_s", rt60_s, low=0.005, high=5.0)
        self.wet_db = check_range("wet_db", wet_db, low=-80.0, high=20.0)
        self.p = check_probability("p", p)
        self.params: dict = {}

    def randomize(self, rng: np.random.Generator) -> dict:
        """Draw whether to apply, the decay, the level and the tail's seed; returns ``self.params``."""
        applied = rng.uniform() < self.p
        rt60, wet, seed = uniform(rng, self.rt60_s), uniform(rng, self.wet_db), int(rng.integers(2**31))
        self.params = ({"rt60_s": round(rt60, 4), "wet_db": round(wet, 4), "ir_seed": seed} if applied
                       else {"rt60_s": None, "wet_db": None, "ir_seed": None})
        return self.params

    def _render(self, y: np.ndarray, sr: int) -> np.ndarray:
        return reverberate(y, sr, **self.params)
