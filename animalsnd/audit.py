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

__all__ = ["BANDWIDTH_DB", "MIN_CUTOFF_HZ", "PROPERTIES", "WAVEFORM_PROPERTIES", "check_cutoff", "clip_properties",
           "effective_bandwidth", "encoding_of", "file_bandwidth", "measure_bandwidths", "recommend_cutoff",
           "waveform_properties"]

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
    low = float(np.percentile(known, CUTOFF_QUANTILE))
    if low >= sr / 2 * CUTOFF_MARGIN:  # the clips fill the features' band (up to the resampler's roll-off)
        return None
    return float(max(MIN_CUTOFF_HZ, np.floor(low * CUTOFF_MARGIN / CUTOFF_STEP_HZ) * CUTOFF_STEP_HZ))


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


# ------------------------------------------------------------ recording properties
PROPERTIES = ("sample_rate", "bandwidth_hz", "channels", "encoding", "bit_depth", "duration_s",
              "rms_dbfs", "peak_dbfs", "lead_silence_s", "trail_silence_s")
"""What :func:`clip_properties` measures, in the order the audit reports them."""
ACTIVE_DB = 40.0  # a 10 ms frame is active (not silence) when within this many dB of the loudest frame
_FRAME_S = 0.01
_ENCODINGS = {
    "PCM_S8": ("PCM", 8), "PCM_U8": ("PCM", 8), "FLOAT": ("float", 32), "DOUBLE": ("float", 64),
    "ALAW": ("A-law", 8), "ULAW": ("µ-law", 8), "IMA_ADPCM": ("ADPCM", 4), "MS_ADPCM": ("ADPCM", 4),
    "VOX_ADPCM": ("ADPCM", 4), "G721_32": ("G.721", 4), "G723_24": ("G.723", 3), "G723_40": ("G.723", 5),
    "GSM610": ("GSM", None), "VORBIS": ("Vorbis", None), "OPUS": ("Opus", None),
    "MPEG_LAYER_I": ("MP1", None), "MPEG_LAYER_II": ("MP2", None), "MPEG_LAYER_III": ("MP3", None),
}


def encoding_of(subtype: str | None) -> tuple[str, int | None]:
    """``(encoding, bit depth)`` of a libsndfile subtype: ``PCM_16`` -> ``("PCM", 16)``.

    Lossy codecs have no bit depth (None); a subtype this table does not know
    is ``("unknown", None)``, never an error.
    """
    name = str(subtype or "").upper()
    if name in _ENCODINGS:
        return _ENCODINGS[name]
    head, _, bits = name.rpartition("_")
    if head in ("PCM", "ALAC", "DPCM", "DWVW") and bits.isdigit():
        return head, int(bits)
    return "unknown", None


def _frame_db(y: np.ndarray, sr: int) -> np.ndarray:
    """RMS level (dBFS) of consecutive 10 ms frames."""
    n = max(1, int(round(sr * _FRAME_S)))
    frames = np.pad(y, (0, (-y.size) % n)).reshape(-1, n)
    return 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-20)


def clip_properties(path: str) -> dict:
    """The recording-chain properties of one file (see :data:`PROPERTIES`).

    Measured on the decoded mono audio at the file's own sample rate:
    effective bandwidth (:func:`effective_bandwidth`), active RMS level (the
    mean power of the 10 ms frames within :data:`ACTIVE_DB` of the loudest,
    in dBFS), peak level, and the silence before the first and after the
    last active frame. Encoding and bit depth come from the header's subtype.

    Raises
    ------
    AudioError
        The file cannot be decoded.
    """
    from animalsnd.audio import load, read_info

    sr = read_info(path).sample_rate
    y, info = load(path, sr=sr)
    encoding, bits = encoding_of(info.subtype)
    audio = waveform_properties(y, sr)
    return {
        "sample_rate": int(sr),
        "bandwidth_hz": audio["bandwidth_hz"],
        "channels": int(info.channels),
        "encoding": encoding,
        "bit_depth": bits,
        **{k: audio[k] for k in WAVEFORM_PROPERTIES[1:]},
    }


WAVEFORM_PROPERTIES = ("bandwidth_hz", "duration_s", "rms_dbfs", "peak_dbfs", "lead_silence_s", "trail_silence_s")
"""The properties of :data:`PROPERTIES` that the audio itself shows (no header)."""


def waveform_properties(y: np.ndarray, sr: int) -> dict:
    """The :data:`WAVEFORM_PROPERTIES` of mono waveform ``y`` at ``sr`` (see :func:`clip_properties`)."""
    y = np.asarray(y)
    db = _frame_db(y, sr)
    active = np.nonzero(db >= db.max() - ACTIVE_DB)[0]
    power = 10 ** (db[active] / 10)
    return {
        "bandwidth_hz": round(effective_bandwidth(y, sr), 1),
        "duration_s": round(y.size / sr, 3),
        "rms_dbfs": round(float(10 * np.log10(power.mean())), 2),
        "peak_dbfs": round(float(20 * np.log10(max(float(np.abs(y).max()) if y.size else 0.0, 1e-10))), 2),
        "lead_silence_s": round(float(active[0] * _FRAME_S), 2),
        "trail_silence_s": round(float((db.size - 1 - active[-1]) * _FRAME_S), 2),
    }


def choose_cutoff(data_dir, *, sr: int, cutoff: str | float | None = "auto", jobs: int = -1,
                  progress: Callable[[int, int], None] | None = None, extra: Sequence[str] = ()) -> float | None:
    """The analysis cut-off of ``prepare``: ``"auto"`` (measured on the recordings
    of ``data_dir`` and the ``extra`` files, e.g. the background clips, with
    :func:`recommend_cutoff`), ``"none"``/None (the full band), or a
    frequency in Hz (checked with :func:`check_cutoff`)."""
    if cutoff is None or str(cutoff).lower() == "none":
        return None
    if str(cutoff).lower() != "auto":
        return check_cutoff(cutoff, sr=sr)
    from animalsnd.dataset import discover

    paths = [str(r.path) for r in discover(data_dir)] + [str(p) for p in extra]
    return recommend_cutoff(measure_bandwidths(paths, jobs=jobs, progress=progress), sr=sr)
