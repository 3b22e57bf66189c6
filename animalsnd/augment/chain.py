"""Random recording chains for training copies: room, colouring, level, rate, encoding.

:class:`RandomChain` renders a clip as a randomly drawn recorder would have
stored it, stage by stage in the order of a real chain::

    room (Room)  ->  microphone colouring (Equalizer)  ->  roll-off (LowPass)
    ->  input level and soft clipping (PeakGain)  ->  storage rate (LowRate)
    ->  encoding (Codec)

Each stage is applied with its own probability and draws its own parameters;
the drawn parameters of all stages (:attr:`RandomChain.params`, JSON-ready,
in Hz, dB and seconds, never in samples) are all a copy needs to be rendered
again, at any sample rate (:func:`apply_chain`). ``augment --chain random``
stores them per copy in the set's manifest.

The fixed chains ``eval --chain`` scores held-out clips through
(:mod:`animalsnd.chains`) are built from the same stage functions.
"""

from __future__ import annotations

import json

import numpy as np

from animalsnd.augment._draw import check_probability, check_sr
from animalsnd.augment.codec import Codec, available_codecs
from animalsnd.augment.eq import Equalizer
from animalsnd.augment.gain import PeakGain
from animalsnd.augment.lowpass import LowPass
from animalsnd.augment.lowrate import DEFAULT_RATES, LowRate
from animalsnd.augment.room import Room
from animalsnd.errors import ConfigError

__all__ = ["CHAIN_CHOICES", "CHAIN_VERSION", "DEFAULT_P", "RandomChain", "apply_chain", "parse_chain"]

CHAIN_VERSION = 2  # bump when a stage's definition or the defaults change (2: the low-pass stage)
CHAIN_CHOICES = ("none", "random")
#: Probability of each stage in ``--chain random``.
DEFAULT_P = {"room": 0.25, "eq": 0.7, "lowpass": 0.3, "gain": 1.0, "rate": 0.5, "codec": 0.5}
_STAGES = ("room", "eq", "lowpass", "gain", "rate", "codec")


def parse_chain(text: str | None) -> str | None:
    """``augment --chain``: ``"random"`` -> ``"random"``; None, ``""`` or ``"none"`` -> None."""
    if text is None or str(text).strip().lower() in ("", "none"):
        return None
    if str(text).strip().lower() == "random":
        return "random"
    raise ConfigError(f"--chain {text!r} must be one of {', '.join(CHAIN_CHOICES)}")


class RandomChain:
    """A random recording chain per clip (see the module notes).

    Parameters
    ----------
    sr : int
        Sample rate (Hz) of the clips it is called on.
    p : dict, optional
        Probability per stage (keys of :data:`DEFAULT_P`); missing keys keep
        their default.
    codecs : sequence of str, optional
        The encodings to draw from; default: every one libsndfile can write.

    Attributes
    ----------
    params : dict
        Set by :meth:`randomize`: one dict of drawn values per stage name.
    """

    def __init__(self, *, sr: int, p: dict | None = None, codecs=None) -> None:
        self.sr = check_sr(sr)
        probs = dict(DEFAULT_P)
        for k, v in (p or {}).items():
            if k not in DEFAULT_P:
                raise ConfigError(f"p: unknown stage {k!r}; stages are {', '.join(_STAGES)}")
            probs[k] = check_probability(f"p[{k!r}]", v)
        self.p = probs
        self.stages = {
            "room": Room(p=probs["room"]),
            "eq": Equalizer(p=probs["eq"]),
            "lowpass": LowPass(p=probs["lowpass"]),
            "gain": PeakGain(p=probs["gain"]),
            "rate": LowRate(DEFAULT_RATES, p=probs["rate"]),
            "codec": Codec(codecs, p=probs["codec"]),
        }
        self.params: dict = {}

    def to_dict(self) -> dict:
        """What decides the draws: version, stage probabilities, codecs (for a set's build key)."""
        return {"version": CHAIN_VERSION, "p": self.p, "codecs": list(self.stages["codec"].codecs)}

    def _run(self, y: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        x = np.asarray(y, dtype=np.float32)
        for name in _STAGES:
            stage = self.stages[name]
            if rng is not None:
                stage.randomize(x, rng) if name == "gain" else stage.randomize(rng)
            elif name not in self.params:  # a chain stored before this stage existed
                continue
            else:
                stage.params = dict(self.params[name])
            x = stage.apply(x) if name == "gain" else stage.apply(x, sr=self.sr)
        if rng is not None:
            self.params = {name: dict(self.stages[name].params) for name in _STAGES}
        return x

    def randomize(self, y: np.ndarray, rng: np.random.Generator) -> dict:
        """Draw every stage's parameters for clip ``y``; returns ``self.params``.

        The level stage draws a target peak and records the gain that reaches
        it, so the stages before it are run on ``y`` while drawing (use
        :meth:`__call__` to draw and render in one pass).
        """
        self._run(y, rng)
        return self.params

    def apply(self, y: np.ndarray) -> np.ndarray:
        """``y`` rendered with the drawn parameters; shape and length kept, float32."""
        if not self.params:
            raise RuntimeError("RandomChain.apply() called before randomize()")
        return self._run(y, None)

    def __call__(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw and render in one pass."""
        return self._run(y, rng)

    def describe(self) -> str:
        """The drawn chain in words, e.g. ``"low cut 230 Hz, shelf -3.1 dB, peak -8.0 dBFS, 8 kHz"``."""
        return describe_params(self.params)


def describe_params(params: dict) -> str:
    """A stored chain (:attr:`RandomChain.params`) in words."""
    parts = []
    if (r := params.get("room", {})).get("rt60_s"):
        parts.append(f"room {r['rt60_s']:.2f} s at {r['wet_db']:.0f} dB")
    if (e := params.get("eq", {})).get("shelf_hz"):
        parts.append(f"low cut {e['lowcut_hz']:.0f} Hz, shelf {e['shelf_db']:+.1f} dB at {e['shelf_hz']:.0f} Hz")
    if (lp := params.get("lowpass", {}).get("corner_hz")):
        parts.append(f"low-pass {lp / 1000:.1f} kHz")
    if (g := params.get("gain", {})).get("peak_dbfs") is not None:
        parts.append(f"peak {g['peak_dbfs']:+.1f} dBFS")
    if (rate := params.get("rate", {}).get("rate")):
        parts.append(f"{rate / 1000:g} kHz")
    if (c := params.get("codec", {})).get("codec"):
        parts.append(c["codec"] + (f" {c['quality']:.2f}" if c.get("quality") is not None else ""))
    return ", ".join(parts) or "unchanged"


def apply_chain(y: np.ndarray, sr: int, params: dict | str) -> np.ndarray:
    """Render ``y`` (at ``sr``) with stored chain parameters (a dict or its JSON).

    The same values as when the copy was made, at this sample rate: what a
    model at another rate than the cache's sees of the same copy.
    """
    if isinstance(params, str):
        params = json.loads(params)
    codec = params.get("codec", {}).get("codec")
    chain = RandomChain(sr=sr, codecs=[codec] if codec else [available_codecs()[0]])
    chain.params = params
    return chain.apply(y)
