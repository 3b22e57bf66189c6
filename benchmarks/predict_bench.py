"""Speed and peak memory of `animalsnd predict` on a one-hour 44.1 kHz recording.

    python benchmarks/predict_bench.py [--model DIR] [--minutes 60] [--runtime keras tflite] [--out NAME.json]

Writes a synthetic recording (``animalsnd.synth.long_recording``, one minute
at a time) with soundfile in blocks to /tmp, trains a small cnn1d-enhanced
bundle on sample_audio/ when no ``--model`` is given (with model.tflite), then
runs the CLI in a child process per runtime and reports

* real-time factor = audio seconds / wall seconds of the whole child process
  (Python start-up, imports and model loading included), and of the predict
  call alone (the CLI's own summary line);
* peak RSS of that child (``ru_maxrss`` from ``os.wait4``) and its CPU time
  (user + system, all threads), which does not depend on what else the
  machine is running.

It also times the two ways of computing window features on the first ten
minutes: the shared block spectrogram that predict uses, and
``features.logmel`` on every window separately.

Writes benchmarks/out/predict_bench.json.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, write_json

WORK = Path(tempfile.gettempdir()) / "animalsnd-bench"


def write_recording(path: Path, *, minutes: int, sr: int) -> float:
    """One minute of long_recording at a time; returns seconds spent (0 if reused)."""
    import soundfile as sf

    frames = minutes * 60 * sr
    if path.exists():
        try:
            if sf.info(str(path)).frames == frames and sf.info(str(path)).samplerate == sr:
                return 0.0
        except RuntimeError:
            pass
    from animalsnd.synth import long_recording

    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tmp = path.with_suffix(".tmp.wav")
    with sf.SoundFile(str(tmp), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for k in range(minutes):
            y, _ = long_recording(k, sr=sr, duration_s=60.0)
            f.write(y)
    os.replace(tmp, path)
    return time.perf_counter() - t0


def train_model(out: Path) -> Path:
    """A cnn1d-enhanced bundle (few epochs: speed does not depend on accuracy)."""
    if (out / "bundle.json").exists() and (out / "model.tflite").exists():
        return out
    from animalsnd.cache import prepare
    from animalsnd.train import TrainConfig, train

    prepare(ROOT / "sample_audio", WORK / "cache", jobs=-1)
    config = TrainConfig.for_model("cnn1d-enhanced", epochs=5, early_stopping=False)
    train(WORK / "cache", out, config=config, export_tflite=True)
    return out


def measured(args: list[str]) -> dict:
    """Run the CLI in a child process; wall time, peak RSS (``os.wait4``) and its summary line."""
    code = (
        "import json, os, subprocess, sys, time\n"
        "t0 = time.perf_counter()\n"
        "p = subprocess.Popen([sys.executable, '-m', 'animalsnd', *sys.argv[1:]],"
        " stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)\n"
        "out = p.stdout.read()\n"
        "_, status, ru = os.wait4(p.pid, 0)\n"
        "print(json.dumps({'wall_s': time.perf_counter() - t0, 'maxrss_kb': ru.ru_maxrss,"
        " 'cpu_s': ru.ru_utime + ru.ru_stime, 'status': status, 'out': out}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True)
    import json

    r = json.loads(res.stdout)
    if r["status"] != 0:
        raise SystemExit(f"predict failed:\n{r['out']}")
    m = re.search(r"in ([0-9.]+) s \(([0-9]+)x real time\)", r["out"])
    return {"wall_s": round(r["wall_s"], 3), "predict_s": float(m.group(1)) if m else None,
            "cpu_s": round(r["cpu_s"], 2),
            "peak_rss_mb": round(r["maxrss_kb"] / 1024, 1), "summary": r["out"].strip().splitlines()[-1]}


def feature_paths(wav: Path, *, seconds: float) -> dict:
    """Shared block spectrogram vs logmel per window, on the first ``seconds``."""
    import numpy as np
    import soundfile as sf

    from animalsnd.audio import resample
    from animalsnd.config import FeatureConfig
    from animalsnd.features import logmel
    from animalsnd.predict import WindowPlan, window_features

    cfg = FeatureConfig()
    x, sr = sf.read(str(wav), frames=int(seconds * sf.info(str(wav)).samplerate), dtype="float32")
    y = resample(x, sr, cfg.sr)
    plan = WindowPlan.from_seconds(cfg)
    window_features(y[: cfg.sr * 20], plan)  # warm-up (imports, Mel filters)
    t0 = time.perf_counter()
    spans, shared = window_features(y, plan)
    t_shared = time.perf_counter() - t0
    t0 = time.perf_counter()
    per = np.stack([logmel(y[s:e], cfg=cfg) for s, e in spans])
    t_per = time.perf_counter() - t0
    return {
        "audio_s": seconds, "windows": len(spans),
        "shared_spectrogram_s": round(t_shared, 3), "logmel_per_window_s": round(t_per, 3),
        "speedup": round(t_per / t_shared, 2),
        "max_abs_diff": float(np.abs(per - shared).max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None, help="bundle to use (default: train one)")
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--sr", type=int, default=44100)
    ap.add_argument("--runtime", nargs="+", default=["keras", "tflite"])
    ap.add_argument("--repeats", type=int, default=2, help="runs per runtime; the best is reported")
    ap.add_argument("--out", default="predict_bench.json", help="JSON file name under benchmarks/out/")
    args = ap.parse_args()

    wav = WORK / f"field_{args.minutes}min_{args.sr}.wav"
    gen_s = write_recording(wav, minutes=args.minutes, sr=args.sr)
    model = args.model or train_model(WORK / "model")
    audio_s = args.minutes * 60.0
    runs = {}
    for rt in args.runtime:
        tries = [measured(["predict", str(model), str(wav), "--runtime", rt, "--format", "csv",
                           "--out", str(WORK / f"pred-{rt}.csv")]) for _ in range(args.repeats)]
        best = min(tries, key=lambda r: r["wall_s"])
        best["rtf_process"] = round(audio_s / best["wall_s"], 1)
        best["rtf_predict"] = round(audio_s / best["predict_s"], 1) if best["predict_s"] else None
        best["all_wall_s"] = [r["wall_s"] for r in tries]
        runs[rt] = best
        print(f"{rt:7s} wall {best['wall_s']:.2f} s ({best['rtf_process']:.0f}x real time), "
              f"predict {best['predict_s']} s, CPU {best['cpu_s']:.1f} s, peak RSS {best['peak_rss_mb']:.0f} MB")
    feats = feature_paths(wav, seconds=600.0)
    print(f"features for 10 min: shared spectrogram {feats['shared_spectrogram_s']} s, "
          f"logmel per window {feats['logmel_per_window_s']} s (max |diff| {feats['max_abs_diff']:.1e})")
    try:
        pressure = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        pressure = None
    write_json(args.out, {
        "cpu_pressure": pressure,
        "recording": {"path": str(wav), "minutes": args.minutes, "sample_rate": args.sr,
                      "generated_in_s": round(gen_s, 1)},
        "model": str(model),
        "targets": {"rtf_min": 500, "peak_rss_mb_max": 1024},
        "runs": runs,
        "features_10min": feats,
    })


if __name__ == "__main__":
    main()
