"""Recording level: a random peak level, and soft clipping above full scale.

Recordings arrive at any level: one archive normalises every clip to 0 dBFS,
another keeps the field level (peaks 10-20 dB lower), a hot pre-amplifier
saturates. :class:`PeakGain` scales each clip so that its peak lands at a
drawn level; a peak above 0 dBFS is *soft-clipped* by :func:`soft_clip`, as
an overdriven input stage would, so a model cannot tell a class by how loud,
or how clipped, its recordings are.
"""

from __future__ import annotations

import numpy as np

from animalsnd.augment._draw import check_probability, check_range, uniform

__all__ = ["PeakGain", "apply_gain", "peak_dbfs", "soft_clip"]


def peak_dbfs(y: np.ndarray) -> float:
    """Peak sample level in dBFS (-200 for a silent clip)."""
    y = np.asarray(y)
    return float(20 * np.log10(max(float(np.max(np.abs(y))) if y.size else 0.0, 1e-10)))


def soft_clip(y: np.ndarray, *, knee: float = 0.8) -> np.ndarray:
    """Saturate samples above ``knee`` smoothly towards full scale.

    Linear up to ``|x| = knee``; above, ``knee + (1 - knee) * tanh((|x| - knee) / (1 - knee))``
    (continuous with slope 1 at the knee), so the output never reaches 1.
    """
    y = np.asarray(y, dtype=np.float64)
    a = np.abs(y)
    over = a > knee
    out = y.copy()
    out[over] = np.sign(y[over]) * (knee + (1 - knee) * np.tanh((a[over] - knee) / (1 - knee)))
    return out


def apply_gain(y: np.ndarray, gain_db: float, *, knee: float = 0.8) -> np.ndarray:
    """``y`` times ``10 ** (gain_db / 20)``, soft-clipped when it exceeds full scale; float32."""
    x = np.asarray(y, dtype=np.float64) * 10.0 ** (gain_db / 20.0)
    if x.size and np.max(np.abs(x)) > 1.0:
        x = soft_clip(x, knee=knee)
    return x.astype(np.float32)


class PeakGain:
    """Scale each clip to a random peak level, soft-clipping above 0 dBFS.

    Parameters
    ----------
    peak_dbfs : (float, float), default (-24, 6)
        Range of the target peak level (dBFS), drawn uniformly. Above 0 the
        clip is driven into :func:`soft_clip`.
    knee : float, default 0.8
        Where soft clipping starts (linear amplitude).
    p : float, default 1.0
        Probability that a clip's level is changed at all.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``peak_dbfs`` (the target) and ``gain_db``
        (the gain that reaches it from the clip's own peak), or None values.
        :meth:`apply` uses ``gain_db`` only, so a clip re-rendered at another
        sample rate gets the same gain.
    """

    def __init__(self, *, peak_dbfs=(-24.0, 6.0), knee: float = 0.8, p: float = 1.0) -> None:
        self.peak_dbfs = check_range("peak_dbfs", peak_dbfs, low=-120.0, high=20.0)
        self.knee = check_range("knee", knee, low=0.05, high=0.99)[0]
        self.p = check_probability("p", p)
        self.params: dict = {}

    def randomize(self, y: np.ndarray, rng: np.random.Generator) -> dict:
        """Draw the target peak for clip ``y``; returns ``self.params``."""
        applied = rng.uniform() < self.p
        target = uniform(rng, self.peak_dbfs)
        own = peak_dbfs(y)
        if not applied or own <= -200.0:
            self.params = {"peak_dbfs": None, "gain_db": None}
        else:
            self.params = {"peak_dbfs": round(target, 4), "gain_db": round(target - own, 4)}
        return self.params

    def apply(self, y: np.ndarray) -> np.ndarray:
        """``y`` at the drawn gain (:func:`apply_gain`)."""
        if not self.params:
            raise RuntimeError("PeakGain.apply() called before randomize()")
        g = self.params["gain_db"]
        return np.asarray(y, np.float32).copy() if g is None else apply_gain(y, g, knee=self.knee)

    def __call__(self, y: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
        self.randomize(y, rng)
        return self.apply(y)
