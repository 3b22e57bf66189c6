"""The recording's own background: ``birdnet-head``'s check before a window is reported.

A model has heard only the background its training data held. Over a noise it
never heard (wind, on the soundscape benchmark's proxy), ``birdnet-head`` calls
much of the noise itself an animal: 125 of 171 false detections on the wind
proxy were call-free windows labelled ``dog``. The recording itself shows what
its noise sounds like: its quietest stretches. So a window is reported only
when it sounds more like the training clips of its class than like the
quietest windows of the recording around it:

- each bundle stores its training clips' as-recorded BirdNET view (the view
  every segment has, screened or not), standardised and scaled to unit length
  (``context.npz``);
- a window's *class similarity* is the mean cosine of the :data:`NEIGHBOURS`
  most similar training clips of its best class;
- its *background similarity* is the largest cosine to the :data:`QUIET`
  quietest other segments (RMS) within :data:`CONTEXT_S` seconds on either side;
- the window is held back when background similarity > class similarity +
  :data:`MARGIN` (the mean over fold bundles). Recordings with fewer than
  ``QUIET + 1`` segments in reach are not checked.

It changes which windows become rows, never the probabilities (so window
average precision is the same with and without). Measured
(``benchmarks/open_set_probe.py``, docs/results.md): F1 of the default output
on the wind proxy 0.485 -> 0.632, on the rain test 0.694 -> 0.692, on dense
choruses of one class 0.845 -> 0.806 (a chorus's quietest windows are the
chorus). ``predict --no-context`` turns it off.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from animalsnd.backbones import birdnet
from animalsnd.errors import BundleError

__all__ = ["CONTEXT_FILE", "CONTEXT_S", "MARGIN", "NEIGHBOURS", "QUIET", "Context", "context_keep",
           "fit_context", "load_context", "quiet_segments", "quiet_similarity", "segment_energy_db"]

CONTEXT_FILE = "context.npz"
QUIET = 5  # quietest segments that stand for the recording's background
NEIGHBOURS = 3  # training clips averaged into a class similarity
MARGIN = 0.15  # a window is held back when it is this much closer to the background than to its class
CONTEXT_S = 60.0  # seconds on either side of a window where its background is looked for


def _unit(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (np.asarray(x, np.float32) - mean) / scale
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Context:
    """A bundle's training clips (as-recorded view, standardised, unit length) and their classes."""

    mean: np.ndarray  # (1024,)
    scale: np.ndarray  # (1024,)
    refs: np.ndarray  # (n, 1024) unit vectors
    labels: np.ndarray  # (n,) class indices
    n_classes: int

    def unit(self, first: np.ndarray) -> np.ndarray:
        """First-view embeddings ``(n, 1024)`` standardised and scaled to unit length."""
        return _unit(first, self.mean, self.scale)

    def class_similarity(self, z: np.ndarray) -> np.ndarray:
        """``(n, n_classes)``: mean cosine of the :data:`NEIGHBOURS` nearest clips of each class
        (-1 for a class without clips)."""
        out = np.full((len(z), self.n_classes), -1.0, np.float32)
        sims = z @ self.refs.T
        for c in range(self.n_classes):
            cols = sims[:, self.labels == c]
            if cols.shape[1]:
                k = min(NEIGHBOURS, cols.shape[1])
                out[:, c] = np.sort(cols, axis=1)[:, -k:].mean(axis=1)
        return out

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32),
                 refs=self.refs.astype(np.float16), labels=self.labels.astype(np.int16),
                 n_classes=np.int64(self.n_classes))
        return buf.getvalue()


def load_context(path) -> Context:
    """The context stored at ``path`` (a bundle's ``context.npz``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return Context(mean=z["mean"].astype(np.float32), scale=z["scale"].astype(np.float32),
                           refs=z["refs"].astype(np.float32), labels=z["labels"].astype(int),
                           n_classes=int(z["n_classes"]))
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"{path}: unreadable context ({exc}); re-run `animalsnd train`") from None


def fit_context(fs, train: np.ndarray) -> tuple[Context, dict]:
    """The context of a head trained on the clips ``train`` of ``fs`` (an EmbeddingSet): their
    pooled features' first as-recorded block; and what it holds (for bundle.json)."""
    from animalsnd.families.birdnet_screen import view1_columns

    cols = view1_columns(fs.pool, int(fs.X.shape[1]))[: birdnet.EMBED_DIM]
    train = np.asarray(train)
    X = np.asarray(fs.X[train][:, cols], np.float32)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)
    ctx = Context(mean=mean, scale=scale, refs=_unit(X, mean, scale), labels=np.asarray(fs.y[train], int),
                  n_classes=len(fs.classes))
    return ctx, {"file": CONTEXT_FILE, "clips": int(len(train)), "margin": MARGIN, "quiet_segments": QUIET,
                 "context_s": CONTEXT_S}


def segment_energy_db(windows: np.ndarray) -> np.ndarray:
    """RMS level (dB) of each 3-s segment ``(n, samples)``."""
    w = np.asarray(windows, np.float32)
    return 10.0 * np.log10(np.mean(np.square(w, dtype=np.float64), axis=1) + 1e-12)


def quiet_segments(energy_db: np.ndarray, *, reach: int) -> list[np.ndarray | None]:
    """For each segment, the :data:`QUIET` quietest other segments within ``reach`` segments on
    either side (None where fewer are in reach)."""
    energy = np.asarray(energy_db, np.float64)
    n = len(energy)
    out: list[np.ndarray | None] = []
    for i in range(n):
        others = np.r_[np.arange(max(0, i - reach), i), np.arange(i + 1, min(n, i + reach + 1))]
        out.append(others[np.argsort(energy[others], kind="stable")[:QUIET]] if len(others) >= QUIET else None)
    return out


def quiet_similarity(z: np.ndarray, energy_db: np.ndarray, *, reach: int,
                     quiet: list[np.ndarray | None] | None = None) -> np.ndarray:
    """Each segment's largest cosine to its :func:`quiet_segments` (computed when not given);
    NaN where fewer than ``QUIET`` others are in reach."""
    quiet = quiet_segments(energy_db, reach=reach) if quiet is None else quiet
    return np.array([np.nan if q is None else float((z[q] @ z[i]).max()) for i, q in enumerate(quiet)],
                    np.float32)


def context_keep(contexts: list[Context], first: np.ndarray, energy_db: np.ndarray, top: np.ndarray,
                 *, background: int | None) -> np.ndarray:
    """True for the segments that may be reported: those whose best class ``top`` is background,
    those without enough segments in reach, and those at least as close to their class as to
    the recording's quietest stretches minus :data:`MARGIN` (mean over ``contexts``)."""
    top = np.asarray(top, int)
    keep = np.ones(len(top), bool)
    if not contexts or not len(top):
        return keep
    reach = int(round(CONTEXT_S / birdnet.WINDOW_S))
    score = np.zeros(len(top), np.float64)
    checked = np.ones(len(top), bool)
    quiet = quiet_segments(energy_db, reach=reach)  # the same for every bundle
    for ctx in contexts:
        z = ctx.unit(first)
        qs = quiet_similarity(z, energy_db, reach=reach, quiet=quiet)
        cs = ctx.class_similarity(z)[np.arange(len(top)), top]
        checked &= ~np.isnan(qs)
        score += cs + MARGIN - np.nan_to_num(qs, nan=-1.0)
    held = checked & (score / len(contexts) < 0)
    if background is not None:
        held &= top != background
    return ~held
