"""Deterministic synthesiser of animal-like calls.

Five call types (frog, cricket, bird, cow, dog) are built from simple
harmonic, noise and frequency-modulation recipes. Every random choice comes
from a NumPy generator, so the same seed always gives the same audio. The demo
dataset in ``sample_audio/`` is made with::

    python -m animalsnd.synth sample_audio --seed 0
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000

#: Class name -> number of clips in the demo dataset (deliberately imbalanced).
CLASSES: dict[str, int] = {"dog": 24, "bird": 20, "cow": 16, "cricket": 14, "frog": 12}


# --------------------------------------------------------------------------- helpers
def _schedule(rng, duration, count, lengths, gaps, lead=(0.05, 0.5)):
    """Return ``(start_s, length_s)`` for up to ``count`` calls that fit the clip.

    The first call always fits (its length is capped at 90 % of the clip);
    later calls are dropped once they would run past the end.
    """
    out = []
    t = None
    for _ in range(count):
        length = min(rng.uniform(*lengths), 0.9 * duration)
        if t is None:
            t = rng.uniform(lead[0], max(lead[0], min(lead[1], duration - length - 0.02)))
        if t + length > duration - 0.02:
            break
        out.append((t, length))
        t += length + rng.uniform(*gaps)
    return out


def _ramp_env(n, sr, attack, release):
    """Raised-cosine attack and release of the given durations (seconds)."""
    env = np.ones(n)
    a = max(1, min(n // 2, int(attack * sr)))
    r = max(1, min(n - a, int(release * sr)))
    env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[n - r:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)
    return env


def _harmonics(f_inst, sr, amps):
    """Sum of harmonics ``k * f_inst`` (k = 1, 2, ...) below Nyquist."""
    phase = 2 * np.pi * np.cumsum(f_inst) / sr
    out = np.zeros_like(phase)
    for k, a in enumerate(amps, start=1):
        if k * f_inst.max() < 0.45 * sr:
            out += a * np.sin(k * phase)
    return out


def _render(n, calls, sr, make):
    """Add ``make(n_samples)`` at every scheduled call; normalise to peak 1."""
    out = np.zeros(n)
    for start, length in calls:
        i, m = int(start * sr), int(length * sr)
        out[i:i + m] += make(m)[: n - i]
    return (out / max(np.abs(out).max(), 1e-12)).astype(np.float32)


def _colored_noise(rng, n, *, sr=SR, exponent=1.0):
    """Unit-RMS noise with power spectrum ~ ``1/f**exponent`` above 20 Hz (float32)."""
    size = 1 << max(n - 1, 1).bit_length()  # a power of two keeps the FFT fast
    spec = np.fft.rfft(rng.standard_normal(size))
    f = np.fft.rfftfreq(size, 1 / sr)
    shape = (np.maximum(f, 20) / 20) ** (-exponent / 2)
    shape[f < 20] = 0.0
    x = np.fft.irfft(spec * shape, size)[:n]
    return (x / max(np.sqrt(np.mean(x**2)), 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------- call types
def frog(rng: np.random.Generator, *, sr: int = SR, duration: float) -> np.ndarray:
    """Pulse trains of low croaks: a 90-180 Hz harmonic stack, pulsed at 25-60 Hz.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice.
    sr : int
        Sample rate in Hz.
    duration : float
        Clip length in seconds.

    Returns
    -------
    numpy.ndarray
        Clean float32 signal of ``round(duration * sr)`` samples, peak 1,
        with silence around the calls.
    """
    f0, rate, formant = rng.uniform(90, 180), rng.uniform(25, 60), rng.uniform(500, 1100)
    amps = [np.exp(-(((k * f0 - formant) / 400) ** 2)) + 0.3 / k for k in range(1, 16)]
    calls = _schedule(rng, duration, rng.integers(2, 7), (0.15, 0.5), (0.15, 0.6))

    def croak(m):
        t = np.arange(m) / sr
        f = f0 * (1 + rng.normal(0, 0.03)) * (1 - 0.08 * t / t[-1])
        pulses = (0.5 - 0.5 * np.cos(2 * np.pi * rate * t)) ** 3
        return _harmonics(f, sr, amps) * pulses * _ramp_env(m, sr, 0.02, 0.05)

    return _render(int(round(duration * sr)), calls, sr, croak)


def cricket(rng: np.random.Generator, *, sr: int = SR, duration: float) -> np.ndarray:
    """High 4-5 kHz trills of short sine pulses, 20-50 a second; see :func:`frog`."""
    fc, rate, duty = rng.uniform(4000, 5000), rng.uniform(20, 50), rng.uniform(0.3, 0.6)
    calls = _schedule(rng, duration, rng.integers(2, 8), (0.15, 0.9), (0.1, 0.5))

    def trill(m):
        t = np.arange(m) / sr
        pos = (t * rate) % 1.0
        pulses = np.where(pos < duty, np.sin(np.pi * pos / duty) ** 2, 0.0)
        f = np.full(m, fc * (1 + rng.normal(0, 0.01)))
        return _harmonics(f, sr, [1.0]) * pulses * _ramp_env(m, sr, 0.01, 0.01)

    return _render(int(round(duration * sr)), calls, sr, trill)


def bird(rng: np.random.Generator, *, sr: int = SR, duration: float) -> np.ndarray:
    """FM chirps within 2-6 kHz: up or down sweeps or fast trills; see :func:`frog`."""
    style = rng.integers(3)
    lo = rng.uniform(2000, 4500)
    hi = rng.uniform(lo + 1500, 6000)
    calls = _schedule(rng, duration, rng.integers(3, 13), (0.04, 0.25), (0.03, 0.3))

    def chirp(m):
        t = np.arange(m) / sr
        u = t / t[-1]
        if style == 0:
            f = lo + (hi - lo) * u**rng.uniform(0.5, 2)
        elif style == 1:
            f = hi - (hi - lo) * u**rng.uniform(0.5, 2)
        else:
            f = (lo + hi) / 2 + (hi - lo) / 2 * np.sin(2 * np.pi * rng.uniform(15, 40) * t)
        return _harmonics(f, sr, [1.0, 0.15]) * np.sin(np.pi * u) ** 2

    return _render(int(round(duration * sr)), calls, sr, chirp)


def cow(rng: np.random.Generator, *, sr: int = SR, duration: float) -> np.ndarray:
    """Moos: 100-250 Hz harmonic stack, vibrato, slow envelope; see :func:`frog`."""
    f0, vib_hz, vib = rng.uniform(100, 250), rng.uniform(4, 7), rng.uniform(0.005, 0.02)
    formants = rng.uniform(300, 700), rng.uniform(900, 1500)
    amps = [(k**-1.2) * (1 + 2 * sum(np.exp(-(((k * f0 - fm) / 250) ** 2)) for fm in formants))
            for k in range(1, 25)]
    calls = _schedule(rng, duration, rng.integers(1, 3), (0.8, 2.5), (0.2, 0.6))

    def moo(m):
        t = np.arange(m) / sr
        contour = 1 + 0.15 * np.sin(np.pi * t / t[-1]) - 0.1 * t / t[-1]
        f = f0 * contour * (1 + vib * np.sin(2 * np.pi * vib_hz * t))
        breath = 0.02 * rng.standard_normal(m)
        env = _ramp_env(m, sr, rng.uniform(0.15, 0.4), rng.uniform(0.3, 0.6))
        return (_harmonics(f, sr, amps) / len(amps) ** 0.5 + breath) * env

    return _render(int(round(duration * sr)), calls, sr, moo)


def dog(rng: np.random.Generator, *, sr: int = SR, duration: float) -> np.ndarray:
    """Broadband barks: falling 350-900 Hz harmonics + noise; see :func:`frog`."""
    f0, noisy = rng.uniform(350, 900), rng.uniform(0.3, 0.7)
    amps = [1 / k for k in range(1, 14)]
    calls = _schedule(rng, duration, rng.integers(1, 7), (0.08, 0.3), (0.1, 0.5))

    def bark(m):
        t = np.arange(m) / sr
        f = f0 * (1 + rng.normal(0, 0.05)) * (1 - rng.uniform(0.2, 0.4) * t / t[-1])
        tone = _harmonics(f, sr, amps) / 2
        noise = np.diff(rng.standard_normal(m + 1)) * 0.5  # tilted towards high frequencies
        env = np.minimum(t / rng.uniform(0.003, 0.008), 1) * np.exp(-t / (t[-1] / 4))
        return ((1 - noisy) * tone + noisy * noise) * env

    return _render(int(round(duration * sr)), calls, sr, bark)


_KINDS = {"dog": dog, "bird": bird, "cow": cow, "cricket": cricket, "frog": frog}


def _call(kind):
    if kind not in _KINDS:
        raise ValueError(f"unknown call type {kind!r}; expected one of {sorted(_KINDS)}")
    return _KINDS[kind]


# --------------------------------------------------------------------------- clips and datasets
def synth_clip(kind: str, rng: np.random.Generator, *, sr: int = SR) -> np.ndarray:
    """One 1-4 s clip of ``kind`` with background noise.

    Parameters
    ----------
    kind : str
        Call type, one of ``dog``, ``bird``, ``cow``, ``cricket``, ``frog``.
    rng : numpy.random.Generator
        Source of every random choice (duration, calls, level, noise).
    sr : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        Mono float32 waveform with a peak between -30 and -6 dBFS; the calls
        sit over pink or brown noise 25-45 dB below that peak.
    """
    make = _call(kind)
    duration = rng.uniform(1.0, 4.0)
    clean = make(rng, sr=sr, duration=duration)
    noise = _colored_noise(rng, clean.size, sr=sr, exponent=rng.choice([1.0, 2.0]))
    x = clean + noise * np.float32(10 ** (-rng.uniform(25, 45) / 20))
    peak = 10 ** (rng.uniform(-30, -6) / 20)
    return (x * np.float32(peak / np.abs(x).max())).astype(np.float32)


def generate(out_dir: str | Path, *, seed: int = 0, sr: int = SR,
             classes: dict[str, int] = CLASSES) -> list[Path]:
    """Write a folder-per-class dataset of synthetic clips.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Destination; ``out_dir/<class>/<class>_<NN>.flac`` is written.
    seed : int
        Dataset seed. Clip ``i`` of a class uses the generator
        ``default_rng([seed, class_index, i])``, so the same seed gives
        byte-identical files and one class does not depend on the others.
    sr : int
        Sample rate in Hz.
    classes : dict[str, int]
        Class name -> number of clips.

    Returns
    -------
    list[pathlib.Path]
        The written files, in class then index order.
    """
    out_dir = Path(out_dir)
    index = {name: i for i, name in enumerate(_KINDS)}
    paths = []
    for name, count in classes.items():
        _call(name)
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            x = synth_clip(name, np.random.default_rng([seed, index[name], i]), sr=sr)
            path = out_dir / name / f"{name}_{i:02d}.flac"
            sf.write(path, x, sr, format="FLAC", subtype="PCM_16")
            paths.append(path)
    return paths


def _trimmed_call(kind, rng, sr):
    """A clean call of ``kind`` without its silent padding."""
    x = _call(kind)(rng, sr=sr, duration=rng.uniform(1.0, 4.0))
    nz = np.flatnonzero(np.abs(x) > 1e-3)
    return x[nz[0]:nz[-1] + 1]


def _background(rng, n, *, sr, rms, block_s=30.0, fade_s=0.05):
    """Pink noise made block by block, joined with equal-power crossfades."""
    out = np.empty(n, np.float32)
    block, fade = int(block_s * sr), int(fade_s * sr)
    fade_in = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade).astype(np.float32)
    tail, pos = None, 0
    while pos < n:
        m = min(block, n - pos)
        seg = _colored_noise(rng, m + fade, sr=sr, exponent=1.0)
        if tail is not None:
            seg[:fade] = seg[:fade] * fade_in + tail * fade_in[::-1]
        out[pos:pos + m] = seg[:m] * np.float32(rms)
        tail, pos = seg[m:], pos + m
    return out


def long_recording(
    rng_or_seed: np.random.Generator | int, *, sr: int = SR, duration_s: float,
    calls: list[tuple[str, float]] | None = None, background_db: float = -45,
) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """A long background-noise track with calls at known positions.

    Parameters
    ----------
    rng_or_seed : numpy.random.Generator or int
        Generator, or a seed for one.
    sr : int
        Sample rate in Hz.
    duration_s : float
        Length of the recording in seconds (an hour is fine: the noise is
        made in 30 s blocks and the result is float32).
    calls : list[tuple[str, float]] or None
        ``(kind, onset_s)`` pairs to place. ``None`` places random calls,
        one every 5-14 s, never overlapping.
    background_db : float
        RMS level of the pink background noise in dBFS.

    Returns
    -------
    waveform : numpy.ndarray
        Mono float32 signal of ``round(duration_s * sr)`` samples.
    truth : list[tuple[str, float, float]]
        ``(kind, start_s, end_s)`` of every placed call, sorted by start.
        Calls peak between -16 and -6 dBFS; a call running past the end is cut.
    """
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) \
        else np.random.default_rng(rng_or_seed)
    n = int(round(duration_s * sr))
    out = _background(rng, n, sr=sr, rms=10 ** (background_db / 20))
    if calls is None:
        kinds, calls, t = list(_KINDS), [], rng.uniform(0.5, 5.0)
        while t < duration_s - 1.0:
            calls.append((kinds[rng.integers(len(kinds))], t))
            t += 4.0 + rng.uniform(1.0, 10.0)  # a trimmed call is shorter than 4 s
    truth = []
    for kind, onset in calls:
        if not 0 <= onset < duration_s:
            raise ValueError(f"onset {onset} s is outside the {duration_s} s recording")
        x = _trimmed_call(kind, rng, sr) * np.float32(10 ** (rng.uniform(-16, -6) / 20))
        i = int(round(onset * sr))
        x = x[: n - i]
        out[i:i + x.size] += x
        truth.append((kind, i / sr, (i + x.size) / sr))
    return out, sorted(truth, key=lambda c: c[1])


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m animalsnd.synth",
        description="Write a synthetic folder-per-class dataset of animal-like calls.")
    parser.add_argument("out_dir", type=Path, help="destination folder")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--sr", type=int, default=SR, help="sample rate in Hz (default 16000)")
    args = parser.parse_args()
    written = generate(args.out_dir, seed=args.seed, sr=args.sr)
    print(f"wrote {len(written)} clips in {len(CLASSES)} classes to {args.out_dir}")
