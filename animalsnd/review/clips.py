"""Cut each card's clip once (the detection plus context) and draw its spectrogram.

Every clip is read straight from its recording with one seek (a long file
is never loaded whole), mixed down to mono at the recording's own rate and
written to ``clips/<id>.flac`` (lossless, the default) or ``.ogg`` (Vorbis,
about a fifth of the size) through soundfile. Its spectrogram,
``spec/<id>.jpg``, is a linear-frequency STFT in dB drawn with a matplotlib
colour map: the context is dimmed and the detection's edges are white lines.
A re-run with the same options on the same predictions keeps the files
already cut.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from animalsnd.errors import ConfigError

FORMATS = {"flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS")}
WIDTH, HEIGHT = 400, 120  # spectrogram image, pixels
DYNAMIC_DB = 80.0  # at most this range is shown, at least MIN_RANGE_DB, from the 20th percentile up
MIN_RANGE_DB = 30.0
JPEG_QUALITY = 85  # about 10 kB an image; a PNG of the same noise is 80 kB


@dataclass(frozen=True)
class ClipOptions:
    context_s: float = 1.0
    fmt: str = "flac"
    fmax: float | None = None  # top of the spectrogram; default min(Nyquist, 12 kHz)

    def __post_init__(self) -> None:
        if not self.context_s >= 0:
            raise ConfigError(f"--context {self.context_s} must be >= 0 seconds")
        if self.fmt not in FORMATS:
            raise ConfigError(f"--clip-format {self.fmt!r} must be one of {', '.join(FORMATS)}")
        if self.fmax is not None and not self.fmax > 0:
            raise ConfigError(f"--fmax {self.fmax} must be a positive frequency in Hz")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Clip:
    """Where one card's audio and image are, relative to the review folder."""

    id: str
    audio: str
    image: str
    clip_start_s: float  # recording time of the clip's first sample
    clip_end_s: float
    sr: int
    fmax: float


