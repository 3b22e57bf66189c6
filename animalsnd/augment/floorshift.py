"""Random background floors on ``--norm floor`` features.

``norm="floor"`` features hold each Mel band's level above its median over
the clip, in units of 10 dB, with what lies below set to 0
(:func:`animalsnd.features.normalise`). Adding a steady noise whose level in
band ``f`` lies ``d(f)`` (in those units) above the recording's own
background raises that median by about ``d(f)`` and hides what lies under
it, so in these features the noise is, approximately, ``max(x - d(f), 0)``.

:class:`FloorShift` draws such a ``d(f)`` for each training example: a level
up to ``max_db`` times a smooth random shape over the bands, either one
Gaussian bump (a noise concentrated in some bands, like wind low down or
insects high up) or a linear ramp (a tilted, broadband noise). The model so
meets backgrounds of every colour and level, not just the ones recorded for
``augment``. Inputs are never modified.
"""

from __future__ import annotations

import math

import numpy as np

from animalsnd.errors import ConfigError
from animalsnd.features import FLOOR_SCALE_DB

__all__ = ["FloorShift"]


class FloorShift:
    """Raise the background floor of floor-normalised features by a random per-band amount.

    Parameters
    ----------
    max_db : float
        Largest rise of the floor, in dB (> 0).
    p : float, default 0.5
        Probability that an example gets a raised floor.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``shift``, the per-band rise in feature
        units (shape ``(n_mels,)``; all zeros when the example was left as is).
    """

    def __init__(self, *, max_db: float, p: float = 0.5) -> None:
        for name, v in (("max_db", max_db), ("p", p)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(v):
                raise ConfigError(f"{name}={v!r} must be a finite number")
        if not max_db > 0:
            raise ConfigError(f"max_db={max_db!r} must be > 0")
        if not 0 <= p <= 1:
            raise ConfigError(f"p={p!r} must be in 0..1")
        self.max_db, self.p = float(max_db), float(p)
        self.params: dict = {}

    def __repr__(self) -> str:
        return f"FloorShift(max_db={self.max_db}, p={self.p})"

    def shifts(self, rng: np.random.Generator, batch: int, n_mels: int) -> np.ndarray:
        """Per-band rises for ``batch`` examples, shape ``(batch, n_mels)``, in feature units."""
        bands = np.arange(n_mels, dtype=np.float64)
        level = rng.uniform(0.0, self.max_db / FLOOR_SCALE_DB, size=batch)
        on = rng.random(batch) < self.p
        bump = rng.random(batch) < 0.5
        centre = rng.uniform(0, n_mels, size=batch)
        width = rng.uniform(n_mels / 16, n_mels / 2, size=batch)
        ends = rng.random((batch, 2))
        shape = np.where(
            bump[:, None],
            np.exp(-0.5 * ((bands[None, :] - centre[:, None]) / width[:, None]) ** 2),
            ends[:, :1] + (ends[:, 1:] - ends[:, :1]) * bands[None, :] / max(n_mels - 1, 1),
        )
        return (np.where(on, level, 0.0)[:, None] * shape).astype(np.float32)

    def randomize(self, features: np.ndarray, rng: np.random.Generator | int | None = None) -> dict:
        """Draw the rise for one example shaped ``(frames, n_mels)``."""
        x = np.asarray(features)
        if x.ndim != 2:
            raise ValueError(f"features (frames, n_mels) must be 2-D, got shape {x.shape}")
        self.params = {"shift": self.shifts(np.random.default_rng(rng), 1, x.shape[1])[0]}
        return self.params

    def apply(self, features: np.ndarray) -> np.ndarray:
        """``max(features - shift, 0)`` with the rise drawn by :meth:`randomize`."""
        if not self.params:
            raise RuntimeError("FloorShift.apply() called before randomize()")
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != self.params["shift"].shape[0]:
            raise ValueError(f"features shape {x.shape} does not match {self.params['shift'].shape[0]} bands")
        return np.maximum(x - self.params["shift"][None, :], 0).astype(x.dtype)

    def __call__(self, features: np.ndarray, rng: np.random.Generator | int | None = None) -> np.ndarray:
        self.randomize(features, rng)
        return self.apply(features)

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A raised copy of a batch shaped ``(batch, frames, n_mels)``."""
        x = np.asarray(batch)
        if x.ndim != 3:
            raise ValueError(f"batch must be 3-D (batch, frames, n_mels), got shape {x.shape}")
        d = self.shifts(rng, x.shape[0], x.shape[2])
        return np.maximum(x - d[:, None, :], 0).astype(x.dtype)
