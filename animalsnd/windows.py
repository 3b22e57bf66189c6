"""Streaming log-Mel windows of a recording of any length, and a model applied to them.

::

    file --stream.iter_blocks--> mono blocks at the model rate
         --WindowFeatures-------> one (frames, n_mels) input per window
         --predictor------------> class probabilities per window (:func:`scan`)

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsnd.config import FeatureConfig
from animalsnd.errors import AudioError, ConfigError
from animalsnd.features import normalise

__all__ = ["AMIN", "WindowFeatures", "WindowPlan", "check_window_hop", "scan", "window_features"]

AMIN = 1e-10  # librosa.power_to_db's floor

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
