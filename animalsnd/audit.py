"""What the recording chain gives away: effective bandwidth and the analysis cut-off.

A clip's *effective bandwidth* is measured on the decoded audio at its own
sample rate, not read from the header: the highest frequency whose long-term
power is within :data:`BANDWIDTH_DB` of the clip's strongest frequency. A
clip recorded at 8 kHz and stored at 44.1 kHz still has an effective
bandwidth of about 4 kHz.

When the classes of a dataset come from different recording chains (one class
mostly at 44.1 kHz, the others at 8-11 kHz), "is there energy above 4 kHz?"
names the class, and a model can score well in cross-validation without
listening to the animal. :func:`recommend_cutoff` picks an analysis bandwidth
that nearly every clip has, so that features above it (which only some
chains can carry) are never seen by any model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from animalsnd.errors import ConfigError

__all__ = ["BANDWIDTH_DB", "MIN_CUTOFF_HZ", "check_cutoff", "effective_bandwidth",
           "measure_bandwidths", "recommend_cutoff"]

BANDWIDTH_DB = 60.0  # a frequency counts as carried when within this many dB of the strongest one
MIN_CUTOFF_HZ = 1000.0
CUTOFF_QUANTILE = 5.0  # percent of clips allowed to have less bandwidth than the cut-off
CUTOFF_MARGIN = 0.95  # stay clear of the anti-alias roll-off just below a chain's Nyquist rate
CUTOFF_STEP_HZ = 250.0
_NFFT = 2048


def effective_bandwidth(y: np.ndarray, sr: int, *, db: float = BANDWIDTH_DB) -> float:
    """Highest frequency (Hz) whose mean power is within ``db`` dB of the peak.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono waveform at its native rate ``sr``.

    Returns
    -------
    float, in [0, sr / 2]
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size < _NFFT:
        y = np.pad(y, (0, _NFFT - y.size))
    frames = np.lib.stride_tricks.sliding_window_view(y, _NFFT)[:: _NFFT // 2] * np.hanning(_NFFT)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0) + 1e-30
    level = 10 * np.log10(power)
    carried = np.nonzero(level > level.max() - db)[0]
    freqs = np.fft.rfftfreq(_NFFT, 1.0 / sr)
    return float(freqs[carried[-1]]) if carried.size else 0.0


def file_bandwidth(path: str) -> float | None:
    """Effective bandwidth of one file at its native rate; None when unreadable."""
    from animalsnd.audio import load, read_info
    from animalsnd.errors import AudioError

    try:
        sr = read_info(path).sample_rate
        y, _ = load(path, sr=sr)
    except AudioError:
        return None
    return effective_bandwidth(y, sr)


def measure_bandwidths(paths: Sequence[str], *, jobs: int = -1,
                       progress: Callable[[int, int], None] | None = None) -> list[float | None]:
    """:func:`file_bandwidth` of every path, in parallel, in input order."""
    from animalsnd.parallel import TaskFailure, run_parallel

    out = run_parallel(file_bandwidth, [(str(p),) for p in paths], jobs=jobs, progress=progress)
    return [None if isinstance(b, TaskFailure) else b for b in out]


def recommend_cutoff(bandwidths: Sequence[float | None], *, sr: int) -> float | None:
    """The analysis cut-off (Hz) for clips of these effective bandwidths.

    The bandwidth that all but :data:`CUTOFF_QUANTILE` % of the clips reach,
    times :data:`CUTOFF_MARGIN`, rounded down to 250 Hz and at least
    :data:`MIN_CUTOFF_HZ`. None when that is no lower than the features' own
    Nyquist rate (``sr / 2``): every clip then carries the whole band and no
    cut-off is needed.
    """
    known = np.array([b for b in bandwidths if b is not None and b > 0], dtype=np.float64)
    if known.size == 0:
        return None
    low = float(np.percentile(known, CUTOFF_QUANTILE)) * CUTOFF_MARGIN
    cutoff = max(MIN_CUTOFF_HZ, np.floor(low / CUTOFF_STEP_HZ) * CUTOFF_STEP_HZ)
    return None if cutoff >= sr / 2 * CUTOFF_MARGIN else float(cutoff)


def check_cutoff(cutoff: float, *, sr: int) -> float:
    """Validate a user's ``--cutoff`` against the features' sample rate."""
    try:
        value = float(cutoff)
    except (TypeError, ValueError):
        raise ConfigError(f"--cutoff {cutoff!r} must be 'auto', 'none' or a frequency in Hz") from None
    if not np.isfinite(value) or value < MIN_CUTOFF_HZ or value > sr / 2:
        raise ConfigError(f"--cutoff {cutoff} must lie between {MIN_CUTOFF_HZ:.0f} Hz and the features' "
                          f"Nyquist rate ({sr / 2:.0f} Hz at --sr {sr})")
    return value
