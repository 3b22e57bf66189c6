"""The one-view screen of ``birdnet-head``: the double-speed view only where it pays.

A ``birdnet-head`` window is embedded twice by BirdNET, as recorded and at
double speed (:mod:`animalsnd.backbones.birdnet`), and BirdNET is nearly all
the time ``predict`` takes. Field recordings are mostly not animals, and
whether a window is plain background can be told from the first view alone.
So a model trained with the ``background`` class also carries a *screen*:

- a multinomial logistic regression (scikit-learn, ``C`` = 0.1, balanced
  class weights, standardised inputs) on the same training rows as the head
  (clips, extra rows and noisy copies) but only their as-recorded view's
  columns (:func:`view1_columns`), stored in the bundle as ``screen.npz``;
- a threshold ``tau`` on its background probability: the (1 - :data:`MISS`)
  quantile of the background probability of the *held-out* animal clips,
  from one screen per training fold fitted on the other training folds (the
  test fold is never seen), kept between :data:`FLOOR` and :data:`CEILING`.

``predict`` embeds every 3-s segment's first view, and the second view only
for segments the screen does not call background (``p_background < tau`` for
at least one fold bundle). A screened window gets the screen's probabilities
(the mean over fold bundles), whose top class is background, so it is never
reported; every other window gets the full head, exactly as without the
screen. ``predict --no-screen`` embeds both views everywhere. Windows longer
than one segment (``--window`` above 3 s) are not screened.

Models without the background class have no screen and behave as before.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from animalsnd.backbones import birdnet
from animalsnd.errors import BundleError

__all__ = ["FLOOR", "MISS", "SCREEN_FILE", "Screen", "combined_live", "fit_screen", "load_screen", "view1_columns"]

SCREEN_FILE = "screen.npz"
MISS = 0.02  # at most this share of held-out animal clips may fall at or above tau
FLOOR = 0.5  # tau is never below this: a screened segment's best class is background
CEILING = 0.9  # nor above this (a screen that must be surer saves next to nothing)
C = 0.1  # inverse L2 strength, as the head's L2 (docs/results.md)


def view1_columns(pool: str, dim: int) -> np.ndarray:
    """Indices of the as-recorded view's columns in a pooled feature of width ``dim``.

    A window's feature is ``[view 1 (1024), view 2 (1024)]``; ``mean`` and ``max``
    pooling keep that layout, ``meanmax`` and ``meanstd`` repeat it per statistic.
    """
    e, width = birdnet.EMBED_DIM, birdnet.FEATURE_DIM
    blocks = dim // width
    if blocks * width != dim or pool not in birdnet.POOL_METHODS:
        raise ValueError(f"no as-recorded view in a {dim}-d {pool!r} feature")
    return np.concatenate([np.arange(b * width, b * width + e) for b in range(blocks)])


@dataclass(frozen=True)
class Screen:
    """A fitted screen: ``proba`` of pooled first-view features, ``live`` of segments."""

    mean: np.ndarray  # (d1,)
    scale: np.ndarray  # (d1,)
    coef: np.ndarray  # (n_classes, d1)
    intercept: np.ndarray  # (n_classes,)
    background: int  # index of the background class
    tau: float
    pool: str

    def proba(self, X1: np.ndarray) -> np.ndarray:
        """Class probabilities of pooled first-view features ``X1`` (n, d1)."""
        z = (np.asarray(X1, np.float64) - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def pooled(self, first: np.ndarray) -> np.ndarray:
        """Each segment's first-view embedding (n, 1024) pooled alone, as a one-segment window."""
        return np.stack([birdnet.pool(e[None], method=self.pool) for e in np.asarray(first, np.float32)])

    def live(self, first: np.ndarray) -> np.ndarray:
        """True for the segments whose second view is needed (background probability < tau)."""
        return self.proba(self.pooled(first))[:, self.background] < self.tau

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, scale=self.scale, coef=self.coef, intercept=self.intercept,
                 background=np.int64(self.background), tau=np.float64(self.tau), pool=np.str_(self.pool))
        return buf.getvalue()


