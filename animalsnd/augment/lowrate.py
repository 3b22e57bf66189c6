"""A recorder's sample rate: the clip resampled through a lower rate and back.

Whatever lies above the lower rate's Nyquist frequency is gone, as in a clip
stored at 8 kHz and played back at the model's rate. The resampler is the
one the whole project decodes with (libsoxr 'HQ', :func:`animalsnd.audio.resample`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from animalsnd.augment._draw import Stage, check_probability
from animalsnd.errors import ConfigError

__all__ = ["DEFAULT_RATES", "LowRate", "through_rate"]

#: Rates of common recorders, telephones and older archives (Hz).
DEFAULT_RATES = (8000, 11025, 16000, 22050)


def through_rate(y: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """``y`` (at ``sr``) stored at ``rate`` and resampled back to ``sr``, same length.

    A ``rate`` at or above ``sr`` returns a float32 copy unchanged.

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    from animalsnd.audio import resample

    y = np.asarray(y, dtype=np.float32)
    if rate >= sr or y.size == 0:
        return y.copy()
    z = resample(resample(y, sr, rate), rate, sr)
    return np.pad(z, (0, max(0, y.size - z.size)))[: y.size].astype(np.float32)


class LowRate(Stage):
    """Resample through one of ``rates``, drawn per clip.

    Parameters
    ----------
    rates : sequence of int, default (8000, 11025, 16000, 22050)
        Candidate storage rates (Hz), drawn uniformly.
    p : float, default 1.0
        Probability that a clip is resampled at all.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``rate`` (Hz), or None when not applied.
    """

    def __init__(self, rates: Sequence[int] = DEFAULT_RATES, *, p: float = 1.0) -> None:
        rates = tuple(rates)
        if not rates or any(not isinstance(r, (int, np.integer)) or isinstance(r, bool) or r < 1000
                            for r in rates):
            raise ConfigError(f"rates={rates!r} must be one or more integer sample rates of at least 1000 Hz")
        self.rates = tuple(int(r) for r in rates)
        self.p = check_probability("p", p)
        self.params: dict = {}

    def randomize(self, rng: np.random.Generator) -> dict:
        """Draw whether to apply and the rate; returns ``self.params``."""
        applied = rng.uniform() < self.p
        rate = self.rates[int(rng.integers(len(self.rates)))]
        self.params = {"rate": rate if applied else None}
        return self.params

    def _render(self, y: np.ndarray, sr: int) -> np.ndarray:
        return through_rate(y, sr, self.params["rate"])
