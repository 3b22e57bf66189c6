"""Build long test recordings ("soundscapes") with known calls, for scoring detection.

Each soundscape is a noise bed (recordings of a noise folder, looped from
random offsets, at a fixed level), non-animal distractors dropped on it
(clips of the class ``background`` of the chosen fold, and any extra
folders), and animal calls: clips of the chosen fold of a prepared cache's
manifest, so that a model trained on the other folds has never heard them.
Each call is trimmed of its leading and trailing silence, cut to
``max_call_s``, and scaled so that its active level stands ``snr`` dB above
the bed (:func:`animalsnd.augment.noise.calculate_desired_noise_rms`, the
same rule as noise augmentation, with the call's active RMS). Calls never
overlap one another; distractors are not annotated and may overlap calls.
A share of the recordings (``empty_share``) holds no call at all.

Written to OUT: ``<name>.wav`` (mono 16-bit PCM), its truth table
``<name>.Table.1.selections.txt`` (Raven Pro: one selection per call, with
the source clip and its SNR) and ``spec.json`` (the options, and every
call and distractor of every recording).
The same cache, sources, options and seed give the same files.

Run ``python -m animalsnd.soundscape CACHE OUT --fold 0 --noise DIR`` (see
``--help``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.background import BACKGROUND
from animalsnd.errors import ConfigError, DatasetError

BED_RMS = 0.02  # about -34 dBFS
TRUTH_COLUMNS = ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                 "Low Freq (Hz)", "High Freq (Hz)", "label", "snr_db", "source"]


@dataclass(frozen=True)
class SoundscapeSpec:
    """What to build; every field is written to ``spec.json``."""

    fold: int = 0
    recordings: int = 30
    length_s: float = 60.0
    sr: int = 32000
    snr_db: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
    calls_per_minute: float = 5.0
    max_call_s: float = 8.0
    gap_s: float = 0.5
    empty_share: float = 0.2
    distractors_per_minute: float = 3.0
    distractor_snr_db: tuple[float, float] = (0.0, 15.0)
    seed: int = 0
    classes: tuple[str, ...] = ()  # animal classes to use (empty: all of the fold)

    def __post_init__(self) -> None:
        if self.recordings < 1 or self.length_s <= 0 or self.sr < 1000:
            raise ConfigError("soundscapes need recordings >= 1, length_s > 0 and sr >= 1000")
        if not 0.0 <= self.empty_share <= 1.0:
            raise ConfigError(f"empty_share={self.empty_share} must be between 0 and 1")
        if not self.snr_db or self.calls_per_minute < 0 or self.max_call_s <= 0:
            raise ConfigError("need at least one SNR, calls_per_minute >= 0 and max_call_s > 0")


@dataclass
class Call:
    start_s: float
    end_s: float
    label: str
    snr_db: float
    source: str


@dataclass
class Soundscape:
    name: str
    path: Path
    calls: list[Call] = field(default_factory=list)
    distractors: list[str] = field(default_factory=list)


def fold_clips(cache_dir: str | Path, fold: int) -> tuple[dict[str, list[str]], list[str]]:
    """Usable clips of one fold: ``({animal class: [path, ...]}, [background path, ...])``, sorted."""
    from animalsnd.cache import usable_rows

    rows = [r for r in usable_rows(cache_dir) if int(r["fold"]) == fold]
    if not rows:
        raise DatasetError(f"{cache_dir}: no usable clip in fold {fold}")
    animals: dict[str, list[str]] = {}
    background = []
    for r in sorted(rows, key=lambda r: r["relpath"]):
        (background if r["label"] == BACKGROUND else animals.setdefault(r["label"], [])).append(r["path"])
    return animals, background


def _trim(y: np.ndarray, sr: int, max_s: float, rng) -> np.ndarray:
    import librosa

    t, _ = librosa.effects.trim(y, top_db=35, frame_length=1024, hop_length=256)
    y = t if t.size >= sr // 10 else y
    n = int(max_s * sr)
    if y.size > n:
        s = int(rng.integers(0, y.size - n + 1))
        y = y[s: s + n]
    return y


def _bed(noises: list[np.ndarray], n: int, rng) -> np.ndarray:
    """``n`` samples of noise: random pieces of random noise files, cross-faded, at BED_RMS."""
    from animalsnd.augment.noise import noise_segment, rms

    out = np.zeros(n, np.float32)
    fade = 2048
    pos = 0
    while pos < n:
        w = noises[int(rng.integers(len(noises)))]
        piece = noise_segment(w, length=min(n - pos + fade, max(w.size, 4 * fade)), offset=int(rng.integers(w.size)))
        piece = piece / max(rms(piece), 1e-8)
        ramp = np.ones(piece.size, np.float32)
        k = min(fade, piece.size // 2)
        ramp[:k] = np.linspace(0, 1, k)
        ramp[piece.size - k:] = np.linspace(1, 0, k)
        end = min(n, pos + piece.size)
        out[pos:end] += (piece * ramp)[: end - pos]
        pos = end - k if end < n else end
    return (out * (BED_RMS / max(rms(out), 1e-8))).astype(np.float32)


def _gain(y: np.ndarray, sr: int, snr_db: float) -> float:
    from animalsnd.augment.noise import active_rms, calculate_desired_noise_rms

    level = active_rms(y, sr=sr, frame_s=0.05, threshold_db=-20.0)
    return BED_RMS / max(calculate_desired_noise_rms(level, snr_db), 1e-12)


def _place(length: float, durations: list[float], gap: float, rng) -> list[float] | None:
    """Non-overlapping start times for ``durations`` in ``[0, length)`` (random order and gaps)."""
    free = length - sum(durations) - gap * len(durations)
    if free < 0:
        return None
    cuts = np.sort(rng.uniform(0, free, size=len(durations)))
    starts, t = [], 0.0
    prev = 0.0
    for d, c in zip(durations, cuts):
        t += c - prev + (gap if starts else gap / 2)
        prev = c
        starts.append(t)
        t += d
    return starts


def _at_level(y: np.ndarray) -> np.ndarray:
    """``y`` scaled to the generated noises' RMS of 0.05, float32."""
    return (0.05 * y / max(float(np.sqrt(np.mean(y ** 2))), 1e-12)).astype(np.float32)


