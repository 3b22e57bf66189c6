"""Validation and drawing of the random ranges shared by the waveform transforms."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from animalsnd.errors import ConfigError

__all__ = ["Stage", "check_probability", "check_range", "check_sr", "uniform"]


def _real(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def check_range(name: str, value: object, *, low: float | None = None, high: float | None = None
                ) -> tuple[float, float]:
    """``value`` (a number or a ``(low, high)`` pair) as a finite, ordered pair within bounds.

    Raises
    ------
    ConfigError
        Naming ``name`` and the bad value.
    """
    pair: Sequence = (value, value) if _real(value) else value  # type: ignore[assignment]
    try:
        lo, hi = pair
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be a number or a (low, high) pair") from None
    if not (_real(lo) and _real(hi)) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"{name}={value!r} must hold finite numbers")
    lo, hi = float(lo), float(hi)
    if lo > hi:
        raise ConfigError(f"{name}={value!r} is inverted: low {lo:g} > high {hi:g}")
    if (low is not None and lo < low) or (high is not None and hi > high):
        raise ConfigError(f"{name}={value!r} must lie within [{low if low is not None else '-inf'}, "
                          f"{high if high is not None else 'inf'}]")
    return lo, hi


def check_probability(name: str, p: object) -> float:
    """``p`` as a float in [0, 1], or a ConfigError naming ``name``."""
    if not _real(p) or not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"{name}={p!r} must be a probability in [0, 1]")
    return float(p)


def check_sr(sr: object) -> int:
    """A sample rate as a positive int, or a ConfigError."""
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr <= 0:
        raise ConfigError(f"sr={sr!r} must be a positive integer (Hz)")
    return int(sr)


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A uniform draw in ``[low, high]``; ``low`` itself when the range is one value."""
    lo, hi = bounds
    return float(rng.uniform(lo, hi)) if hi > lo else lo


class Stage:
    """Base of the waveform stages of a recording chain.

    A subclass sets ``params`` in ``randomize(rng)`` (``None`` values when the
    clip is left alone) and renders one clip from them in ``_render(y, sr)``;
    ``_applied()`` says whether the draw changes anything.
    """

    params: dict

    def _applied(self) -> bool:
        return any(v is not None for v in self.params.values())

    def _render(self, y: np.ndarray, sr: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def randomize(self, rng: np.random.Generator) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, y: np.ndarray, *, sr: int) -> np.ndarray:
        """``y`` (mono, at ``sr``) rendered with the drawn parameters; float32, same length."""
        if not self.params:
            raise RuntimeError(f"{type(self).__name__}.apply() called before randomize()")
        y = np.asarray(y, dtype=np.float32)
        return self._render(y, sr) if self._applied() else y.copy()

    def __call__(self, y: np.ndarray, *, sr: int, rng: np.random.Generator) -> np.ndarray:
        """:meth:`randomize` then :meth:`apply`."""
        self.randomize(rng)
        return self.apply(y, sr=sr)
