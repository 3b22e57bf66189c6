"""Mixup (Zhang et al., 2018) on feature batches.

Each example is mixed with another example of the same batch (a random
permutation) using its own weight ``lam ~ Beta(alpha, alpha)``::

    x_mixed[i] = lam[i] * x[i] + (1 - lam[i]) * x[perm[i]]
    y_mixed[i] = lam[i] * y[i] + (1 - lam[i]) * y[perm[i]]

so mixed labels stay probability vectors when ``y`` is one-hot.
"""

from __future__ import annotations

import math

import numpy as np

from animalsnd.errors import ConfigError

__all__ = ["Mixup"]


class Mixup:
    """Convex combinations of example pairs and of their labels.

    Parameters
    ----------
    alpha : float
        Beta-distribution parameter, > 0. Small values (0.1-0.4) keep most
        mixes close to one of the two examples; 1.0 draws ``lam`` uniformly.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``lam`` (batch,) float64 weights of the
        original examples and ``perm`` (batch,) partner indices.
    """

    def __init__(self, alpha: float = 0.2) -> None:
        if (
            not isinstance(alpha, (int, float, np.integer, np.floating))
            or isinstance(alpha, bool)
            or not math.isfinite(alpha)
            or alpha <= 0
        ):
            raise ConfigError(f"alpha={alpha!r} must be a finite number > 0")
        self.alpha = float(alpha)
        self.params: dict = {}

    def __repr__(self) -> str:
        return f"Mixup(alpha={self.alpha})"

    def randomize(
        self, batch_size: int, rng: np.random.Generator | int | None = None
    ) -> dict:
        """Draw one weight per example and a partner permutation.

        Parameters
        ----------
        batch_size : int
            Number of examples in the batch (>= 1).
        rng : np.random.Generator or int, optional
            Random generator (or seed).

        Returns
        -------
        dict
            ``self.params``.
        """
        if (
            not isinstance(batch_size, (int, np.integer))
            or isinstance(batch_size, bool)
            or batch_size < 1
        ):
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
        rng = np.random.default_rng(rng)
        lam = rng.beta(self.alpha, self.alpha, size=int(batch_size))
        perm = rng.permutation(int(batch_size))
        self.params = {"lam": lam, "perm": perm}
        return self.params

    def apply(
        self, x: np.ndarray, y_onehot: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mix with the weights and permutation drawn by :meth:`randomize`.

        Parameters
        ----------
        x : np.ndarray, shape (batch, ...)
            Feature batch, e.g. (batch, frames, n_mels). Not modified.
        y_onehot : np.ndarray, shape (batch, n_classes)
            One-hot (or soft) labels. Not modified.

        Returns
        -------
        x_mixed : np.ndarray, shape (batch, ...)
            With the float dtype of ``x`` (float32 otherwise).
        y_mixed : np.ndarray, shape (batch, n_classes)
            With the float dtype of ``y_onehot`` (float32 otherwise).
        """
        if not self.params:
            raise RuntimeError("Mixup.apply() called before randomize()")
        xa = np.asarray(x)
        ya = np.asarray(y_onehot)
        lam, perm = self.params["lam"], self.params["perm"]
        if xa.ndim < 1 or xa.shape[0] != lam.size:
            raise ValueError(
                f"x has shape {xa.shape}; expected a batch of {lam.size} examples"
            )
        if ya.ndim != 2 or ya.shape[0] != lam.size:
            raise ValueError(
                f"y_onehot has shape {ya.shape}; expected ({lam.size}, n_classes)"
            )
        return _mix(xa, lam, perm), _mix(ya, lam, perm)

    def apply_batch(
        self,
        x: np.ndarray,
        y_onehot: np.ndarray,
        rng: np.random.Generator | int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`randomize` for ``len(x)`` examples, then :meth:`apply`."""
        self.randomize(len(x), rng)
        return self.apply(x, y_onehot)

    __call__ = apply_batch


def _mix(a: np.ndarray, lam: np.ndarray, perm: np.ndarray) -> np.ndarray:
    dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float32
    a = a.astype(dtype, copy=False)
    w = lam.astype(dtype).reshape((-1,) + (1,) * (a.ndim - 1))
    return w * a + (1 - w) * a[perm]