def synthetic_noise(rng: np.random.Generator, n: int, *, sr: int) -> np.ndarray:
    """``n`` samples of generic generated noise, RMS 0.05: a power-law colour (``1/f**a``,
    ``a`` in [0, 2], white to brown) in a random band, slowly modulated in level, and in
    half of the draws sparse decaying clicks. Nothing recorded: a noise source of its own."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    lo, hi = rng.uniform(0, 500), rng.uniform(2000, sr / 2)
    spec *= np.where((f >= lo) & (f <= hi), 1.0 / np.maximum(f, 20.0) ** (rng.uniform(0, 2) / 2), 0.0)
    y = np.fft.irfft(spec, n)
    t = np.arange(n) / sr
    y *= 1 + rng.uniform(0, 0.8) * np.sin(2 * np.pi * rng.uniform(0.1, 2) * t + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:
        clicks = np.zeros(n)
        at = rng.integers(0, n, size=int(rng.uniform(5, 50) * n / sr))
        clicks[at] = rng.standard_normal(at.size)
        decay = np.exp(-np.arange(int(0.005 * sr)) / (0.001 * sr))
        click = np.convolve(clicks, decay)[:n]
        y = y / max(np.std(y), 1e-12) + 2 * click / max(np.std(click), 1e-12)
    return _at_level(y)


def synthetic_gusts(rng: np.random.Generator, n: int, *, sr: int) -> np.ndarray:
    """``n`` samples of generated wind on a microphone, RMS 0.05: low-frequency rumble (a
    brown-ish noise below a random 80-400 Hz corner) under a random gust envelope (a slow
    log-normal process, 10-30 dB from lull to gust), a little broadband hiss, and in half of
    the draws the gusts overdriven (soft-clipped, the buffeting of an unprotected capsule).
    Nothing recorded: generated like :func:`synthetic_noise`."""
    f = np.fft.rfftfreq(n, 1 / sr)
    corner = rng.uniform(80, 400)
    spec = np.fft.rfft(rng.standard_normal(n)) / np.maximum(f, 10.0) / (1 + (f / corner) ** 2)
    rumble = np.fft.irfft(spec, n)
    rumble /= max(float(np.std(rumble)), 1e-12)
    slow = np.fft.rfft(rng.standard_normal(n)) * (f <= rng.uniform(0.3, 3.0))
    env = np.fft.irfft(slow, n)
    sd = float(np.std(env))
    env = env / sd if sd > 1e-6 * max(float(np.abs(env).max()), 1e-30) else np.zeros(n)  # too short for a gust: steady
    env = 10 ** (rng.uniform(10, 30) / 20 * env / 2)  # log-normal gusts: +-1 sd spans 10-30 dB
    y = rumble * env / max(float(np.sqrt(np.mean(env ** 2))), 1e-12)
    y += 10 ** (-rng.uniform(15, 30) / 20) * rng.standard_normal(n)
    if rng.random() < 0.5:
        drive = rng.uniform(2, 8) / max(float(np.percentile(np.abs(y), 99)), 1e-12)
        y = np.tanh(drive * y)
    return _at_level(y)


def write_synthetic_noise(out_dir: str | Path, *, count: int = 24, length_s: float = 10.0, sr: int = 32000,
                          seed: int = 0, gusts: float = 0.0) -> list[Path]:
    """``count`` WAVs of :func:`synthetic_noise` in ``out_dir`` (``synth_000.wav`` ...), for noisy
    training copies from a source that no test noise comes from; with ``gusts`` > 0 that share of
    them (every k-th file) is :func:`synthetic_gusts` instead (``gust_000.wav`` ...)."""
    import soundfile as sf

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    every = round(1 / gusts) if gusts > 0 else 0
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        gust = bool(every) and i % every == every - 1
        path = out_dir / (f"gust_{i:03d}.wav" if gust else f"synth_{i:03d}.wav")
        make = synthetic_gusts if gust else synthetic_noise
        sf.write(path, make(rng, int(length_s * sr), sr=sr), sr, subtype="PCM_16")
        paths.append(path)
    return paths


def raven_truth(calls: list[Call], *, high_hz: float) -> str:
    lines = ["\t".join(TRUTH_COLUMNS)]
    for i, c in enumerate(calls, start=1):
        lines.append("\t".join([str(i), "Spectrogram 1", "1", f"{c.start_s:.3f}", f"{c.end_s:.3f}", "0.0",
                                f"{high_hz:.1f}", c.label, f"{c.snr_db:g}", c.source]))
    return "\n".join(lines) + "\n"


def build(cache_dir: str | Path, out_dir: str | Path, *, noise_dir: str | Path, spec: SoundscapeSpec = SoundscapeSpec(),
          distractor_dirs: list[str | Path] = (), name: str = "soundscape",
          progress=None) -> list[Soundscape]:
    """Build ``spec.recordings`` soundscapes into ``out_dir`` (see the module doc).

    Raises
    ------
    DatasetError
        No usable clip in the fold, an unusable noise or distractor folder.
    """
    import soundfile as sf

    from animalsnd.audio import load
    from animalsnd.augment.noisebank import find_noise_files, load_noise_bank
    from animalsnd.cache import atomic_write_text

    animals, background = fold_clips(cache_dir, spec.fold)
    if spec.classes:
        unknown = sorted(set(spec.classes) - set(animals))
        if unknown:
            raise DatasetError(f"fold {spec.fold} of {cache_dir} has no clip of: {', '.join(unknown)}")
        animals = {c: animals[c] for c in spec.classes}
    if not animals:
        raise DatasetError(f"fold {spec.fold} of {cache_dir} has no animal clip")
    distractors = list(background) + [str(p) for d in distractor_dirs for p in find_noise_files(d)]
    noises = load_noise_bank(noise_dir, sr=spec.sr).waveforms
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sr, n = spec.sr, int(round(spec.length_s * spec.sr))
    rng0 = np.random.default_rng([spec.seed, 0])
    n_empty = int(round(spec.empty_share * spec.recordings))
    empty = set(rng0.choice(spec.recordings, size=n_empty, replace=False).tolist()) if n_empty else set()
    classes = sorted(animals)
    queues = {c: list(rng0.permutation(len(animals[c]))) for c in classes}

    def next_clip(c: str) -> str:
        if not queues[c]:
            queues[c] = list(rng0.permutation(len(animals[c])))
        return animals[c][queues[c].pop()]

    built = []
    for i in range(spec.recordings):
        rng = np.random.default_rng([spec.seed, 1, i])
        y = _bed(noises, n, rng)
        sc = Soundscape(f"{name}_{i:03d}", out_dir / f"{name}_{i:03d}.wav")
        n_dis = int(rng.poisson(spec.distractors_per_minute * spec.length_s / 60)) if distractors else 0
        for _ in range(n_dis):
            path = distractors[int(rng.integers(len(distractors)))]
            d, _ = load(path, sr=sr)
            d = d[: n // 2] if d.size > n // 2 else d
            s = int(rng.integers(0, max(1, n - d.size)))
            y[s: s + d.size] += _gain(d, sr, float(rng.uniform(*spec.distractor_snr_db))) * d[: n - s]
            sc.distractors.append(path)
        if i not in empty:
            k = max(1, int(rng.poisson(spec.calls_per_minute * spec.length_s / 60)))
            picks = [classes[int(rng.integers(len(classes)))] for _ in range(k)]
            clips = [(c, p, _trim(load(p, sr=sr)[0], sr, spec.max_call_s, rng))
                     for c in picks for p in [next_clip(c)]]
            while clips and (starts := _place(spec.length_s, [len(w) / sr for _, _, w in clips], spec.gap_s,
                                              rng)) is None:
                clips.pop()
            for (c, p, w), t in zip(clips, starts if clips else []):
                snr = float(spec.snr_db[int(rng.integers(len(spec.snr_db)))])
                s = int(round(t * sr))
                w = w[: n - s]
                y[s: s + w.size] += _gain(w, sr, snr) * w
                sc.calls.append(Call(round(s / sr, 3), round((s + w.size) / sr, 3), c, snr, Path(p).name))
        peak = float(np.max(np.abs(y)))
        if peak > 0.99:  # scale the whole mix: every SNR is kept
            y *= 0.99 / peak
        sf.write(sc.path, y, sr, subtype="PCM_16")
        atomic_write_text(out_dir / f"{sc.name}.Table.1.selections.txt", raven_truth(sc.calls, high_hz=sr / 2))
        built.append(sc)
        if progress:
            progress(i + 1, spec.recordings)
    meta = {"spec": asdict(spec), "cache": str(Path(cache_dir).resolve()), "noise": str(Path(noise_dir).resolve()),
            "distractor_dirs": [str(Path(d).resolve()) for d in distractor_dirs],
            "recordings": [{"file": sc.path.name, "calls": [asdict(c) for c in sc.calls],
                            "distractors": [Path(d).name for d in sc.distractors]} for sc in built]}
    atomic_write_text(out_dir / "spec.json", json.dumps(meta, indent=2) + "\n")
    return built


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from animalsnd.errors import AnimalsndError

    ap = argparse.ArgumentParser(prog="python -m animalsnd.soundscape", description=__doc__.split("\n\n")[0])
    ap.add_argument("cache", help="a prepared cache (its manifest's folds choose the clips)")
    ap.add_argument("out", help="folder for the WAVs and truth tables")
    ap.add_argument("--noise", required=True, help="folder of noise-bed recordings (searched recursively)")
    ap.add_argument("--distractors", action="append", default=[], help="extra folder of non-animal clips (repeatable)")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--recordings", type=int, default=30)
    ap.add_argument("--length", type=float, default=60.0, help="seconds per recording")
    ap.add_argument("--sr", type=int, default=32000)
    ap.add_argument("--snr", default="0,5,10,15,20", help="call SNRs in dB above the bed, comma-separated")
    ap.add_argument("--calls-per-minute", type=float, default=5.0)
    ap.add_argument("--empty-share", type=float, default=0.2, help="share of recordings without any call")
    ap.add_argument("--gap", type=float, default=0.5, help="least seconds between two calls")
    ap.add_argument("--distractors-per-minute", type=float, default=3.0)
    ap.add_argument("--classes", default="", help="comma-separated animal classes to use (default: all of the fold); "
                    "one class with many calls per minute and a short --gap makes a chorus")
    ap.add_argument("--name", default="soundscape")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        from animalsnd.augment.noise import parse_snr_list

        spec = SoundscapeSpec(fold=a.fold, recordings=a.recordings, length_s=a.length, sr=a.sr,
                              snr_db=tuple(parse_snr_list(a.snr)), calls_per_minute=a.calls_per_minute,
                              empty_share=a.empty_share, gap_s=a.gap,
                              distractors_per_minute=a.distractors_per_minute,
                              classes=tuple(c.strip() for c in a.classes.split(",") if c.strip()), seed=a.seed)
        built = build(a.cache, a.out, noise_dir=a.noise, spec=spec, distractor_dirs=a.distractors, name=a.name)
    except AnimalsndError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    calls = sum(len(s.calls) for s in built)
    print(f"{len(built)} soundscapes, {len(built) * spec.length_s / 60:.1f} min, {calls} calls -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
