"""SNR-calibrated mixing of background noise into waveforms.

The signal level is measured either over the whole clip (``reference="whole"``,
the naive baseline) or over its *active* part only (``reference="active"``,
see :func:`active_rms`). The latter keeps the requested SNR meaningful for a
short call padded with silence: the noise is set relative to the call, not to
the call diluted by the silence around it.

All functions work on mono float waveforms (1-D arrays, values in [-1, 1])
sharing one sample rate. Computations run in float64; outputs keep the float
dtype of the clip (float32 for non-float input).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from animalsnd.errors import AudioError, ConfigError

__all__ = [
    "DEFAULT_FRAME_S",
    "DEFAULT_THRESHOLD_DB",
    "REFERENCES",
    "NoiseMixer",
    "active_rms",
    "calculate_desired_noise_rms",
    "noise_segment",
    "parse_snr_list",
    "parse_snr_range",
    "realised_snr",
    "rms",
]

DEFAULT_FRAME_S = 0.02
DEFAULT_THRESHOLD_DB = -35.0
REFERENCES = ("active", "whole")

# A noise recording quieter than this (about -160 dBFS) counts as silent.
_SILENT_RMS = 1e-8
# Offsets re-drawn before falling back when a segment is digital silence.
_MAX_REDRAWS = 8


def _as_mono(x: object, what: str) -> np.ndarray:
    """Return ``x`` as a 1-D float array, or raise :class:`AudioError`."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise AudioError(f"{what} must be a mono 1-D array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    return arr


