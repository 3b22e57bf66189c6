"""Signal and noise levels: RMS, the RMS of a clip's active part, and the SNR formula.

The signal level is measured either over the whole clip (``reference="whole"``,
the naive baseline) or over its *active* part only (``reference="active"``,
see :func:`active_rms`). The latter keeps a requested SNR meaningful for a
short call padded with silence: the noise is set relative to the call, not to
the call diluted by the silence around it. :func:`calculate_desired_noise_rms`
is the SNR formula; :func:`realised_snr` measures a mix by it.

All functions work on mono float waveforms (1-D arrays, values in [-1, 1])
sharing one sample rate, and compute in float64.
"""

from __future__ import annotations

import math

import numpy as np

from animalsnd.errors import AudioError, ConfigError

__all__ = [
    "DEFAULT_FRAME_S",
    "DEFAULT_THRESHOLD_DB",
    "REFERENCES",
    "active_rms",
    "calculate_desired_noise_rms",
    "realised_snr",
    "rms",
]

DEFAULT_FRAME_S = 0.02
DEFAULT_THRESHOLD_DB = -35.0
REFERENCES = ("active", "whole")


def as_mono(x: object, what: str) -> np.ndarray:
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


def check_active_options(sr: object, frame_s: object, threshold_db: object) -> None:
    """Raise :class:`ConfigError` unless the options of :func:`active_rms` are valid."""
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr <= 0:
        raise ConfigError(f"sr={sr!r} must be a positive integer")
    if not is_real(frame_s) or not frame_s > 0 or not math.isfinite(frame_s):
        raise ConfigError(f"frame_s={frame_s!r} must be a positive number of seconds")
    if not is_real(threshold_db) or not math.isfinite(threshold_db) or threshold_db > 0:
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
    check_active_options(sr, frame_s, threshold_db)
    arr = np.asarray(as_mono(x, "waveform"), dtype=np.float64)
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


def reference_rms(
    x: np.ndarray, *, reference: str, sr: int, frame_s: float, threshold_db: float
) -> float:
    """The signal level by ``reference``: :func:`active_rms` or :func:`rms`."""
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

    If :class:`~animalsnd.augment.noise.NoiseMixer` had to scale a mix down to avoid clipping, pass
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
    check_reference(reference)
    c = np.asarray(as_mono(clean, "clean"), dtype=np.float64)
    m = np.asarray(as_mono(mixed, "mixed"), dtype=np.float64)
    if c.shape != m.shape:
        raise AudioError(f"clean {c.shape} and mixed {m.shape} differ in length")
    signal = reference_rms(
        c, reference=reference, sr=sr, frame_s=frame_s, threshold_db=threshold_db
    )
    noise = rms(m - c)
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 20.0 * math.log10(signal / noise)


def is_real(v: object) -> bool:
    """A real number, ``bool`` excepted."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, bool
    )


def check_reference(reference: object) -> None:
    """Raise :class:`ConfigError` unless ``reference`` is one of :data:`REFERENCES`."""
    if reference not in REFERENCES:
        raise ConfigError(
            f"reference={reference!r} must be one of {', '.join(REFERENCES)}"
        )
