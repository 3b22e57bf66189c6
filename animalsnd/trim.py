"""A clip's active region: what a whole-clip model describes.

Training clips of small datasets are mostly cut tight around the call, but a
user's recordings often are not: the same call sits in 5 or 30 seconds of
quiet (an archive's fixed-length clips padded with silence, a recorder left
running). A model that summarises the whole clip (``stats-mlp``'s
descriptors, ``birdnet-head``'s pooled windows) then describes mostly the
quiet and loses the call: on animal-sounds-10's held-out clips placed in a
12-s recording, 0.89 -> 0.68 for stats-mlp (``eval --chain long``,
docs/results.md). So before a clip is described as a whole, it is cut to its
active region:

- frame energies in 32-ms frames (hop 16 ms);
- active frames: within :data:`TRIM` ``drop_db`` (30 dB) of the loudest;
- the span from the first to the last active frame, widened by ``margin_s``
  (0.2 s) on each side and to at least ``min_s`` (0.5 s), within the clip.

A clip whose quiet parts are within 30 dB of its call (most field recordings
over wind or rain, every clip mixed with noise at 0-20 dB) keeps its length.
``predict``'s windows are never trimmed: each window is what it is.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOGMEL_TRIM", "TRIM", "active_span", "trim"]

#: what decides the span (recorded in the specs of the stores and bundles that use it)
TRIM: dict = {"drop_db": 30.0, "frame_s": 0.032, "margin_s": 0.2, "min_s": 0.5}
#: for log-Mel features: no margin. Their per-band z-normalisation counts every frame, so the
#: silence a margin takes in around a call padded with it shifts each band's statistics; the
#: descriptors count active frames only and BirdNET centres short clips, so a margin is harmless there.
LOGMEL_TRIM: dict = {**TRIM, "margin_s": 0.0}


def active_span(y: np.ndarray, sr: int, *, drop_db: float = TRIM["drop_db"], frame_s: float = TRIM["frame_s"],
                margin_s: float = TRIM["margin_s"], min_s: float = TRIM["min_s"]) -> tuple[int, int]:
    """``(start, end)`` samples of the active region of mono ``y`` (see the module notes)."""
    y = np.asarray(y, dtype=np.float32)
    n = y.size
    frame = max(2, int(round(frame_s * sr)))
    hop = frame // 2
    if n <= frame:
        return 0, n
    count = 1 + (n - frame) // hop
    energy = np.empty(count, np.float64)
    for i in range(0, count, 4096):  # in slices: a long recording never makes one huge frame matrix
        k = np.arange(i, min(count, i + 4096))
        idx = k[:, None] * hop + np.arange(frame)[None, :]
        energy[k] = np.mean(np.square(y[idx], dtype=np.float64), axis=1)
    db = 10.0 * np.log10(energy + 1e-20)
    active = np.flatnonzero(db >= db.max() - drop_db)
    margin = int(round(margin_s * sr))
    a = max(0, int(active[0]) * hop - margin)
    b = min(n, int(active[-1]) * hop + frame + margin)
    if n - (count - 1) * hop - frame > 0 and active[-1] == count - 1:
        b = n  # the last frame is active: keep the tail the frames do not reach
    shortest = min(n, int(round(min_s * sr)))
    if b - a < shortest:
        centre = (a + b) // 2
        a = min(max(0, centre - shortest // 2), n - shortest)
        b = a + shortest
    return a, b


def trim(y: np.ndarray, sr: int, spec: dict | None = None) -> np.ndarray:
    """``y`` cut to its active region (:func:`active_span` with ``spec``, default :data:`TRIM`)."""
    a, b = active_span(y, sr, **(spec or TRIM))
    return np.asarray(y)[a:b]
