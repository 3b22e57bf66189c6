"""Recorder-normalising front ends for BirdNET's input, across sources.

    python benchmarks/xsource_frontend_probe.py --cache runs/cache

A recorder colours what it records: its own noise floor (hiss, hum, a room) and its
frequency response (a tilt, a resonance). These probes remove an estimate of both from
every clip before BirdNET hears it, identically in training and test, and score the
stand-in head (``xsource_embedding_probe.head``) on the same splits as that probe:

- ``floor``: stationary spectral subtraction. The clip's noise floor per frequency bin
  (the 20th percentile of its STFT magnitude over the whole clip, silence included) is
  subtracted with an over-subtraction of 1 or 2, each bin's gain floored at -20 dB.
- ``tilt``: the clip's long-term spectrum (median magnitude per bin) fitted by a line in
  log magnitude over log frequency between 150 Hz and the cut-off; the slope is removed
  (one parameter of EQ), the level at 1 kHz kept.
- ``whiten``: every bin divided by the clip's long-term median magnitude smoothed over
  1/3 octave (a flat long-term spectrum: the recorder's response and the animal's own
  envelope alike), the overall level kept.
- ``floor + tilt``: both.

The clip is processed whole at BirdNET's rate, then cut to its active region and framed
as the embedding store does (cut-off included). Embeddings are computed once and kept in
``benchmarks/out/xsource_frontend_probe.npz``. Writes benchmarks/out/xsource_frontend_probe.json.
"""

from __future__ import annotations

import warnings

import numpy as np
from _common import require, write_json
from xsource_embedding_probe import (accuracy, extras, meanmax, probe_parser, scored_splits, stored_clips,
                                     xsource_splits)

N_FFT, HOP = 2048, 512
FRONT_ENDS = ("floor x1", "floor x2", "tilt", "whiten", "floor x1 + tilt")


def _stft(y: np.ndarray):
    import librosa

    return librosa.stft(y, n_fft=N_FFT, hop_length=HOP)


def _istft(S, n: int) -> np.ndarray:
    import librosa

    return librosa.istft(S, hop_length=HOP, length=n).astype(np.float32)


def floor_subtracted(y: np.ndarray, over: float) -> np.ndarray:
    S = _stft(y)
    mag = np.abs(S)
    floor = np.percentile(mag, 20, axis=1, keepdims=True)
    gain = np.maximum(1.0 - over * floor / (mag + 1e-12), 0.1)
    return _istft(S * gain, len(y))


def _long_term(mag: np.ndarray) -> np.ndarray:
    return np.median(mag, axis=1) + 1e-9


def tilt_removed(y: np.ndarray, sr: int, fmax: float) -> np.ndarray:
    S = _stft(y)
    f = np.fft.rfftfreq(N_FFT, 1 / sr)
    band = (f >= 150) & (f <= fmax)
    lt = np.log(_long_term(np.abs(S)))
    slope = np.polyfit(np.log(f[band]), lt[band], 1)[0]
    ref = np.log(1000.0)
    gain = np.exp(-slope * (np.log(np.clip(f, 150.0, fmax)) - ref))
    return _istft(S * gain[:, None], len(y))


def whitened(y: np.ndarray, sr: int, fmax: float) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    S = _stft(y)
    f = np.fft.rfftfreq(N_FFT, 1 / sr)
    lt = np.log(_long_term(np.abs(S)))
    # 1/3-octave smoothing on a log-frequency grid
    grid = np.geomspace(50, sr / 2, 400)
    sm = np.interp(np.log(f + 1e-9), np.log(grid), uniform_filter1d(np.interp(grid, f, lt), size=13))
    band = (f >= 150) & (f <= fmax)
    gain = np.exp(-(sm - sm[band].mean()))
    gain[~band] = 1.0
    return _istft(S * gain[:, None], len(y))


def _front_ends(path: str, fmax) -> dict[str, np.ndarray]:
    """The default views of a clip's active region after each front end of :data:`FRONT_ENDS`."""
    from animalsnd.audio import load
    from animalsnd.backbones import birdnet
    from animalsnd.embeddings import TRIM, _embedder, band_windows
    from animalsnd.trim import trim

    sr = birdnet.BIRDNET_SR
    y, _ = load(path, sr=sr)
    top = float(fmax or sr / 2)
    made = {"floor x1": floor_subtracted(y, 1.0), "floor x2": floor_subtracted(y, 2.0),
            "tilt": tilt_removed(y, sr, top), "whiten": whitened(y, sr, top)}
    made["floor x1 + tilt"] = tilt_removed(made["floor x1"], sr, top)
    out = {}
    for name, z in made.items():
        z = trim(z, sr, TRIM)
        out[name] = _embedder().features(band_windows(birdnet.frame_windows(z), fmax))
    return out


def main() -> None:
    args = probe_parser(__doc__).parse_args()
    warnings.filterwarnings("ignore")
    cache = require(args.cache)
    rows, paths, base = stored_clips(cache)
    default = {p: meanmax(w) for p, w in base.items()}
    fronts = extras(cache, paths, args.jobs, _front_ends, "xsource_frontend_probe")
    results: dict[str, dict] = {}
    for name, es, y, tr, te in scored_splits(xsource_splits(cache)):
        X0 = np.stack([default[p] for p in es.paths])
        r = {"default": accuracy(X0[tr], y[tr], X0[te], y[te])}
        for k in FRONT_ENDS:
            X = np.stack([meanmax(fronts[p][k]) for p in es.paths])
            r[k] = accuracy(X[tr], y[tr], X[te], y[te])
            Xc = np.hstack([X0, X])
            r[f"{k}, appended to the default"] = accuracy(Xc[tr], y[tr], Xc[te], y[te])
        results[name] = r
        print(name, r, flush=True)
    write_json("xsource_frontend_probe.json", {"cache": str(cache), "results": results})


if __name__ == "__main__":
    main()
