"""Decode any audio file libsndfile reads into mono float32 at a target rate."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from animalsnd.errors import AudioError
from animalsnd.fileutil import c_stderr_silenced

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".aifc", ".oga", ".opus",
                              ".caf", ".w64", ".rf64", ".au"})
#: audio that libsndfile cannot decode: folders list these files too, so that reading them
#: fails with a line that says how to convert them instead of leaving them out unseen
UNDECODABLE_EXTENSIONS = frozenset({".m4a", ".m4b", ".aac", ".mp4", ".wma", ".amr", ".3gp", ".webm", ".mka",
                                    ".ac3", ".ape", ".wv", ".mpc"})
SILENCE_PEAK = 10 ** (-90 / 20)  # peak below -90 dBFS counts as all-silent


@dataclass(frozen=True)
class AudioInfo:
    """What the file held before decoding."""

    sample_rate: int
    channels: int
    frames: int
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _source(path: str | Path, data: bytes | None):
    return io.BytesIO(data) if data is not None else str(path)


def read_info(path: str | Path, *, data: bytes | None = None) -> AudioInfo:
    """Header facts of an audio file, without decoding it."""
    try:
        info = sf.info(_source(path, data))
    except Exception as exc:  # libsndfile raises several types
        suffix = Path(path).suffix.lower()
        if suffix in UNDECODABLE_EXTENSIONS:
            raise AudioError(f"{path}: {suffix} audio cannot be decoded here; convert it to WAV or FLAC "
                             f"(e.g. ffmpeg -i in{suffix} out.flac)") from None
        raise AudioError(f"{path}: not a readable audio file ({_short(exc)})") from None
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), str(info.subtype))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[-1] if text else type(exc).__name__
    if ":" in msg and "Error opening" in msg:
        msg = msg.split(":", 1)[-1].strip()
    return msg[:160]


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """High-quality resampling (libsoxr, 'HQ') of a mono float32 signal."""
    if orig_sr == target_sr:
        return np.ascontiguousarray(y, dtype=np.float32)
    return soxr.resample(np.asarray(y, dtype=np.float32), orig_sr, target_sr, quality="HQ").astype(
        np.float32, copy=False
    )


def load(
    path: str | Path,
    *,
    sr: int = 16000,
    data: bytes | None = None,
    min_samples: int = 1,
) -> tuple[np.ndarray, AudioInfo]:
    """Decode, downmix to mono, resample and validate one file.

    Parameters
    ----------
    path : str or Path
        The file (also used in error messages when ``data`` is given).
    sr : int
        Target sample rate in Hz.
    data : bytes, optional
        The file's bytes, when already read (avoids a second read).
    min_samples : int
        Fewest samples (at ``sr``) a usable clip may have, e.g. one FFT frame.

    Returns
    -------
    y : np.ndarray, shape (n,), float32
    info : AudioInfo
        Sample rate, channels, length and encoding of the original file.

    Raises
    ------
    AudioError
        Empty, undecodable, zero-length, NaN/inf, all-silent or too-short audio.
    """
    if data is None:
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise AudioError(f"{path}: cannot read ({exc.strerror})") from None
    else:
        size = len(data)
    if size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    info = read_info(path, data=data)
    if info.frames == 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    try:
        # libmpg123 prints resync notes for MP3-in-WAV
        quiet = c_stderr_silenced() if info.subtype.startswith("MPEG") else contextlib.nullcontext()
        with quiet:
            x, file_sr = sf.read(_source(path, data), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: cannot decode ({_short(exc)})") from None
    if x.size == 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    if not np.isfinite(x).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    y = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    y = resample(y, int(file_sr), sr)
    if y.size == 0 or float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AudioError(f"{path}: all-silent (peak below -90 dBFS)")
    if y.size < min_samples:
        raise AudioError(
            f"{path}: too short ({y.size} samples at {sr} Hz, need at least {min_samples}, one FFT frame)"
        )
    info = AudioInfo(info.sample_rate, info.channels, x.shape[0], info.subtype)
    return y, info


def is_audio_file(path: Path) -> bool:
    """True for a non-hidden file with a known audio extension (any case), including
    :data:`UNDECODABLE_EXTENSIONS`, which fail on reading with a line saying so."""
    return (
        path.suffix.lower() in AUDIO_EXTENSIONS | UNDECODABLE_EXTENSIONS
        and not path.name.startswith(".")
        and path.is_file()
    )


def band_limit(y: np.ndarray, sr: int, cutoff: float | None, *, taper_hz: float = 100.0) -> np.ndarray:
    """Remove everything above ``cutoff`` Hz (the analysis bandwidth) from ``y``.

    A zero-phase filter applied in the frequency domain over the whole signal:
    gain 1 up to ``cutoff - taper_hz``, a raised-cosine taper, 0 from
    ``cutoff`` on. ``cutoff`` None (or at/above ``sr / 2``) returns ``y``
    unchanged. Works on the last axis, so a batch ``(n, samples)`` of
    windows is filtered window by window.
    """
    if cutoff is None or cutoff >= sr / 2:
        return y
    y = np.asarray(y, dtype=np.float32)
    n = y.shape[-1]
    if n == 0:
        return y
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    lo = max(0.0, cutoff - taper_hz)
    gain = np.clip((cutoff - freqs) / max(cutoff - lo, 1e-9), 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)  # raised cosine from 1 (at lo) to 0 (at cutoff)
    return np.fft.irfft(np.fft.rfft(y, axis=-1) * gain, n=n, axis=-1).astype(np.float32)
