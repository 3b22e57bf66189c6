"""Storage encodings: a round trip through a lossy codec or a low-resolution PCM.

Every round trip goes through libsndfile (the library that decodes the
project's audio), in memory: Ogg Vorbis and MP3 at a compression level in
[0, 1] (1: the lowest bit rate), and in WAV the 8-bit encodings of older
archives and telephone lines, µ-law, A-law and unsigned 8-bit PCM. MP3 needs
a libsndfile built with it (1.1 or later); :func:`available_codecs` says which
of them this installation can write.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from animalsnd.augment._draw import Stage, check_probability, check_range, uniform
from animalsnd.errors import ConfigError

__all__ = ["CODECS", "LOSSY", "Codec", "available_codecs", "codec_round_trip"]

#: Encoding name -> (libsndfile format, subtype).
CODECS: dict[str, tuple[str, str]] = {
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "ulaw": ("WAV", "ULAW"),
    "alaw": ("WAV", "ALAW"),
    "pcm8": ("WAV", "PCM_U8"),
}
LOSSY = ("ogg", "mp3")  # the ones with a compression level
_BLOCK = 1 << 20  # frames per write call of a round trip (shorter clips: one call, as before)


def available_codecs() -> tuple[str, ...]:
    """The encodings of :data:`CODECS` this libsndfile can write."""
    import soundfile as sf

    return tuple(c for c, (fmt, sub) in CODECS.items()
                 if fmt in sf.available_formats() and sub in sf.available_subtypes(fmt))


def codec_round_trip(y: np.ndarray, sr: int, codec: str, quality: float = 0.8) -> np.ndarray:
    """``y`` (mono, at ``sr``) encoded with ``codec`` and decoded again, same length, float32.

    A clip louder than full scale is scaled under it for the encoder and back
    after (a codec clips at full scale); encoder delay and padding are cut or
    zero-filled to keep the clip's length.
    """
    import soundfile as sf

    if codec not in CODECS:
        raise ConfigError(f"codec={codec!r} must be one of {', '.join(CODECS)}")
    fmt, subtype = CODECS[codec]
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        return y.copy()
    buf = io.BytesIO()
    peak = float(np.max(np.abs(y)))
    scale = 0.99 / peak if peak > 0.99 else 1.0
    extra = {"compression_level": float(quality)} if codec in LOSSY else {}
    # in blocks: libsndfile 1.2's Vorbis encoder crashes the process when one write
    # call hands it about a minute of audio or more; blocks encode the same stream
    with sf.SoundFile(buf, "w", samplerate=sr, channels=1, format=fmt, subtype=subtype, **extra) as f:
        for i in range(0, y.size, _BLOCK):
            f.write(y[i:i + _BLOCK] * scale)
    buf.seek(0)
    out, _ = sf.read(buf, dtype="float32", always_2d=True)
    out = out[:, 0] / scale
    if out.size < y.size:
        out = np.pad(out, (0, y.size - out.size))
    return out[: y.size].astype(np.float32)


class Codec(Stage):
    """A round trip through one of ``codecs``, drawn per clip.

    Parameters
    ----------
    codecs : sequence of str, optional
        Candidate encodings (names of :data:`CODECS`); default: all that
        :func:`available_codecs` finds. Asking for one this libsndfile cannot
        write is a ConfigError.
    quality : (float, float), default (0.3, 0.9)
        Range of the lossy codecs' compression level, drawn uniformly.
    p : float, default 1.0
        Probability that a clip is encoded at all.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: ``codec`` (None when not applied) and ``quality``.
    """

    def __init__(self, codecs: Sequence[str] | None = None, *, quality=(0.3, 0.9), p: float = 1.0) -> None:
        have = available_codecs()
        codecs = tuple(have if codecs is None else codecs)
        unknown = [c for c in codecs if c not in CODECS]
        if unknown or not codecs:
            raise ConfigError(f"codecs={codecs!r}: choose one or more of {', '.join(CODECS)}")
        missing = [c for c in codecs if c not in have]
        if missing:
            raise ConfigError(f"codecs={codecs!r}: this libsndfile cannot write {', '.join(missing)}")
        self.codecs = codecs
        self.quality = check_range("quality", quality, low=0.0, high=1.0)
        self.p = check_probability("p", p)
        self.params: dict = {}

    def randomize(self, rng: np.random.Generator) -> dict:
        """Draw whether to apply, the codec and its compression level; returns ``self.params``."""
        applied = rng.uniform() < self.p
        codec = self.codecs[int(rng.integers(len(self.codecs)))]
        quality = uniform(rng, self.quality)
        self.params = {"codec": codec if applied else None,
                       "quality": round(quality, 4) if applied and codec in LOSSY else None}
        return self.params

    def _applied(self) -> bool:
        return self.params["codec"] is not None

    def _render(self, y: np.ndarray, sr: int) -> np.ndarray:
        q = self.params["quality"]
        return codec_round_trip(y, sr, self.params["codec"], 0.8 if q is None else q)