def _interp_weights(freqs: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``j`` and weights ``w``: ``x[j] * (1 - w) + x[j + 1] * w`` is ``x`` (on ``freqs``) at ``rows``."""
    j = np.clip(np.searchsorted(freqs, rows, side="right") - 1, 0, freqs.size - 2)
    w = np.clip((rows - freqs[j]) / (freqs[j + 1] - freqs[j]), 0, 1).astype(np.float32)
    return j, w


def spectrogram_rgb(y: np.ndarray, sr: int, *, span: tuple[float, float], fmax: float,
                    width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """An RGB image, shape (height, width, 3) uint8, of ``y``'s spectrogram with ``span`` (s) marked."""
    from matplotlib import colormaps
    from scipy import fft

    n_fft = 512 if sr <= 24000 else 1024
    y = np.asarray(y, np.float32)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    starts = np.linspace(0, y.size - n_fft, width).astype(np.int64)
    frames = y[starts[:, None] + np.arange(n_fft)[None, :]] * np.hanning(n_fft).astype(np.float32)
    spec = fft.rfft(frames, axis=1)  # (width, bins), complex64
    power = spec.real ** 2 + spec.imag ** 2
    j, w = _interp_weights(np.fft.rfftfreq(n_fft, 1 / sr), np.linspace(0, min(fmax, sr / 2), height))
    img = power[:, j] * (1 - w) + power[:, j + 1] * w  # (width, height); no BLAS, whose threads thrash on a busy machine
    db = 10 * np.log10(np.maximum(img.T, 1e-12))  # (height, width)
    hi = db.max()
    lo = min(max(hi - DYNAMIC_DB, np.percentile(db, 20)), hi - MIN_RANGE_DB)  # the noise floor near black
    db = np.clip((db - lo) / (hi - lo), 0, 1)[::-1]
    rgb = colormaps["magma"](db, bytes=True)[..., :3].copy()
    dur = y.size / sr
    a, b = (int(round(np.clip(t / dur, 0, 1) * (width - 1))) for t in span)
    rgb[:, :a] //= 3
    rgb[:, b + 1:] //= 3
    rgb[:, [a, b]] = 255
    return rgb


def _write_image(rgb: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path, format="JPEG", quality=JPEG_QUALITY)


def _encode(y: np.ndarray, sr: int, span: tuple[float, float], fmax: float, out_dir: Path, clip: "Clip",
            opts: ClipOptions) -> None:
    """Write one clip's audio and image (in a worker thread: soundfile, the FFT and Pillow release the GIL)."""
    import soundfile as sf

    fmt, subtype = FORMATS[opts.fmt]
    sf.write(out_dir / clip.audio, y, sr, format=fmt, subtype=subtype)
    _write_image(spectrogram_rgb(y, sr, span=span, fmax=fmax), out_dir / clip.image)


def _read_one(f, card, sr: int, dur: float, opts: ClipOptions, ext: str):
    """The card's :class:`Clip` and its samples with context, mono (one seek into the open recording)."""
    c0 = max(0.0, card.start_s - opts.context_s)
    c1 = min(dur, card.end_s + opts.context_s)
    fmax = opts.fmax or min(sr / 2, 12000.0)
    clip = Clip(card.id, f"clips/{card.id}.{ext}", f"spec/{card.id}.jpg", round(c0, 4), round(c1, 4), sr, fmax)
    i0, i1 = int(round(c0 * sr)), int(round(c1 * sr))
    f.seek(i0)
    y = f.read(i1 - i0, dtype="float32", always_2d=True).mean(axis=1)
    return clip, y, (card.start_s - i0 / sr, card.end_s - i0 / sr)


def cut_clips(
    cards,
    out_dir: str | Path,
    *,
    options: ClipOptions = ClipOptions(),
    previous: dict | None = None,
    jobs: int | None = -1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Clip]:
    """Cut every card's clip and image into ``out_dir`` (``clips/``, ``spec/``).

    Parameters
    ----------
    cards : sequence of :class:`~animalsnd.review.plan.Card`
    previous : dict, optional
        The folder's earlier manifest: when it was cut with the same
        ``options``, files already there are kept.
    jobs : int
        Threads encoding clips and images (-1: one per core).
    progress : callable(done, total), optional

    Returns
    -------
    dict
        Card id -> :class:`Clip`.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    import soundfile as sf

    out_dir = Path(out_dir)
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    (out_dir / "spec").mkdir(parents=True, exist_ok=True)
    keep = bool(previous) and previous.get("clip_options") == options.to_dict()
    ext = "flac" if options.fmt == "flac" else "ogg"
    by_file: dict[Path, list] = {}
    for c in cards:
        by_file.setdefault(c.path, []).append(c)
    out, pending, done = {}, [], 0
    workers = (os.cpu_count() or 1) if jobs in (None, -1) else max(1, jobs)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, mine in by_file.items():
            with sf.SoundFile(str(path)) as f:
                sr, dur = f.samplerate, f.frames / f.samplerate
                for card in sorted(mine, key=lambda c: c.start_s):
                    clip, y, span = _read_one(f, card, sr, dur, options, ext)
                    out[card.id] = clip
                    if keep and (out_dir / clip.audio).is_file() and (out_dir / clip.image).is_file():
                        done += 1
                        if progress:
                            progress(done, len(cards))
                        continue
                    pending.append(pool.submit(_encode, y, sr, span, clip.fmax, out_dir, clip, options))
                    while len(pending) > 4 * workers:  # bounded memory: a few clips in flight
                        pending.pop(0).result()
                        done += 1
                        if progress:
                            progress(done, len(cards))
        for fut in pending:
            fut.result()
            done += 1
            if progress:
                progress(done, len(cards))
    return out


def folder_bytes(folder: str | Path) -> int:
    """Total size of the files under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