def load_screen(path) -> Screen:
    """The screen stored at ``path`` (a bundle's ``screen.npz``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return Screen(mean=z["mean"].astype(np.float64), scale=z["scale"].astype(np.float64),
                          coef=z["coef"].astype(np.float64), intercept=z["intercept"].astype(np.float64),
                          background=int(z["background"]), tau=float(z["tau"]), pool=str(z["pool"]))
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"{path}: unreadable screen ({exc}); re-run `animalsnd train`") from None


def combined_live(screens: list[Screen], first: np.ndarray) -> np.ndarray:
    """A segment is live when any fold bundle's screen keeps it."""
    live = np.zeros(len(first), bool)
    for s in screens:
        live |= s.live(first)
    return live


def _fit(X: np.ndarray, y: np.ndarray, n_classes: int, seed: int):
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)
    lr.fit((X - mean) / scale, y)
    coef = np.zeros((n_classes, X.shape[1]))
    intercept = np.full(n_classes, -1e9)  # a class absent from the training rows is never predicted
    coef[lr.classes_] = lr.coef_ if len(lr.classes_) > 2 else np.vstack([-lr.coef_, lr.coef_]) / 2
    intercept[lr.classes_] = lr.intercept_ if len(lr.classes_) > 2 else np.r_[-lr.intercept_, lr.intercept_] / 2
    return mean, scale, coef, intercept


def fit_screen(fs, train: np.ndarray, *, copies=None, extra: tuple[np.ndarray, np.ndarray] | None = None,
               seed: int = 0) -> tuple[Screen, dict] | None:
    """The screen of a head trained on the clips ``train`` of ``fs`` (an EmbeddingSet), or None
    when the classes have no background or too few training clips of it.

    ``copies`` (CopyVectors) and ``extra`` ``(X, y)`` rows are added as the head adds them.
    Returns the screen and what was measured on held-out training folds (for bundle.json).
    """
    from animalsnd.background import BACKGROUND

    classes = list(fs.classes)
    if BACKGROUND not in classes:
        return None
    bg = classes.index(BACKGROUND)
    train = np.asarray(train)
    y_train = fs.y[train]
    if (y_train == bg).sum() < 2 or len(np.unique(y_train)) < 2:
        return None
    cols = view1_columns(fs.pool, int(fs.X.shape[1]))
    n = len(classes)

    def rows(idx: np.ndarray, with_extra: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = [fs.X[idx][:, cols]], [fs.y[idx]]
        if copies is not None:
            Xa, ya = copies.for_training({fs.shas[i] for i in idx}, classes)
            X.append(Xa[:, cols])
            y.append(ya)
        if with_extra and extra is not None and len(extra[1]):
            X.append(extra[0][:, cols])
            y.append(extra[1])
        return np.concatenate(X).astype(np.float64), np.concatenate(y)

    held_animal, held_bg = [], []
    folds = fs.folds[train]
    for f in np.unique(folds):
        inner, out = train[folds != f], train[folds == f]
        if not len(inner) or len(np.unique(fs.y[inner])) < 2:
            continue
        m = Screen(*_fit(*rows(inner, False), n, seed), background=bg, tau=1.0, pool=fs.pool)
        p = m.proba(fs.X[out][:, cols])[:, bg]
        held_animal.append(p[fs.y[out] != bg])
        held_bg.append(p[fs.y[out] == bg])
    pa = np.concatenate(held_animal) if held_animal else np.zeros(0)
    pb = np.concatenate(held_bg) if held_bg else np.zeros(0)
    tau = FLOOR if not len(pa) else float(min(CEILING, max(FLOOR, np.quantile(pa, 1.0 - MISS))))
    screen = Screen(*_fit(*rows(train, True), n, seed), background=bg, tau=tau, pool=fs.pool)
    report = {"file": SCREEN_FILE, "tau": round(tau, 6), "held_out_animal_clips": int(len(pa)),
              "held_out_background_clips": int(len(pb)),
              "animal_screened": round(float((pa >= tau).mean()), 4) if len(pa) else None,
              "background_screened": round(float((pb >= tau).mean()), 4) if len(pb) else None}
    return screen, report
