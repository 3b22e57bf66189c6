"""Speed and peak memory of `animalsnd predict` on a one-hour 44.1 kHz recording.

    python benchmarks/predict_bench.py [--model DIR] [--minutes 60] [--runtime keras tflite] [--out NAME.json]
        [--code SRC_TREE] [--no-features] [--field-from DIR ...] [--extra=--no-screen]

Writes a synthetic recording (``animalsnd.synth.long_recording``, one minute
at a time) with soundfile in blocks to /tmp, trains a small cnn1d-enhanced
bundle on sample_audio/ when no ``--model`` is given (with model.tflite), then
runs the CLI in a child process per runtime and reports

* real-time factor = audio seconds / wall seconds of the whole child process
  (Python start-up, imports and model loading included), and of the predict
  call alone (the CLI's own summary line);
* peak RSS of that child (``ru_maxrss`` from ``os.wait4``) and its CPU time
  (user + system, all threads and child processes), which does not depend
  on what else the machine is running, and the peak summed RSS of the CLI
  and its children; the 1-minute load average at start and end of each run.

With ``--model`` a birdnet-head ``--cv`` folder, use ``--runtime auto``.
``--field-from DIR ...`` writes the hour from the recordings in those folders
instead (e.g. the soundscape benchmark's test and proxy soundscapes: calls a few
times a minute over rain or wind), one after another, resampled to ``--sr`` and
repeated until ``--minutes``; ``--extra`` adds predict options (``--extra=--no-screen``).
``--code`` runs the CLI from another source tree (a checkout of an earlier
revision), to compare speed and outputs on the same recording.

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


def write_field_recording(path: Path, folders: list[Path], *, minutes: int, sr: int) -> float:
    """The recordings of ``folders`` one after another at ``sr``, repeated until ``minutes``."""
    import numpy as np
    import soundfile as sf

    from animalsnd.audio import load

    files = sorted(f for d in folders for f in Path(d).glob("*.wav"))
    if not files:
        sys.exit(f"no .wav files in {', '.join(map(str, folders))}")
    t0 = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    need, k = minutes * 60 * sr, 0
    with sf.SoundFile(str(tmp), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        while need > 0:
            y, _ = load(files[k % len(files)], sr=sr)
            y = np.clip(y[:need], -1.0, 1.0)
            f.write(y)
            need -= y.size
            k += 1
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


def measured(args: list[str], *, code_root: Path = ROOT) -> dict:
    """Run the CLI in a child process; wall time, peak RSS (``os.wait4``) and its summary line.

    The CLI's own child processes (BirdNET workers) are counted in the CPU
    time (``os.wait4`` includes reaped descendants); ``peak_tree_rss_mb`` is
    the largest sum of the resident sizes of the CLI and its children,
    sampled from /proc every 50 ms (Linux only, else None).
    """
    code = (
        "import json, os, subprocess, sys, threading, time\n"
        "def tree_rss(pid):\n"
        "    total, todo = 0, [pid]\n"
        "    while todo:\n"
        "        q = todo.pop()\n"
        "        try:\n"
        "            total += int(open(f'/proc/{q}/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "            for t in os.listdir(f'/proc/{q}/task'):\n"
        "                todo += [int(c) for c in open(f'/proc/{q}/task/{t}/children').read().split()]\n"
        "        except (OSError, ValueError):\n"
        "            pass\n"
        "    return total\n"
        "t0 = time.perf_counter()\n"
        "p = subprocess.Popen([sys.executable, '-m', 'animalsnd', *sys.argv[1:]],"
        " stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)\n"
        "peak = [0 if os.path.exists('/proc/self/statm') else None]\n"
        "done = threading.Event()\n"
        "def sample():\n"
        "    while not done.is_set() and peak[0] is not None:\n"
        "        peak[0] = max(peak[0], tree_rss(p.pid))\n"
        "        time.sleep(0.05)\n"
        "threading.Thread(target=sample, daemon=True).start()\n"
        "load0 = os.getloadavg()[0]\n"
        "out = p.stdout.read()\n"
        "_, status, ru = os.wait4(p.pid, 0)\n"
        "done.set()\n"
        "print(json.dumps({'wall_s': time.perf_counter() - t0, 'maxrss_kb': ru.ru_maxrss,"
        " 'cpu_s': ru.ru_utime + ru.ru_stime, 'status': status, 'out': out, 'tree_rss': peak[0],"
        " 'load_1m': [load0, os.getloadavg()[0]]}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(code_root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, cwd=code_root, check=True)
    import json

    r = json.loads(res.stdout)
    if r["status"] != 0:
        raise SystemExit(f"predict failed:\n{r['out']}")
    m = re.search(r"in ([0-9.]+) s \(([0-9]+)x real time\)", r["out"])
    return {"wall_s": round(r["wall_s"], 3), "predict_s": float(m.group(1)) if m else None,
            "cpu_s": round(r["cpu_s"], 2),
            "peak_rss_mb": round(r["maxrss_kb"] / 1024, 1),
            "peak_tree_rss_mb": round(r["tree_rss"] / 2**20, 1) if r["tree_rss"] else None,
            "load_1m_start_end": [round(v, 2) for v in r["load_1m"]],
            "summary": r["out"].strip().splitlines()[-1]}


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
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="source tree the CLI runs from (a checkout of another revision, to compare)")
    ap.add_argument("--no-features", action="store_true", help="skip the log-Mel feature-path timing")
    ap.add_argument("--field-from", type=Path, nargs="+", default=None, metavar="DIR",
                    help="make the hour from the .wav recordings in these folders instead of synthetic audio")
    ap.add_argument("--extra", default="", help="more predict options, e.g. --extra=--no-screen")
    args = ap.parse_args()

    if args.field_from:
        wav = WORK / f"scapes_{args.minutes}min_{args.sr}.wav"
        gen_s = 0.0 if wav.exists() else write_field_recording(wav, args.field_from, minutes=args.minutes,
                                                                sr=args.sr)
    else:
        wav = WORK / f"field_{args.minutes}min_{args.sr}.wav"
        gen_s = write_recording(wav, minutes=args.minutes, sr=args.sr)
    model = args.model or train_model(WORK / "model")
    audio_s = args.minutes * 60.0
    runs = {}
    for rt in args.runtime:
        tries = [measured(["predict", str(model), str(wav), "--runtime", rt, "--format", "csv",
                           "--out", str(WORK / f"pred-{Path(args.out).stem}-{rt}.csv"), *args.extra.split()],
                          code_root=args.code)
                 for _ in range(args.repeats)]
        best = min(tries, key=lambda r: r["wall_s"])
        best["rtf_process"] = round(audio_s / best["wall_s"], 1)
        best["rtf_predict"] = round(audio_s / best["predict_s"], 1) if best["predict_s"] else None
        best["all_wall_s"] = [r["wall_s"] for r in tries]
        runs[rt] = best
        print(f"{rt:7s} wall {best['wall_s']:.2f} s ({best['rtf_process']:.0f}x real time), "
              f"predict {best['predict_s']} s, CPU {best['cpu_s']:.1f} s, peak RSS {best['peak_rss_mb']:.0f} MB "
              f"(all processes {best['peak_tree_rss_mb']} MB), load {best['load_1m_start_end']}")
    feats = None
    if not args.no_features:
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
                      "generated_in_s": round(gen_s, 1),
                      "from": [str(d) for d in args.field_from] if args.field_from else "animalsnd.synth"},
        "extra": args.extra,
        "model": str(model), "code": str(args.code),
        "targets": {"rtf_min": 500, "rtf_min_birdnet_head": 150, "peak_rss_mb_max": 1024},
        "runs": runs,
        "features_10min": feats,
    })


if __name__ == "__main__":
    main()
