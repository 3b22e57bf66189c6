"""Microphone and pre-amplifier colouring: a low cut and a high shelf.

A zero-phase filter applied in the frequency domain over the whole clip, with
magnitude response::

    |H(f)| = lowcut(f) * shelf(f)
    lowcut(f) = 1 / sqrt(1 + (lowcut_hz / f) ** 4)                 (2nd-order Butterworth)
    shelf(f)  = 10 ** (shelf_db / 20 * s(f)),  s(f) = 1 / (1 + (shelf_hz / f) ** 2)

so the low cut is -3 dB at ``lowcut_hz`` and falls 12 dB per octave below it,
and the shelf moves the level by ``shelf_db / 2`` at ``shelf_hz`` and by
nearly ``shelf_db`` an octave or more above it (a brighter or duller mic).
"""

from __future__ import annotations

import numpy as np

from animalsnd.augment._draw import Stage, check_probability, check_range, uniform

__all__ = ["Equalizer", "eq_response", "equalize"]


def eq_response(freqs: np.ndarray, *, lowcut_hz: float | None, shelf_hz: float, shelf_db: float) -> np.ndarray:
    """Magnitude response ``|H(f)|`` at ``freqs`` (Hz) (see the module notes)."""
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1e-6)
    gain = np.ones_like(f)
    if lowcut_hz:
        gain /= np.sqrt(1.0 + (lowcut_hz / f) ** 4)
    if shelf_db:
        gain *= 10.0 ** (shelf_db / 20.0 / (1.0 + (shelf_hz / f) ** 2))
    return gain


def equalize(y: np.ndarray, sr: int, *, lowcut_hz: float | None, shelf_hz: float, shelf_db: float) -> np.ndarray:
    """``y`` through :func:`eq_response`; same length, float32."""
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0 or (not lowcut_hz and not shelf_db):
        return y.copy()
    gain = eq_response(np.fft.rfftfreq(y.size, 1.0 / sr), lowcut_hz=lowcut_hz, shelf_hz=shelf_hz, shelf_db=shelf_db)
    return np.fft.irfft(np.fft.rfft(y) * gain, n=y.size).astype(np.float32)


class Equalizer(Stage):
    """A random low cut and high shelf per clip.

    Parameters
    ----------
    lowcut_hz : (float, float), default (100, 500)
        Range of the low-cut corner (Hz), drawn uniformly.
    shelf_hz : (float, float), default (1000, 3000)
        Range of the shelf's corner (Hz), drawn log-uniformly.
    shelf_db : (float, float), default (-6, 6)
        Range of the shelf's gain (dB), drawn uniformly.
    p : float, default 1.0
        Probability that a clip is filtered at all.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``lowcut_hz``, ``shelf_hz``, ``shelf_db``,
        or ``None`` values when not applied.
    """

    def __init__(self, *, lowcut_hz=(100.0, 500.0), shelf_hz=(1000.0, 3000.0), shelf_db=(-6.0, 6.0),
                 p: float = 1.0) -> None:
        self.lowcut_hz = check_range("lowcut_hz", lowcut_hz, low=0.0)
        self.shelf_hz = check_range("shelf_hz", shelf_hz, low=1.0)
        self.shelf_db = check_range("shelf_db", shelf_db, low=-40.0, high=40.0)
        self.p = check_probability("p", p)
        self.params: dict = {}

    def randomize(self, rng: np.random.Generator) -> dict:
        """Draw whether to apply, the corners and the shelf gain; returns ``self.params``."""
        applied = rng.uniform() < self.p
        lowcut = uniform(rng, self.lowcut_hz)
        shelf_hz = float(np.exp(uniform(rng, (np.log(self.shelf_hz[0]), np.log(self.shelf_hz[1])))))
        shelf_db = uniform(rng, self.shelf_db)
        self.params = ({"lowcut_hz": round(lowcut, 3), "shelf_hz": round(shelf_hz, 3), "shelf_db": round(shelf_db, 4)}
                       if applied else {"lowcut_hz": None, "shelf_hz": None, "shelf_db": None})
        return self.params

    def _render(self, y: np.ndarray, sr: int) -> np.ndarray:
        return equalize(y, sr, **self.params)
