"""Block-wise decoding and resampling of long recordings.

A field recording can last hours; :func:`iter_blocks` never holds more than
one block of it. Each block is read with ``soundfile.SoundFile.read``,
downmixed to mono (channel mean, as :func:`animalsnd.audio.load` does) and
fed to one ``soxr.ResampleStream`` (quality ``HQ``), whose internal state
carries across blocks: the concatenated output equals one-shot
``soxr.resample`` of the whole file.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from animalsnd.audio import AudioInfo, _short, read_info
from animalsnd.errors import AudioError, ConfigError
from animalsnd.fileutil import c_stderr_silenced

#: Source frames read per block (about 24 s at 44.1 kHz).
BLOCK_FRAMES = 1 << 20


def probe(path: str | Path) -> AudioInfo:
    """Header facts of ``path`` (rate, channels, length), checked for use.

    Raises
    ------
    AudioError
        Missing, empty, unreadable or zero-length file.
    """
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror})") from None
    if size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    info = read_info(path)
    if info.frames <= 0 or info.sample_rate <= 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    return info


def iter_blocks(
    path: str | Path,
    *,
    sr: int,
    block_frames: int = BLOCK_FRAMES,
    quality: str = "HQ",
) -> Iterator[np.ndarray]:
    """Decode ``path`` block by block as mono float32 at ``sr``.

    Parameters
    ----------
    path : str or Path
    sr : int
        Output sample rate in Hz.
    block_frames : int
        Source frames read per block; memory use is about
        ``block_frames * channels * 4`` bytes, whatever the file's length.
    quality : str
        libsoxr quality recipe.

    Yields
    ------
    np.ndarray, shape (n,), float32
        Consecutive pieces of the resampled signal (some may be empty).

    Raises
    ------
    AudioError
        Unreadable or undecodable file, NaN or infinite samples.
    """
    if not isinstance(block_frames, int) or block_frames <= 0:
        raise ConfigError(f"block_frames={block_frames!r} must be a positive integer")
    info = probe(path)
    quiet = c_stderr_silenced if info.subtype.startswith("MPEG") else contextlib.nullcontext
    try:
        f = sf.SoundFile(str(path))
    except Exception as exc:  # libsndfile raises several types
        raise AudioError(f"{path}: not a readable audio file ({_short(exc)})") from None
    with f:
        file_sr = int(f.samplerate)
        rs = None if file_sr == sr else soxr.ResampleStream(
            file_sr, sr, 1, dtype="float32", quality=quality)
        while True:
            try:
                with quiet():
                    x = f.read(block_frames, dtype="float32", always_2d=True)
            except Exception as exc:
                raise AudioError(f"{path}: cannot decode ({_short(exc)})") from None
            last = x.shape[0] < block_frames
            if x.shape[0] and not np.isfinite(x).all():
                raise AudioError(f"{path}: contains NaN or infinite samples")
            y = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
            y = np.ascontiguousarray(y, dtype=np.float32)
            if rs is not None:
                y = rs.resample_chunk(y, last=last)
            yield y
            if last:
                return


def decode(path: str | Path, *, sr: int, block_frames: int = BLOCK_FRAMES) -> np.ndarray:
    """The whole resampled signal of ``path`` (short files; see :func:`iter_blocks`).

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    parts = list(iter_blocks(path, sr=sr, block_frames=block_frames))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def prefetch(items: Iterator, *, depth: int = 2) -> Iterator:
    """Produce ``items`` in a background thread, up to ``depth`` ahead.

    Decoding (libsndfile) and resampling (libsoxr) of the next block then
    overlap the caller's work on the current one. Exceptions raised while
    producing are re-raised in the caller; closing the returned generator
    early stops the thread and closes ``items``.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as exc:  # handed to the consumer
            put((end, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="animalsnd-decode", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = q.get()
            if item is end:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        worker.join()
