"""Generate test audio in every encoding the loader must read."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf


def tone(freq: float = 440.0, *, sr: int = 16000, seconds: float = 1.0, amp: float = 0.3,
         channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    y = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


def mp3_bytes(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="MP3", subtype="MPEG_LAYER_III")
    return buf.getvalue()


def mp3_in_wav(path: Path, y: np.ndarray, sr: int) -> Path:
    """A RIFF/WAVE file whose data chunk is MP3 (format tag 0x0055)."""
    data = mp3_bytes(y, sr)
    channels = 1 if y.ndim == 1 else y.shape[1]
    fmt = struct.pack("<HHIIHHHHIHHH", 0x0055, channels, sr, 16000, 1, 0, 12, 1, 2, 418, 1, 1393)
    fact = struct.pack("<I", len(y))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<I", 4) + fact
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


ENCODINGS = [
    # (file name, format, subtype, sample rate, channels)
    ("pcm16.wav", "WAV", "PCM_16", 16000, 1),
    ("u8.wav", "WAV", "PCM_U8", 8000, 1),
    ("alaw.wav", "WAV", "ALAW", 8000, 2),
    ("ulaw.wav", "WAV", "ULAW", 8000, 1),
    ("float.wav", "WAV", "FLOAT", 96000, 1),
    ("odd_rate.wav", "WAV", "PCM_16", 11127, 2),
    ("stereo44.flac", "FLAC", "PCM_16", 44100, 2),
    ("clip.OGG", "OGG", "VORBIS", 22050, 1),
    ("clip.aiff", "AIFF", "PCM_16", 48000, 1),
    ("clip.mp3", "MP3", "MPEG_LAYER_III", 32000, 1),
]


def write_encoding(folder: Path, name: str, fmt: str, subtype: str, sr: int, channels: int,
                   *, freq: float = 440.0, seconds: float = 1.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    y = tone(freq, sr=sr, seconds=seconds, channels=channels)
    path = folder / name
    sf.write(path, y, sr, format=fmt, subtype=subtype)
    return path


def write_bad_files(folder: Path) -> dict[str, str]:
    """Bad inputs, mapped to a word the error message must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("this is not audio\n" * 20)
    sf.write(folder / "zero.wav", np.zeros(0, dtype=np.float32), 16000)
    sf.write(folder / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    sf.write(folder / "short.wav", tone(sr=16000, seconds=0.02), 16000)  # 320 < n_fft samples
    nan = tone(sr=16000)
    nan[100] = np.nan
    sf.write(folder / "nan.wav", nan, 16000, subtype="FLOAT")
    good = io.BytesIO()
    sf.write(good, tone(sr=16000), 16000, format="WAV", subtype="PCM_16")
    (folder / "truncated.wav").write_bytes(good.getvalue()[:30])
    (folder / "phone.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))  # audio libsndfile cannot decode
    return {
        "empty.wav": "empty",
        "text.wav": "not a readable audio file",
        "zero.wav": "zero-length",
        "silent.wav": "all-silent",
        "short.wav": "too short",
        "nan.wav": "NaN",
        "truncated.wav": "",
        "phone.m4a": "convert it to WAV or FLAC",
    }


def make_dataset(root: Path, classes: dict[str, float], *, n: int = 6, sr: int = 16000,
                 seconds: float = 1.0, seed: int = 0) -> Path:
    """Folder-per-class dataset of noisy tones, one base frequency per class."""
    rng = np.random.default_rng(seed)
    for label, freq in classes.items():
        d = root / label
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            t = np.arange(int(sr * seconds)) / sr
            f = freq * (1 + 0.05 * rng.standard_normal())
            y = 0.3 * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal(t.size)
            sf.write(d / f"{label}_{i:02d}.wav", y.astype(np.float32), sr)
    return root
