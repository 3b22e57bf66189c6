"""BirdNET features of prediction segments on several cores.

The TFLite interpreter holds Python's GIL while it runs, so threads do not
add cores. :class:`SplitEmbedder` keeps one interpreter in the calling
process and starts ``workers`` child processes (``spawn``: no TensorFlow is
imported there, only the BirdNET backbone) with one single-threaded
interpreter each. Every batch of segments is split: the children's shares
are sent off first and computed while this process embeds its own share and
decodes the next block, so the file is read, band-limited and embedded on
all cores at once.

Each segment is band-limited and embedded on its own whichever process does
it, so the features are the same as with one interpreter (the same bytes:
XNNPACK's single-threaded kernels are deterministic).
"""

from __future__ import annotations

from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from animalsnd.backbones import birdnet

__all__ = ["SplitEmbedder", "banded_features"]

_EMBEDDER: birdnet.BirdNetEmbedder | None = None


def _init_worker() -> None:
    global _EMBEDDER
    from animalsnd.fileutil import c_stderr_silenced

    _EMBEDDER = birdnet.BirdNetEmbedder(num_threads=1)
    with c_stderr_silenced():  # LiteRT announces its delegate on stderr
        _EMBEDDER.embed_windows(np.zeros((1, birdnet.WINDOW_SAMPLES), np.float32))


def banded_features(embedder, windows: np.ndarray, fmax: float | None, screens=None) -> np.ndarray:
    """Both views' features of 48 kHz windows, each band-limited to ``fmax`` first.

    With ``screens`` (:class:`animalsnd.families.birdnet_screen.Screen` list), the
    double-speed view is embedded only for the windows they keep; the others'
    second-view columns are NaN.
    """
    from animalsnd.embeddings import band_windows

    w = band_windows(windows, fmax)
    if not screens:
        return embedder.features(w)
    from animalsnd.families.birdnet_screen import combined_live

    first = embedder.features(w, speeds=birdnet.SPEEDS[:1])
    out = np.full((len(w), birdnet.FEATURE_DIM), np.nan, np.float32)
    out[:, : birdnet.EMBED_DIM] = first
    live = combined_live(screens, first)
    if live.any():
        out[live, birdnet.EMBED_DIM:] = embedder.features(w[live], speeds=birdnet.SPEEDS[1:])
    return out


def _child_features(windows: np.ndarray, fmax: float | None, screens=None) -> np.ndarray:
    return banded_features(_EMBEDDER, windows, fmax, screens)


class _Done:
    """A finished result with the Future interface that segment_embeddings reads."""

    def __init__(self, value: np.ndarray) -> None:
        self._value = value

    def result(self) -> np.ndarray:
        return self._value


class SplitEmbedder:
    """One BirdNET interpreter here and one in each of ``workers`` child processes.

    :meth:`submit` returns futures whose results, in order, are the
    features of the windows given; at most two batches per child are in
    flight, so memory holds a few batches of audio at most.
    """

    def __init__(self, embedder: birdnet.BirdNetEmbedder, workers: int) -> None:
        self.local = embedder
        self.workers = max(0, int(workers))
        self._pool: ProcessPoolExecutor | None = None
        self._inflight: list[Future] = []

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                             initializer=_init_worker)
        return self._pool

    def start(self) -> None:
        """Start the children (they load BirdNET while the heads load here)."""
        if self.workers:
            pool = self._executor()
            for f in [pool.submit(int, 0) for _ in range(self.workers)]:
                f.result()

    def submit(self, windows: np.ndarray, fmax: float | None, screens=None) -> list:
        """Futures of the features of ``windows`` (n, 144000), in order (see :func:`banded_features`)."""
        n = len(windows)
        if not self.workers or n < self.workers + 1:
            return [_Done(banded_features(self.local, windows, fmax, screens))]
        share = n // (self.workers + 1)  # this process's share; the rest goes to the children
        rest = n - share
        bounds = np.linspace(share, n, self.workers + 1).round().astype(int) if rest else [n]
        pool = self._executor()
        self._inflight = [f for f in self._inflight if not f.done()]
        while len(self._inflight) >= 2 * self.workers:  # bound the audio queued for the children
            self._inflight.pop(0).result()
        remote = [pool.submit(_child_features, windows[a:b], fmax, screens)
                  for a, b in zip(bounds[:-1], bounds[1:])]
        self._inflight.extend(remote)
        mine = _Done(banded_features(self.local, windows[:share], fmax, screens))
        return [mine, *remote]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
