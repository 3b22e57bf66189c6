"""Recording chains: the same clip as another recorder would have stored it.

A chain takes a clip at its native rate and renders it as a different
recording chain would: resampled to the chain's rate (which removes what
lies above its Nyquist frequency), optionally low-passed, given the
self-noise floor of a full-band recorder, or sent through a lossy codec
(MP3 or Ogg Vorbis through libsndfile). The result is resampled to the
model's rate, so the model sees it exactly as it would see a clip from that
chain.

``eval --chain`` scores held-out clips through each chain
(:mod:`animalsnd.chain_eval`); a model that listens to the animal rather than
to the recorder keeps its score across chains.

Each clip's random draws (the noise floor) come from
``SeedSequence(seed, spawn_key=(index,))``: the same at every run and for any
number of workers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from animalsnd.errors import ConfigError

__all__ = ["CHAINS", "DEFAULT_CHAINS", "Chain", "parse_chains", "render"]


@dataclass(frozen=True)
class Chain:
    """One recording chain.

    Attributes
    ----------
    rate : int
        Sample rate (Hz) the chain stores.
    lowpass_hz : float or None
        A microphone or pre-amplifier roll-off (Hz) applied at ``rate``.
    floor_db : float or None
        A white self-noise floor over the chain's whole band, this many dB
        below the clip's active level (full-band recorders).
    codec : str or None
        ``"mp3"`` or ``"ogg"``: a round trip through libsndfile at ``quality``.
    quality : float
        libsndfile's compression level in [0, 1] (1: the lowest bit rate).
    """

    rate: int
    lowpass_hz: float | None = None
    floor_db: float | None = None
    codec: str | None = None
    quality: float = 0.8

    def describe(self) -> str:
        parts = [f"{self.rate / 1000:g} kHz"]
        if self.lowpass_hz:
            parts.append(f"low-pass {self.lowpass_hz / 1000:g} kHz")
        if self.floor_db is not None:
            parts.append(f"noise floor {self.floor_db:g} dB")
        if self.codec:
            parts.append(f"{self.codec.upper()} (compression {self.quality:g})")
        return ", ".join(parts)


#: The chains ``eval --chain`` knows, by name.
CHAINS: dict[str, Chain] = {
    "8k": Chain(8000),
    "11k": Chain(11025),
    "22k": Chain(22050),
    "44k-lowpass": Chain(44100, lowpass_hz=5000.0),
    "44k-full": Chain(44100, floor_db=-40.0),
    "mp3": Chain(44100, codec="mp3"),
    "ogg": Chain(44100, codec="ogg"),
}
DEFAULT_CHAINS = ("8k", "11k", "22k", "44k-lowpass", "44k-full", "mp3")


def parse_chains(text: str | None) -> list[str]:
    """``"8k,mp3"`` -> ``["8k", "mp3"]``; ``"all"`` or empty -> the defaults."""
    if text is None or text.strip() in ("", "default"):
        return list(DEFAULT_CHAINS)
    if text.strip() == "all":
        return list(CHAINS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in CHAINS]
    if unknown:
        raise ConfigError(f"--chain {', '.join(unknown)}: unknown chain; choose from {', '.join(CHAINS)}, or 'all'")
    if len(set(names)) != len(names):
        raise ConfigError(f"--chain {text!r} names a chain more than once")
    return names


def _codec_round_trip(y: np.ndarray, sr: int, codec: str, quality: float) -> np.ndarray:
    import soundfile as sf

    fmt, subtype = {"mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS")}[codec]
    buf = io.BytesIO()
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    scale = 0.99 / peak if peak > 0.99 else 1.0  # a codec clips at full scale
    sf.write(buf, y * scale, sr, format=fmt, subtype=subtype, compression_level=quality)
    buf.seek(0)
    out, _ = sf.read(buf, dtype="float32", always_2d=True)
    out = out[:, 0] / scale
    if out.size < y.size:  # encoder delay and padding: keep the clip's length
        out = np.pad(out, (0, y.size - out.size))
    return out[: y.size].astype(np.float32)


def render(y: np.ndarray, sr: int, chain: Chain, *, out_sr: int, seed: int = 0, index: int = 0) -> np.ndarray:
    """Clip ``y`` (mono, native rate ``sr``) as recorded by ``chain``, at ``out_sr``.

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    from animalsnd.audio import band_limit, resample
    from animalsnd.augment.noise import active_rms

    x = resample(np.asarray(y, np.float32), sr, chain.rate)
    if chain.lowpass_hz:
        x = band_limit(x, chain.rate, chain.lowpass_hz, taper_hz=0.2 * chain.lowpass_hz)
    if chain.floor_db is not None and x.size:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
        level = active_rms(x, sr=chain.rate) * 10 ** (chain.floor_db / 20)
        x = (x + rng.standard_normal(x.size).astype(np.float32) * level).astype(np.float32)
    if chain.codec:
        x = _codec_round_trip(x, chain.rate, chain.codec, chain.quality)
    return resample(x, chain.rate, out_sr)