def rms(x: np.ndarray) -> float:
    """Root-mean-square level of a waveform.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,)
        Waveform. An empty array has RMS 0.0.

    Returns
    -------
    float
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(arr))))


def _check_active_options(sr: object, frame_s: object, threshold_db: object) -> None:
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr <= 0:
        raise ConfigError(f"sr={sr!r} must be a positive integer")
    if not _is_real(frame_s) or not frame_s > 0 or not math.isfinite(frame_s):
        raise ConfigError(f"frame_s={frame_s!r} must be a positive number of seconds")
    if not _is_real(threshold_db) or not math.isfinite(threshold_db) or threshold_db > 0:
        raise ConfigError(
            f"threshold_db={threshold_db!r} must be a finite number <= 0 dB"
        )


def active_rms(
    x: np.ndarray,
    *,
    sr: int,
    frame_s: float = DEFAULT_FRAME_S,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
) -> float:
    """RMS level of the active (non-silent) part of a waveform.

    The clip is cut into consecutive frames of ``frame_s`` seconds (the last
    one may be shorter). Frames whose RMS lies within ``threshold_db`` of the
    loudest frame are kept, and the RMS is taken over all samples of the kept
    frames. A short call padded with silence or a low noise floor is thus
    measured by the call alone.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,)
        Mono waveform.
    sr : int
        Sample rate in Hz (sets the frame length).
    frame_s : float, default 0.02
        Frame length in seconds.
    threshold_db : float, default -35.0
        Frames quieter than the loudest frame by more than this are dropped.

    Returns
    -------
    float
        The active RMS; the whole-clip RMS if no frame is kept (0.0 for a
        silent or empty clip).
    """
    _check_active_options(sr, frame_s, threshold_db)
    arr = np.asarray(_as_mono(x, "waveform"), dtype=np.float64)
    n = arr.size
    if n == 0:
        return 0.0
    frame_len = max(1, int(round(frame_s * sr)))
    n_frames = -(-n // frame_len)
    padded = np.zeros(n_frames * frame_len)
    padded[:n] = np.square(arr)
    energy = padded.reshape(n_frames, frame_len).sum(axis=1)
    counts = np.full(n_frames, frame_len, dtype=np.float64)
    counts[-1] = n - (n_frames - 1) * frame_len
    frame_ms = energy / counts
    peak_ms = float(frame_ms.max())
    if peak_ms <= 0.0:
        return rms(arr)
    keep = frame_ms >= peak_ms * 10.0 ** (threshold_db / 10.0)
    kept = float(counts[keep].sum())
    if kept == 0:
        return rms(arr)
    return float(np.sqrt(energy[keep].sum() / kept))


def _reference_rms(
    x: np.ndarray, *, reference: str, sr: int, frame_s: float, threshold_db: float
) -> float:
    if reference == "active":
        return active_rms(x, sr=sr, frame_s=frame_s, threshold_db=threshold_db)
    return rms(x)


def calculate_desired_noise_rms(signal_rms: float, snr_db: float) -> float:
    """Noise RMS that puts a signal of level ``signal_rms`` at ``snr_db``.

    ``snr_db = 20 * log10(signal_rms / noise_rms)``, hence
    ``noise_rms = signal_rms / 10 ** (snr_db / 20)``.

    Parameters
    ----------
    signal_rms : float
        Reference level of the signal (linear, not dB).
    snr_db : float
        Target signal-to-noise ratio in dB.

    Returns
    -------
    float
    """
    return float(signal_rms) / 10.0 ** (float(snr_db) / 20.0)


def noise_segment(noise: np.ndarray, *, length: int, offset: int) -> np.ndarray:
    """Take ``length`` samples of ``noise`` starting at ``offset``, looping.

    The noise wraps around to its start as often as needed, so a noise
    shorter than the clip is repeated; ``offset`` is taken modulo the noise
    length.

    Parameters
    ----------
    noise : np.ndarray, shape (n_noise,)
        Mono noise waveform, not empty.
    length : int
        Number of samples wanted (>= 0).
    offset : int
        Start sample in ``noise``.

    Returns
    -------
    np.ndarray, shape (length,)
        A new array with the dtype of ``noise``.
    """
    arr = _as_mono(noise, "noise")
    if arr.size == 0:
        raise ConfigError("noise is empty (0 samples)")
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise ConfigError(f"length={length!r} must be a non-negative integer")
    if not isinstance(offset, (int, np.integer)):
        raise ConfigError(f"offset={offset!r} must be an integer")
    start = int(offset) % arr.size
    if start + length <= arr.size:
        return arr[start : start + length].copy()
    idx = (start + np.arange(length)) % arr.size
    return arr[idx]


def realised_snr(
    clean: np.ndarray,
    mixed: np.ndarray,
    *,
    sr: int,
    reference: str = "active",
    frame_s: float = DEFAULT_FRAME_S,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
) -> float:
    """Measure the SNR of a mix: reference level of ``clean`` vs ``mixed - clean``.

    If :class:`NoiseMixer` had to scale a mix down to avoid clipping, pass
    ``clean * mixer.params["gain"]`` as ``clean``.

    Parameters
    ----------
    clean : np.ndarray, shape (n_samples,)
        The signal before mixing.
    mixed : np.ndarray, shape (n_samples,)
        The signal after mixing.
    sr : int
        Sample rate in Hz (used by the ``"active"`` reference).
    reference : {"active", "whole"}, default "active"
        How the signal level is measured (see :func:`active_rms`).
    frame_s, threshold_db : float
        Options of :func:`active_rms`.

    Returns
    -------
    float
        SNR in dB; ``inf`` if nothing was added, ``-inf`` for a silent clean.
    """
    _check_reference(reference)
    c = np.asarray(_as_mono(clean, "clean"), dtype=np.float64)
    m = np.asarray(_as_mono(mixed, "mixed"), dtype=np.float64)
    if c.shape != m.shape:
        raise AudioError(f"clean {c.shape} and mixed {m.shape} differ in length")
    signal = _reference_rms(
        c, reference=reference, sr=sr, frame_s=frame_s, threshold_db=threshold_db
    )
    noise = rms(m - c)
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 20.0 * math.log10(signal / noise)


def _is_real(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, bool
    )


def _check_reference(reference: object) -> None:
    if reference not in REFERENCES:
        raise ConfigError(
            f"reference={reference!r} must be one of {', '.join(REFERENCES)}"
        )


def _check_snr_range(snr_db: object) -> tuple[float, float]:
    if _is_real(snr_db):
        lo = hi = snr_db
    else:
        try:
            lo, hi = snr_db  # type: ignore[misc]
        except (TypeError, ValueError):
            raise ConfigError(
                f"snr_db={snr_db!r} must be a number or a (low, high) pair"
            ) from None
    if not (_is_real(lo) and _is_real(hi)):
        raise ConfigError(f"snr_db={snr_db!r} must hold numbers")
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"snr_db={snr_db!r} must be finite")
    if lo > hi:
        raise ConfigError(f"snr_db={snr_db!r} is inverted: low {lo} > high {hi}")
    return lo, hi


def parse_snr_range(text: str) -> tuple[float, float]:
    """Parse an SNR range option: ``"10:20"`` -> (10.0, 20.0), ``"5"`` -> (5.0, 5.0).

    Parameters
    ----------
    text : str
        ``"LOW:HIGH"`` or a single value, in dB. Negative values are allowed.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``low <= high``.

    Raises
    ------
    ConfigError
        For empty, non-numeric, non-finite or inverted ranges; the message
        quotes ``text``.
    """
    parts = str(text).split(":")
    if len(parts) > 2 or any(not p.strip() for p in parts):
        raise ConfigError(f"SNR range {text!r} must look like LOW:HIGH or VALUE (dB)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(
            f"SNR range {text!r} must hold numbers, like 10:20 or 5"
        ) from None
    lo, hi = values[0], values[-1]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"SNR range {text!r} must be finite")
    if lo > hi:
        raise ConfigError(f"SNR range {text!r} is inverted: low {lo:g} > high {hi:g}")
    return lo, hi


def parse_snr_list(text: str) -> list[float]:
    """Parse a comma-separated list of SNRs: ``"20,10,5,0"`` -> [20.0, 10.0, 5.0, 0.0].

    Order is kept. Raises :class:`ConfigError` quoting ``text`` for an empty
    list, an empty item or a non-numeric / non-finite value.
    """
    parts = str(text).split(",")
    if any(not p.strip() for p in parts):
        raise ConfigError(
            f"SNR list {text!r} must be comma-separated numbers, like 20,10,5,0"
        )
    out: list[float] = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise ConfigError(f"SNR list {text!r}: {p.strip()!r} is not a number") from None
        if not math.isfinite(v):
            raise ConfigError(f"SNR list {text!r}: {p.strip()!r} is not finite")
        out.append(v)
    return out


class NoiseMixer:
    """Add one of several background noises to a clip at a random SNR.

    The noise segment is scaled so that
    ``20 * log10(reference_rms(clip) / rms(scaled_segment))`` equals the drawn
    SNR exactly. If the mix would clip (``|x| > 1``), the whole mix is scaled
    down uniformly, which keeps the SNR; the factor is ``params["gain"]``.

    Parameters
    ----------
    noises : list of np.ndarray, each shape (n_noise_i,)
        Mono noise waveforms at the clips' sample rate. A noise shorter than
        a clip is looped.
    snr_db : (float, float) or float, default (10.0, 20.0)
        SNR range in dB; the SNR is drawn uniformly in ``[low, high]``.
    reference : {"active", "whole"}, default "active"
        Signal level: RMS over the active frames (:func:`active_rms`) or over
        the whole clip (naive baseline).
    sr : int, default 16000
        Sample rate in Hz (sets the frame length of the active reference).
    noise_names : list of str, optional
        One name per noise (e.g. file names), recorded in ``params``.
        Defaults to ``noise_0``, ``noise_1``, ...
    frame_s, threshold_db : float
        Options of :func:`active_rms`.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``snr_db``, ``noise_index``, ``noise_name``,
        ``offset``; :meth:`apply` adds ``gain`` (1.0 unless the mix was
        scaled down) and ``noise_rms`` (level of the added noise before gain).

    Examples
    --------
    ::

        mixer = NoiseMixer([rain, wind], snr_db=(5, 15), sr=16000,
                           noise_names=["rain.wav", "wind.wav"])
        noisy = mixer(clip, np.random.default_rng(0))
        mixer.params  # {"snr_db": ..., "noise_name": "wind.wav", ...}
    """

    def __init__(
        self,
        noises: Sequence[np.ndarray],
        *,
        snr_db: tuple[float, float] | float = (10.0, 20.0),
        reference: str = "active",
        sr: int = 16000,
        noise_names: Sequence[str] | None = None,
        frame_s: float = DEFAULT_FRAME_S,
        threshold_db: float = DEFAULT_THRESHOLD_DB,
    ) -> None:
        if noises is None or len(noises) == 0:
            raise ConfigError("noises is empty: give at least one noise waveform")
        if noise_names is None:
            names = [f"noise_{i}" for i in range(len(noises))]
        else:
            names = [str(n) for n in noise_names]
            if len(names) != len(noises):
                raise ConfigError(
                    f"noise_names has {len(names)} names for {len(noises)} noises"
                )
        arrays: list[np.ndarray] = []
        for i, (noise, name) in enumerate(zip(noises, names)):
            arr = np.asarray(noise)
            if arr.ndim != 1:
                raise ConfigError(
                    f"noise {name!r} must be a mono 1-D array, got shape {arr.shape}"
                )
            if arr.size == 0:
                raise ConfigError(f"noise {name!r} is empty (0 samples)")
            if not np.issubdtype(arr.dtype, np.floating):
                arr = arr.astype(np.float32)
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"noise {name!r} contains NaN or infinite samples")
            if rms(arr) <= _SILENT_RMS:
                raise ConfigError(f"noise {name!r} is silent (RMS {rms(arr):.3g})")
            arrays.append(arr)
        self.noises = arrays
        self.noise_names = names
        self.snr_db = _check_snr_range(snr_db)
        _check_reference(reference)
        self.reference = reference
        _check_active_options(sr, frame_s, threshold_db)
        self.sr = int(sr)
        self.frame_s = float(frame_s)
        self.threshold_db = float(threshold_db)
        self.params: dict = {}

    def __repr__(self) -> str:
        return (
            f"NoiseMixer({len(self.noises)} noises, snr_db={self.snr_db}, "
            f"reference={self.reference!r}, sr={self.sr})"
        )

    def randomize(
        self, clip: np.ndarray, rng: np.random.Generator | int | None = None
    ) -> dict:
        """Draw the SNR, the noise and its offset for ``clip``.

        Parameters
        ----------
        clip : np.ndarray, shape (n_samples,)
            The clip that will be passed to :meth:`apply`.
        rng : np.random.Generator or int, optional
            Random generator (or seed).

        Returns
        -------
        dict
            ``self.params``.
        """
        arr = _as_mono(clip, "clip")
        rng = np.random.default_rng(rng)
        lo, hi = self.snr_db
        snr = float(rng.uniform(lo, hi)) if hi > lo else lo
        index = int(rng.integers(len(self.noises)))
        noise = self.noises[index]
        offset = int(rng.integers(noise.size))
        length = arr.size
        # A segment of pure digital silence cannot be scaled to any SNR:
        # re-draw, then start at the next non-zero sample.
        redraws = 0
        while length and not np.any(noise_segment(noise, length=length, offset=offset)):
            if redraws < _MAX_REDRAWS:
                offset = int(rng.integers(noise.size))
                redraws += 1
                continue
            nonzero = np.flatnonzero(np.roll(noise, -offset))
            offset = (offset + int(nonzero[0])) % noise.size
        self.params = {
            "snr_db": snr,
            "noise_index": index,
            "noise_name": self.noise_names[index],
            "offset": offset,
        }
        return self.params

    def apply(self, clip: np.ndarray) -> np.ndarray:
        """Mix the noise drawn by :meth:`randomize` into ``clip``.

        Parameters
        ----------
        clip : np.ndarray, shape (n_samples,)
            Mono waveform. Not modified.

        Returns
        -------
        np.ndarray, shape (n_samples,)
            The mix, with the clip's float dtype (float32 otherwise), within
            [-1, 1] if the clip's peak is. A silent clip (reference RMS 0) is
            returned unchanged (as a copy): no SNR can be defined for it.
        """
        if not self.params:
            raise RuntimeError("NoiseMixer.apply() called before randomize()")
        arr = _as_mono(clip, "clip")
        if not np.all(np.isfinite(arr)):
            raise AudioError("clip contains NaN or infinite samples")
        out_dtype = arr.dtype
        x = arr.astype(np.float64)
        noise = self.noises[self.params["noise_index"]]
        seg = noise_segment(noise, length=x.size, offset=self.params["offset"]).astype(
            np.float64
        )
        signal_rms = _reference_rms(
            x,
            reference=self.reference,
            sr=self.sr,
            frame_s=self.frame_s,
            threshold_db=self.threshold_db,
        )
        seg_rms = rms(seg)
        if signal_rms == 0.0 or seg_rms == 0.0:
            self.params["gain"] = 1.0
            self.params["noise_rms"] = 0.0
            return arr.copy()
        target = calculate_desired_noise_rms(signal_rms, self.params["snr_db"])
        mixed = x + seg * (target / seg_rms)
        peak = float(np.max(np.abs(mixed)))
        gain = 1.0 / peak if peak > 1.0 else 1.0
        if gain != 1.0:
            mixed *= gain
            np.clip(mixed, -1.0, 1.0, out=mixed)  # absorb rounding at the peak
        self.params["gain"] = gain
        self.params["noise_rms"] = target
        return mixed.astype(out_dtype)

    def __call__(
        self, clip: np.ndarray, rng: np.random.Generator | int | None = None
    ) -> np.ndarray:
        """:meth:`randomize` then :meth:`apply`."""
        self.randomize(clip, rng)
        return self.apply(clip)
