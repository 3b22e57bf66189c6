"""Apply a trained model to recordings of any length.

::

    file --stream.iter_blocks--> mono blocks at the model rate
         --WindowFeatures-------> one (frames, n_mels) input per window
         --Predictor------------> class probabilities per window
         --detections-----------> rows (top-k, unknown, merged runs)

Windows start every ``hop`` samples, a multiple of the feature hop, so every
window's frames are frames of one shared stream spectrogram: the power
Mel spectrogram is computed once per block, not once per window. The frames
a window's own zero padding touches (its first frame, and the last ones of a
window cut short by the end of the file) are computed from the window's
audio alone. Each window is then scaled to dB (``ref=max``, ``top_db``) and
z-normalised per band exactly as :func:`animalsnd.features.logmel` does, so a
window's features equal what ``prepare`` computes for a clip holding exactly
that audio, up to float32 rounding of the FFT and Mel product (measured in
``tests/test_predict.py``: below 2e-4 in z-score units).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.audio import is_audio_file
from animalsnd.background import BACKGROUND
from animalsnd.config import FeatureConfig
from animalsnd.errors import AudioError, BundleError, ConfigError
from animalsnd.features import normalise
from animalsnd.rows import drop_padded_tail, per_file_rows, separate

AMIN = 1e-10  # librosa.power_to_db's floor
UNKNOWN = "unknown"
RUNTIMES = ("auto", "keras", "tflite")

#: ``progress(done_seconds, total_seconds)`` over the audio of all inputs.
Progress = Callable[[float, float], None]


# ------------------------------------------------------------------ windows
def check_window_hop(window_s: float | None, hop_s: float | None) -> None:
    """``--window`` and ``--hop`` are finite and positive, and the hop no longer than the window
    (a longer hop skips the audio between windows)."""
    for name, v in (("--window", window_s), ("--hop", hop_s)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{name} {v} must be a positive, finite number of seconds")
    if window_s is not None and hop_s is not None and hop_s > window_s:
        raise ConfigError(f"--hop {hop_s:g} is longer than --window {window_s:g}: "
                          f"{1 - window_s / hop_s:.0%} of the audio would be skipped; use --hop <= --window")


@dataclass(frozen=True)
class WindowPlan:
    """Where windows start and how much audio each one holds (samples at ``cfg.sr``)."""

    cfg: FeatureConfig
    window: int
    hop: int

    @classmethod
    def from_seconds(
        cls, cfg: FeatureConfig, *, window_s: float | None = None, hop_s: float | None = None
    ) -> "WindowPlan":
        """Window and hop from seconds.

        ``window_s`` defaults to the model's input length
        (``frames * hop_length / sr``, 16 s by default) and may not exceed
        it; ``hop_s`` defaults to half a window and is rounded to the nearest
        multiple of the feature hop (at least one).

        Raises
        ------
        ConfigError
            Non-positive values, a window shorter than one FFT frame or
            longer than the model's input.
        """
        check_window_hop(window_s, hop_s)
        longest = max(cfg.frames * cfg.hop_length, _cut(cfg))
        if window_s is None:
            window = cfg.frames * cfg.hop_length
        else:
            if not window_s > 0:
                raise ConfigError(f"--window {window_s} must be a positive number of seconds")
            window = int(round(window_s * cfg.sr))
            if window < cfg.n_fft:
                raise ConfigError(
                    f"--window {window_s} s is shorter than one FFT frame ({cfg.n_fft / cfg.sr:.3f} s)"
                )
            if window > longest:
                raise ConfigError(
                    f"--window {window_s} s is longer than the model's input "
                    f"({longest / cfg.sr:.2f} s); the rest of each window would be ignored"
                )
        if hop_s is None:
            hop_s = window / cfg.sr / 2
        elif not hop_s > 0:
            raise ConfigError(f"--hop {hop_s} must be a positive number of seconds")
        check_window_hop(window / cfg.sr, hop_s)
        frames = max(1, int(round(hop_s * cfg.sr / cfg.hop_length)))
        return cls(cfg, window, frames * cfg.hop_length)

    def spans(self, n: int) -> list[tuple[int, int]]:
        """``(start, end)`` sample spans of the windows over ``n`` samples.

        Windows start at ``0, hop, 2*hop, ...`` until one reaches the end;
        the last may be shorter than ``window``. A trailing window holding
        less than one FFT frame is dropped (unless it is the only one).
        """
        out = []
        s = 0
        while True:
            e = min(s + self.window, n)
            if out and e - s < self.cfg.n_fft:
                break
            out.append((s, e))
            if s + self.window >= n:
                break
            s += self.hop
        return out


def _cut(cfg: FeatureConfig) -> int:
    """Samples of a clip that reach the first ``frames`` frames (see logmel)."""
    return (cfg.frames - 1) * cfg.hop_length + cfg.n_fft // 2


class WindowFeatures:
    """Streaming features: push blocks of audio, get every finished window.

    Parameters
    ----------
    plan : WindowPlan

    Notes
    -----
    Memory is bounded by one window plus one block of audio and their
    frames, whatever the recording's length.
    """

    def __init__(self, plan: WindowPlan) -> None:
        import librosa

        cfg = plan.cfg
        self.plan, self.cfg = plan, cfg
        self._mel = librosa.filters.mel(
            sr=cfg.sr, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax
        ).astype(np.float32).T.copy()  # (n_fft//2 + 1, n_mels)
        self._win = librosa.filters.get_window("hann", cfg.n_fft, fftbins=True).astype(np.float32)
        self._pad = cfg.n_fft // 2
        self._cut = _cut(cfg)
        # stream frame j spans samples [j*H - pad, j*H - pad + n_fft)
        self._j_first = -(-self._pad // cfg.hop_length)
        self._buf = np.zeros(0, np.float32)
        self._buf0 = 0  # absolute index of self._buf[0]
        self._n = 0  # samples received
        self._L = np.zeros((0, cfg.n_mels), np.float32)  # log power of stream frames
        self._L0 = self._j_first  # frame index of self._L[0]
        self._next_j = self._j_first
        self._k = 0  # next window index
        self._done = False

    # -- spectra
    def _logpower(self, frames: np.ndarray) -> np.ndarray:
        """(m, n_fft) frames -> (m, n_mels) 10*log10(power Mel)."""
        import scipy.fft

        spec = scipy.fft.rfft(frames * self._win, axis=-1)
        power = np.abs(spec)
        power *= power  # |X|^2, as librosa's melspectrogram(power=2)
        mel = power @ self._mel
        return (10.0 * np.log10(np.maximum(mel, np.float32(AMIN)))).astype(np.float32, copy=False)

    def _advance_frames(self) -> None:
        H, n_fft = self.cfg.hop_length, self.cfg.n_fft
        j_end = (self._n + self._pad - n_fft) // H + 1  # frames fully inside received audio
        if j_end <= self._next_j:
            return
        a = self._next_j * H - self._pad - self._buf0
        b = (j_end - 1) * H - self._pad + n_fft - self._buf0
        from numpy.lib.stride_tricks import sliding_window_view

        frames = sliding_window_view(self._buf[a:b], n_fft)[::H]
        self._L = np.concatenate([self._L, self._logpower(frames)])
        self._next_j = j_end

    # -- windows
    def _frame_count(self, n: int) -> int:
        cfg = self.cfg
        return min(cfg.frames, 1 + (n + 2 * self._pad - cfg.n_fft) // cfg.hop_length)

    def _window_logpower(self, s: int, n: int) -> np.ndarray:
        """(T, n_mels) log power of the window at ``s`` holding ``n`` samples."""
        cfg = self.cfg
        H, n_fft, pad = cfg.hop_length, cfg.n_fft, self._pad
        T = self._frame_count(n)
        starts = np.arange(T) * H - pad  # relative to s
        inner = (starts >= 0) & (starts + n_fft <= n)
        out = np.empty((T, cfg.n_mels), np.float32)
        if inner.any():
            t0, t1 = int(np.argmax(inner)), T - int(np.argmax(inner[::-1]))
            j0 = s // H + t0
            out[t0:t1] = self._L[j0 - self._L0 : j0 - self._L0 + (t1 - t0)]
        edge = np.flatnonzero(~inner)
        if edge.size:
            a = self._buf[s - self._buf0 : s - self._buf0 + n]
            frames = np.zeros((edge.size, n_fft), np.float32)
            for i, t in enumerate(edge):
                lo, hi = starts[t], starts[t] + n_fft
                frames[i, max(0, -lo) : n_fft - max(0, hi - n)] = a[max(0, lo) : min(n, hi)]
            out[edge] = self._logpower(frames)
        return out

    def _features(self, s: int, n: int) -> np.ndarray:
        L = self._window_logpower(s, n)
        if self.cfg.norm == "pcen":
            from animalsnd.features import pcen

            return pcen(np.power(np.float32(10.0), L / np.float32(10.0)), cfg=self.cfg, frames=self.cfg.frames)
        db = np.maximum(L - L.max(), np.float32(-self.cfg.top_db))
        return normalise(db, frames=self.cfg.frames, norm=self.cfg.norm)

    def push(self, y: np.ndarray, *, last: bool = False) -> list[tuple[int, int, np.ndarray]]:
        """Add audio; return the windows it completes.

        Parameters
        ----------
        y : np.ndarray, shape (m,), float32
            The next samples at ``cfg.sr``.
        last : bool
            No more audio follows: the remaining windows are returned too.

        Returns
        -------
        list of (start, end, features)
            Sample span of each window and its float32 ``(frames, n_mels)``
            input, in order.
        """
        if self._done:
            raise ValueError("push after last=True")
        y = np.asarray(y, dtype=np.float32)
        if y.size:
            self._buf = np.concatenate([self._buf, y]) if self._buf.size else y.copy()
            self._n += y.size
        self._advance_frames()
        plan, out = self.plan, []
        while True:
            s = self._k * plan.hop
            end = s + plan.window
            if end > self._n and not last:
                break
            if self._k > 0 and (s >= self._n or min(end, self._n) - s < self.cfg.n_fft):
                break
            if self._k > 0 and (self._k - 1) * plan.hop + plan.window >= self._n:
                break  # the previous window already reached the end
            e = min(end, self._n)
            out.append((s, e, self._features(s, min(e - s, self._cut))))
            self._k += 1
        self._trim()
        if last:
            self._done = True
        return out

    def _trim(self) -> None:
        H = self.cfg.hop_length
        s_next = self._k * self.plan.hop
        keep_from = min(s_next, self._next_j * H - self._pad)
        if keep_from > self._buf0:
            self._buf = self._buf[keep_from - self._buf0 :]
            self._buf0 = keep_from
        j_keep = s_next // H + self._j_first
        if j_keep > self._L0:
            drop = min(j_keep - self._L0, len(self._L))
            self._L = self._L[drop:]
            self._L0 += drop


def window_features(y: np.ndarray, plan: WindowPlan) -> tuple[np.ndarray, np.ndarray]:
    """Features of every window of a whole signal (see :class:`WindowFeatures`).

    Returns
    -------
    spans : np.ndarray, shape (n_windows, 2), int
        Start and end sample of each window.
    X : np.ndarray, shape (n_windows, frames, n_mels), float32
    """
    rows = WindowFeatures(plan).push(y, last=True)
    spans = np.array([(s, e) for s, e, _ in rows], dtype=np.int64).reshape(-1, 2)
    X = np.stack([x for _, _, x in rows]) if rows else np.zeros((0, *plan.cfg.shape), np.float32)
    return spans, X


# ------------------------------------------------------------------ models
class _LiteModel:
    """A ``model.tflite`` run with the LiteRT interpreter (no TensorFlow import)."""

    def __init__(self, path: Path, *, threads: int | None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - fall back to TensorFlow's copy
            from animalsnd.bundle import import_tensorflow

            Interpreter = import_tensorflow().lite.Interpreter
        from animalsnd.audio import _quiet_stderr

        self._quiet = _quiet_stderr  # LiteRT logs its delegate set-up to stderr
        try:
            with _quiet_stderr():
                self._it = Interpreter(model_path=str(path), num_threads=threads)
        except Exception as exc:
            raise BundleError(f"{path}: cannot load TFLite model ({exc})") from None
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self.input_shape = tuple(int(d) for d in self._it.get_input_details()[0]["shape"])
        self.output_shape = tuple(int(d) for d in self._it.get_output_details()[0]["shape"])
        self._batch = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self._batch != len(X):
            self._it.resize_tensor_input(self._in, [len(X), *X.shape[1:]])
            with self._quiet():
                self._it.allocate_tensors()
            self._batch = len(X)
        self._it.set_tensor(self._in, np.ascontiguousarray(X, dtype=np.float32))
        self._it.invoke()
        return self._it.get_tensor(self._out).copy()


def _litert_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None


class Predictor:
    """The model(s) of a MODEL_DIR behind one ``predict_proba``.

    A cross-validation folder (``fold-0``, ``fold-1``, ...) predicts the
    **mean of its folds' probabilities**; every fold must share classes and
    feature configuration.

    Parameters
    ----------
    bundles : list of animalsnd.bundle.Bundle
    runtime : {"auto", "keras", "tflite"}
        ``tflite`` runs each bundle's ``model.tflite`` (written by
        ``train --export tflite``) with LiteRT, which starts in milliseconds
        instead of importing TensorFlow; ``auto`` uses it when every bundle
        has one, else Keras.
    threads : int, optional
        Interpreter threads for ``tflite`` (default: all cores).
    """

    def __init__(self, bundles: Sequence, *, runtime: str = "auto", threads: int | None = None):
        if runtime not in RUNTIMES:
            raise ConfigError(f"--runtime {runtime!r} must be one of {', '.join(RUNTIMES)}")
        if not bundles:
            raise BundleError("no model bundle given")
        first = bundles[0]
        for b in bundles[1:]:
            if list(b.classes) != list(first.classes) or b.cfg != first.cfg:
                raise BundleError(
                    f"{b.path}: classes or feature config differ from {first.path}; cannot average folds"
                )
        has_lite = all(b.has_tflite if hasattr(b, "has_tflite") else (Path(b.path) / "model.tflite").is_file()
                       for b in bundles)  # (test doubles have no has_tflite)
        if runtime == "tflite" and not has_lite:
            raise BundleError(
                f"{first.path}: no model.tflite in every bundle (train with --export tflite)"
            )
        if runtime == "auto":
            runtime = "tflite" if has_lite and _litert_available() else "keras"
        self.bundles = list(bundles)
        self.runtime = runtime
        self.classes: list[str] = list(first.classes)
        self.cfg: FeatureConfig = first.cfg
        self._threads = threads or os.cpu_count() or 1
        self._models: list | None = None
        self._loader: threading.Thread | None = None
        self._error: BaseException | None = None

    def _load(self) -> None:
        try:
            if self.runtime == "tflite":
                self._models = [_LiteModel(b.owned_file("model.tflite"), threads=self._threads)
                                for b in self.bundles]
                for b, m in zip(self.bundles, self._models):
                    b.check_model_shapes(m.input_shape, m.output_shape)
            else:
                for b in self.bundles:
                    b.model  # noqa: B018  (loads lazily)
                self._models = self.bundles
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def preload(self) -> "Predictor":
        """Start loading the models in the background (TensorFlow's import is slow)."""
        if self._models is None and self._loader is None:
            self._loader = threading.Thread(target=self._load, name="animalsnd-model-load", daemon=True)
            self._loader.start()
        return self

    def _ready(self) -> list:
        if self._models is None:
            if self._loader is not None:
                self._loader.join()
            else:
                self._load()
            if self._error is not None:
                raise self._error
        return self._models

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """Mean class probabilities over the bundles.

        Parameters
        ----------
        X : np.ndarray, shape (n, frames, n_mels)

        Returns
        -------
        np.ndarray, shape (n, len(classes)), float32
        """
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3 or X.shape[1:] != self.cfg.shape:
            raise BundleError(
                f"features of shape {X.shape[1:]} do not match the model input {self.cfg.shape}"
            )
        models = self._ready()
        total = np.zeros((len(X), len(self.classes)), np.float64)
        for m in models:
            if self.runtime == "tflite":
                p = np.concatenate([m(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]) \
                    if len(X) else np.zeros((0, len(self.classes)), np.float32)
            else:
                p = m.predict_proba(X, batch_size=batch_size)
            total += p
        return (total / len(models)).astype(np.float32)


def load_predictor(model_dir: str | Path, *, runtime: str = "auto", threads: int | None = None) -> Predictor:
    """A :class:`Predictor` for a bundle folder or a folder of ``fold-<k>`` bundles.

    Raises
    ------
    BundleError
        Missing folder, no bundle, corrupt bundle, folds that disagree.
    """
    from animalsnd.bundle import find_bundles, load_bundle

    bundles = [load_bundle(p) for p in find_bundles(model_dir)]
    if any(b.kind == "birdnet" for b in bundles):  # BirdNET embeddings, not log-Mel features
        from animalsnd.heads.birdnet_predict import BirdnetPredictor

        return BirdnetPredictor(bundles, runtime=runtime, threads=threads)
    if any(b.kind == "stats" for b in bundles):  # clip descriptors, not log-Mel features
        from animalsnd.heads.stats_head import StatsPredictor

        return StatsPredictor(bundles, runtime=runtime, threads=threads)
    return Predictor(bundles, runtime=runtime, threads=threads)


def window_plan(predictor, opts: "PredictOptions"):
    """The predictor's windows for ``opts`` (its own ``window_plan`` when it has one)."""
    if hasattr(predictor, "window_plan"):
        return predictor.window_plan(opts.window_s, opts.hop_s)
    return WindowPlan.from_seconds(predictor.cfg, window_s=opts.window_s, hop_s=opts.hop_s)


# ------------------------------------------------------------------ rows
@dataclass(frozen=True)
class Detection:
    """One output row: a window, or a run of merged windows, of one file."""

    file: str
    start_s: float
    end_s: float
    label: str
    confidence: float
    top: tuple[tuple[str, float], ...] = ()  # (label, probability), best first


def detections(
    file: str,
    spans_s: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    *,
    min_confidence: float = 0.0,
    top_k: int = 1,
    unknown_below: float = 0.0,
    merge: bool = False,
    thresholds: dict[str, float] | None = None,
) -> list[Detection]:
    """Turn window probabilities into rows.

    Parameters
    ----------
    file : str
        Written into every row.
    spans_s : np.ndarray, shape (n, 2)
        Start and end (seconds) of each window, in order.
    probs : np.ndarray, shape (n, n_classes)
    min_confidence : float
        Windows whose top probability is below this are dropped.
        Windows whose top class is the reserved ``background`` are dropped
        too: background is never reported as a detection.
    top_k : int
        Number of (label, probability) pairs kept per row.
    unknown_below : float
        A window whose top probability is below this is labelled ``unknown``
        (its confidence stays the top probability).
    thresholds : dict, optional
        Per-class confidence thresholds (:mod:`animalsnd.calibration`): a
        window whose top class is ``c`` is dropped below ``thresholds[c]``.
    merge : bool
        Join runs of consecutive kept windows with the same label into one
        row spanning them; its confidence and top-k are those of the run's
        most confident window. Overlapping rows are then split at the middle
        of their overlap (:func:`animalsnd.rows.separate`).

    Returns
    -------
    list of Detection
    """
    probs = np.asarray(probs, dtype=np.float64)
    rows: list[tuple[int, Detection]] = []
    for i, p in enumerate(probs):
        order = np.argsort(-p, kind="stable")[:top_k]
        conf = float(p[order[0]])
        if conf < min_confidence or classes[order[0]] == BACKGROUND:
            continue
        if thresholds and conf < thresholds.get(classes[order[0]], 0.0):
            continue
        label = classes[order[0]] if conf >= unknown_below else UNKNOWN
        top = tuple((classes[j], float(p[j])) for j in order)
        rows.append((i, Detection(file, float(spans_s[i][0]), float(spans_s[i][1]), label, conf, top)))
    if not merge:
        return [d for _, d in rows]
    out: list[Detection] = []
    prev_i = None
    for i, d in rows:
        if out and prev_i == i - 1 and out[-1].label == d.label:
            best = out[-1] if out[-1].confidence >= d.confidence else d
            out[-1] = Detection(file, out[-1].start_s, d.end_s, d.label, best.confidence, best.top)
        else:
            out.append(d)
        prev_i = i
    return separate(out)


# ------------------------------------------------------------------ files
@dataclass
class FileResult:
    """What happened to one input."""

    path: Path
    duration_s: float = 0.0
    spans_s: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    rows: list[Detection] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class PredictOptions:
    """Options that turn probabilities into rows, validated."""

    window_s: float | None = None
    hop_s: float | None = None
    min_confidence: float = 0.0
    top_k: int = 1
    unknown_below: float = 0.0
    merge: bool = False
    batch_size: int = 64
    per_file: bool = False  # one row per file (animalsnd.rows.per_file_rows)
    calibrated: bool = True  # use MODEL_DIR/calibration.json when present (animalsnd.calibration)
    temperature: float = 1.0  # filled in by predict() from the calibration
    thresholds: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.per_file and self.merge:
            raise ConfigError("--per-file gives one row per recording; it does not combine with --merge")
        for name in ("min_confidence", "unknown_below"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} {v} must be between 0 and 1")
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ConfigError(f"--top-k {self.top_k!r} must be a positive integer")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size!r} must be a positive integer")
        check_window_hop(self.window_s, self.hop_s)


def scan(
    path: str | Path,
    predictor,
    plan: WindowPlan,
    *,
    batch_size: int = 64,
    block_frames: int | None = None,
    on_seconds: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Stream one file through the windows and the model.

    Parameters
    ----------
    predictor
        Anything with ``cfg`` and ``predict_proba(X, batch_size=...)``.
    on_seconds : callable, optional
        Called with the seconds of audio decoded so far.

    Returns
    -------
    spans_s : np.ndarray, shape (n_windows, 2)
        Window start and end in seconds.
    probs : np.ndarray, shape (n_windows, n_classes), float32
    duration_s : float
        Decoded length in seconds.

    Raises
    ------
    AudioError
        Unreadable, undecodable, NaN or too-short audio.
    """
    from animalsnd.stream import BLOCK_FRAMES, iter_blocks, prefetch

    cfg = plan.cfg
    feats = WindowFeatures(plan)
    spans: list[tuple[int, int]] = []
    probs: list[np.ndarray] = []
    batch = np.empty((batch_size, *cfg.shape), np.float32)
    fill = 0

    def flush():
        nonlocal fill
        if fill:
            probs.append(predictor.predict_proba(batch[:fill], batch_size=batch_size))
            fill = 0

    n = 0
    blocks = prefetch(iter_blocks(path, sr=cfg.sr, block_frames=block_frames or BLOCK_FRAMES))
    try:
        nxt = next(blocks)
        while nxt is not None:
            y = nxt
            nxt = next(blocks, None)
            last = nxt is None
            n += y.size
            if last and n < cfg.n_fft:
                raise AudioError(
                    f"{path}: too short ({n} samples at {cfg.sr} Hz, need at least {cfg.n_fft}, one FFT frame)"
                )
            for s, e, x in feats.push(y, last=last):
                spans.append((s, e))
                batch[fill] = x
                fill += 1
                if fill == batch_size:
                    flush()
            if on_seconds is not None:
                on_seconds(n / cfg.sr)
        flush()
    finally:
        blocks.close()
    p = np.concatenate(probs) if probs else np.zeros((0, len(getattr(predictor, "classes", []))), np.float32)
    return np.asarray(spans, dtype=np.float64).reshape(-1, 2) / cfg.sr, p, n / cfg.sr


def collect_inputs(paths: Iterable[str | Path], *, recursive: bool = False) -> list[tuple[Path, str | None]]:
    """Expand files and folders into ``(file, error)`` pairs, in the given order.

    A folder contributes its audio files (sorted; hidden ones ignored; every
    level with ``recursive``). A missing path, or a folder without audio,
    becomes one pair with an error message; a file given by name is always
    tried, whatever its extension.
    """
    out: list[tuple[Path, str | None]] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            files = sorted(
                f for f in it
                if is_audio_file(f) and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not files:
                hint = "" if recursive else " (use --recursive for sub-folders)"
                out.append((p, f"no audio files in folder{hint}"))
            for f in files:
                if f not in seen:
                    seen.add(f)
                    out.append((f, None))
        elif p.exists():
            if p not in seen:
                seen.add(p)
                out.append((p, None))
        else:
            out.append((p, "does not exist"))
    return out


def _reason(exc: AudioError, path: Path) -> str:
    msg = str(exc)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def predict_file(
    path: str | Path,
    predictor,
    opts: PredictOptions,
    *,
    plan: WindowPlan | None = None,
    on_seconds: Callable[[float], None] | None = None,
) -> FileResult:
    """Windows, probabilities and rows of one file; unreadable audio becomes ``error``."""
    path = Path(path)
    plan = plan or window_plan(predictor, opts)
    try:
        if hasattr(predictor, "scan"):  # a predictor with its own input pipeline
            spans, probs, duration = predictor.scan(path, plan, batch_size=opts.batch_size, on_seconds=on_seconds)
        else:
            spans, probs, duration = scan(path, predictor, plan, batch_size=opts.batch_size,
                                          on_seconds=on_seconds)
    except AudioError as exc:
        return FileResult(path, error=_reason(exc, path))
    spans, probs = drop_padded_tail(spans, probs, window_s=plan.window / plan.cfg.sr)
    if opts.temperature != 1.0:
        from animalsnd.calibration import apply_temperature

        probs = apply_temperature(probs, opts.temperature)
    rule = dict(min_confidence=opts.min_confidence, top_k=min(opts.top_k, len(predictor.classes)),
                unknown_below=opts.unknown_below)
    if opts.per_file:
        rows = per_file_rows(str(path), duration, probs, predictor.classes, **rule)
    else:
        rows = detections(str(path), spans, probs, predictor.classes, merge=opts.merge,
                          thresholds=dict(opts.thresholds), **rule)
    return FileResult(path, duration, spans, probs, rows)


_WORKER_CACHE: dict[tuple, Predictor] = {}


def _worker(model_dir: str, runtime: str, threads: int, path: str, opts: PredictOptions) -> FileResult:
    key = (model_dir, runtime, threads)
    if key not in _WORKER_CACHE:
        _WORKER_CACHE[key] = load_predictor(model_dir, runtime=runtime, threads=threads)
    return predict_file(path, _WORKER_CACHE[key], opts)


@dataclass
class PredictRun:
    """Everything ``predict`` produced, in input order."""

    model_dir: Path
    classes: list[str]
    cfg: FeatureConfig
    plan: WindowPlan
    options: PredictOptions
    runtime: str
    n_models: int
    results: list[FileResult]
    seconds: float

    @property
    def processed(self) -> list[FileResult]:
        return [r for r in self.results if r.ok]

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.results if not r.ok]

    @property
    def rows(self) -> list[Detection]:
        return [d for r in self.processed for d in r.rows]

    @property
    def audio_s(self) -> float:
        return sum(r.duration_s for r in self.processed)


def with_calibration(options: PredictOptions, model_dir, classes) -> PredictOptions:
    """``options`` with the temperature and thresholds of ``model_dir``'s calibration,
    unless they are turned off or ``--min-confidence``/``--unknown-below`` decide instead."""
    from dataclasses import replace

    from animalsnd.calibration import load_calibration

    if not options.calibrated or options.min_confidence > 0 or options.unknown_below > 0 or model_dir is None:
        return options
    cal = load_calibration(model_dir, list(classes))
    if cal is None:
        return options
    return replace(options, temperature=float(cal.temperature), thresholds=tuple(sorted(cal.thresholds.items())))


def predict(
    model_dir: str | Path,
    paths: Sequence[str | Path],
    *,
    options: PredictOptions = PredictOptions(),
    recursive: bool = False,
    jobs: int = 1,
    runtime: str = "auto",
    predictor: Predictor | None = None,
    backend: str = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> PredictRun:
    """Classify every window of every input with the model(s) in ``model_dir``.

    Parameters
    ----------
    model_dir : path
        A bundle, or a folder of ``fold-<k>`` bundles (their mean is used).
    paths : sequence of path
        Files and folders (see :func:`collect_inputs`).
    options : PredictOptions
    jobs : int
        Worker processes across files (joblib); results keep input order.
        One file, or ``jobs=1``, runs in this process.
    backend, scheduler : str
        ``"dask"`` sends one task per file to a Dask cluster (see
        :func:`animalsnd.parallel.run_parallel`); workers load the bundle once
        and must see the same paths. Results are identical to a local run.
    predictor : Predictor, optional
        An already loaded predictor (``model_dir`` is then only recorded and
        everything runs in this process).
    progress : callable, optional
        ``progress(done_seconds, total_seconds)``.

    Returns
    -------
    PredictRun
        Unreadable inputs are in ``run.skipped`` with a reason; nothing is
        raised for them.

    Raises
    ------
    BundleError
        Missing, corrupt or unusable model bundle.
    ConfigError
        Invalid options.
    """
    from animalsnd.stream import probe

    from animalsnd.parallel import TaskFailure, check_backend, run_parallel

    t0 = time.perf_counter()
    check_backend(backend, scheduler)
    if not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ConfigError(f"--jobs {jobs!r} must be a positive integer or -1 (all cores)")
    n_cpu = os.cpu_count() or 1
    inputs = collect_inputs(paths, recursive=recursive)
    todo = [i for i, (_, err) in enumerate(inputs) if err is None]
    workers = 1 if predictor is not None else min(n_cpu if jobs == -1 else jobs, len(todo)) or 1
    threads = max(1, n_cpu // workers)
    pred = predictor or load_predictor(model_dir, runtime=runtime, threads=threads)
    options = with_calibration(options, model_dir, pred.classes)
    plan = window_plan(pred, options)
    if workers == 1 and todo:
        pred.preload()

    results: list[FileResult | None] = [
        None if err is None else FileResult(p, error=err) for p, err in inputs
    ]
    durations = {}
    for i in todo:
        try:
            durations[i] = probe(inputs[i][0]).duration_s
        except AudioError as exc:
            results[i] = FileResult(inputs[i][0], error=_reason(exc, inputs[i][0]))
    todo = [i for i in todo if results[i] is None]
    total = float(sum(durations[i] for i in todo))
    done = 0.0
    if progress:
        progress(0.0, total)

    if backend == "dask" and predictor is None and todo:
        tasks = [(str(Path(model_dir).resolve()), pred.runtime, 1, str(Path(inputs[i][0]).resolve()), options)
                 for i in todo]

        def tick_files(n: int, _total: int) -> None:
            if progress:
                progress(min(sum(durations[i] for i in todo[:n]), total), total)

        out = run_parallel(_worker, tasks, backend="dask", scheduler=scheduler, progress=tick_files)
        for i, res in zip(todo, out):
            if isinstance(res, TaskFailure):
                res = FileResult(inputs[i][0], error=res.error)
            res.path = inputs[i][0]
            results[i] = res
    elif workers == 1 or len(todo) <= 1:
        for i in todo:
            def tick(sec: float, _base=done, _cap=durations[i]) -> None:
                if progress:
                    progress(min(_base + sec, _base + _cap, total), total)

            results[i] = predict_file(inputs[i][0], pred, options, plan=plan, on_seconds=tick)
            done += durations[i]
            if progress:
                progress(min(done, total), total)
    else:
        from joblib import Parallel, delayed

        tasks = (delayed(_worker)(str(model_dir), pred.runtime, threads, str(inputs[i][0]), options)
                 for i in todo)
        gen = Parallel(n_jobs=workers, return_as="generator")(tasks)
        for i, res in zip(todo, gen):
            res.path = inputs[i][0]
            results[i] = res
            done += durations[i]
            if progress:
                progress(min(done, total), total)
    return PredictRun(Path(model_dir), pred.classes, pred.cfg, plan, options, pred.runtime,
                      len(pred.bundles) if hasattr(pred, "bundles") else 1,
                      [r for r in results if r is not None], time.perf_counter() - t0)
