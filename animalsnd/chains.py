"""Recording chains: the same clip as another recorder would have stored it.

A chain takes a clip at its native rate and renders it as a different
recording chain would: resampled to the chain's rate (which removes what
lies above its Nyquist frequency), optionally in a small room, coloured by a
microphone's low cut and high shelf, low-passed, set to another peak level
(soft-clipped above full scale), given the self-noise floor of a full-band
recorder, or sent through a codec (MP3, Ogg Vorbis, µ-law through
libsndfile). The stages are the functions of the training-time chain
augmentation (:mod:`animalsnd.augment.chain`), at fixed values. The result is resampled to the
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
        A round trip through libsndfile (:data:`animalsnd.augment.codec.CODECS`:
        ``"mp3"``, ``"ogg"``, ``"ulaw"``, ...) at ``quality``.
    quality : float
        libsndfile's compression level in [0, 1] (1: the lowest bit rate).
    lowcut_hz : float or None
        A microphone's low cut (Hz, :func:`animalsnd.augment.eq.equalize`).
    shelf_db, shelf_hz : float
        A high shelf of ``shelf_db`` dB above about ``shelf_hz`` (a duller or
        brighter microphone).
    peak_dbfs : float or None
        The clip scaled to this peak level, soft-clipped above 0 dBFS
        (:mod:`animalsnd.augment.gain`).
    rt60_s, wet_db : float or None
        A small room (:mod:`animalsnd.augment.room`, tail seed 0).
    pad_s : float or None
        A longer recording: the clip at a random offset (seeded per clip) in
        ``pad_s`` seconds of the chain's noise floor (``floor_db``; digital
        silence without it), as a call sits in a field or archive recording.
        A clip already longer is left as it is.
    """

    rate: int
    lowpass_hz: float | None = None
    floor_db: float | None = None
    codec: str | None = None
    quality: float = 0.8
    lowcut_hz: float | None = None
    shelf_db: float = 0.0
    shelf_hz: float = 1500.0
    peak_dbfs: float | None = None
    rt60_s: float | None = None
    wet_db: float = -10.0
    pad_s: float | None = None

    def describe(self) -> str:
        parts = [f"{self.rate / 1000:g} kHz"]
        if self.pad_s:
            parts.append(f"in a {self.pad_s:g}-s recording")
        if self.rt60_s:
            parts.append(f"room {self.rt60_s:g} s at {self.wet_db:g} dB")
        if self.lowcut_hz:
            parts.append(f"low cut {self.lowcut_hz:g} Hz")
        if self.shelf_db:
            parts.append(f"shelf {self.shelf_db:+g} dB above {self.shelf_hz / 1000:g} kHz")
        if self.lowpass_hz:
            parts.append(f"low-pass {self.lowpass_hz / 1000:g} kHz")
        if self.peak_dbfs is not None:
            parts.append(f"peak {self.peak_dbfs:+g} dBFS" + (", soft-clipped" if self.peak_dbfs > 0 else ""))
        if self.floor_db is not None:
            parts.append(f"noise floor {self.floor_db:g} dB")
        if self.codec:
            names = {"ulaw": "µ-law", "alaw": "A-law", "pcm8": "8-bit PCM"}
            parts.append(names[self.codec] if self.codec in names
                         else f"{self.codec.upper()} (compression {self.quality:g})")
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
    # colouring, level and room: not in the default set (kept comparable with earlier runs)
    "phone": Chain(8000, lowcut_hz=300.0, lowpass_hz=3400.0, codec="ulaw"),
    "dull-mic": Chain(44100, lowcut_hz=200.0, shelf_db=-6.0),
    "hot": Chain(44100, peak_dbfs=6.0),
    "quiet": Chain(44100, peak_dbfs=-30.0),
    "room": Chain(44100, rt60_s=0.3, wet_db=-8.0),
    # duration: the clip inside a 12-s recording (below the log-Mel models' 16 s, so nothing is cut)
    "long": Chain(44100, floor_db=-40.0, pad_s=12.0),
    # the clip in a 5-s recording of digital silence (archives that store fixed-length clips)
    "pad5": Chain(44100, pad_s=5.0),
}
DEFAULT_CHAINS = ("8k", "11k", "22k", "44k-lowpass", "44k-full", "mp3")


def parse_chains(text: str | None, *, option: str = "--chain") -> list[str]:
    """``"8k,mp3"`` -> ``["8k", "mp3"]``; empty or ``"default"`` -> the defaults; ``"all"`` -> every chain.

    ``option`` names the option in the error messages."""
    if text is None or text.strip() in ("", "default"):
        return list(DEFAULT_CHAINS)
    if text.strip() == "all":
        return list(CHAINS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in CHAINS]
    if unknown:
        raise ConfigError(f"{option} {', '.join(unknown)}: unknown chain; choose from {', '.join(CHAINS)}, or 'all'")
    if len(set(names)) != len(names):
        raise ConfigError(f"{option} {text!r} names a chain more than once")
    return names


def render(y: np.ndarray, sr: int, chain: Chain, *, out_sr: int, seed: int = 0, index: int = 0) -> np.ndarray:
    """Clip ``y`` (mono, native rate ``sr``) as recorded by ``chain``, at ``out_sr``.

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    from animalsnd.audio import band_limit, resample
    from animalsnd.augment.codec import codec_round_trip
    from animalsnd.augment.eq import equalize
    from animalsnd.augment.gain import apply_gain, peak_dbfs
    from animalsnd.augment.noise import active_rms
    from animalsnd.augment.room import reverberate

    x = resample(np.asarray(y, np.float32), sr, chain.rate)
    if chain.rt60_s:
        x = reverberate(x, chain.rate, rt60_s=chain.rt60_s, wet_db=chain.wet_db, ir_seed=0)
    if chain.lowcut_hz or chain.shelf_db:
        x = equalize(x, chain.rate, lowcut_hz=chain.lowcut_hz, shelf_hz=chain.shelf_hz, shelf_db=chain.shelf_db)
    if chain.lowpass_hz:
        x = band_limit(x, chain.rate, chain.lowpass_hz, taper_hz=0.2 * chain.lowpass_hz)
    if chain.peak_dbfs is not None and x.size and np.any(x):
        x = apply_gain(x, chain.peak_dbfs - peak_dbfs(x))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    level = active_rms(x, sr=chain.rate) * 10 ** (chain.floor_db / 20) if chain.floor_db is not None and x.size \
        else 0.0
    if chain.pad_s and x.size < int(chain.pad_s * chain.rate):
        longer = np.zeros(int(chain.pad_s * chain.rate), np.float32)
        start = int(rng.integers(0, longer.size - x.size + 1))
        longer[start:start + x.size] = x
        x = longer
    if chain.floor_db is not None and x.size:
        x = (x + rng.standard_normal(x.size).astype(np.float32) * level).astype(np.float32)
    if chain.codec:
        x = codec_round_trip(x, chain.rate, chain.codec, chain.quality)
    return resample(x, chain.rate, out_sr)
