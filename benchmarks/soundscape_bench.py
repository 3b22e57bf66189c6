"""Detection on field-like soundscapes built from a held-out fold, with the background class.

    nice -n 10 python benchmarks/soundscape_bench.py [--cache DIR] [--models DIR] [--scapes DIR]
        [--minutes 30] [--kinds birdnet-head stats-mlp cnn1d-enhanced] [--tuned] [--windows stats-mlp:2:1]
        [--baseline birdnet-head stats-mlp] [--augmented bg-each-100] [--calibration both]
        [--out soundscape_bench.json]

1. A cache of animal-sounds-10 prepared with ``--background ../shared/data/background``
   (made when missing; 5 folds, seed 0; prepare's defaults, i.e. ``--cutoff auto``; other
   prepare options, e.g. ``--preset study`` for the full band, through ``SOUNDSCAPE_PREPARE``).
   The cache, models and soundscapes go under benchmarks/out/soundscape/ unless
   ``--cache``/``--models``/``--scapes`` say otherwise.
2. One model per kind trained on folds 1-4 (``--test-fold 0``; trained when missing), with
   ``train``'s default calibration (fitted on the held-out fold 0).
   ``--augmented NAME``: the kinds are trained with ``train --augmented NAME`` instead (models
   under ``<models>/<kind>+NAME``); the set is made when missing with ``animalsnd augment
   CACHE --noise ../shared/data/background --snr 0:20 --per-class 100 --name NAME``
   (``--augment-noise``, ``--augment-snr``, ``--augment-per-class``).
3. Soundscapes of 60 s (``--minutes`` of them) from **fold-0 clips only**, over a bed of
   the ESC-50 rain clips (a noise no model trained on), with non-animal distractors: the
   fold-0 clips of the background class (held out) and the ESC-50 wind clips. Calls at
   0, 5, 10, 15, 20 dB above the bed; 20 % of the soundscapes hold no call.
4. ``animalsnd.detection.evaluate_detection`` per model: window mAP, precision/recall/F1 of
   predict's output (overlap >= min(1 s, half the event)), the share of the call-free
   soundscapes given an animal label; and, clip by clip, the share of the ESC-50 wind and
   rain clips (other source, never trained on) and of the held-out background clips given an
   animal label. ``--calibration``: ``off`` scores the uncalibrated output (``predict
   --no-calibration``), ``on`` the default, calibrated output (the temperature and thresholds
   of ``calibration.json``; for a ``--test-fold 0`` model they are fitted on the clean fold-0
   clips the soundscapes reuse, so mildly optimistic), ``both`` (default) scores each model
   both ways (the calibrated rows are named ``... calibrated``).
5. ``--windows KIND:WINDOW:HOP``: the same model scanned with other windows than its default.
6. ``--baseline KIND...``: the same kinds trained on the same folds without the background
   class (``<cache>-nobg``, the manifest minus its background rows), scored the same way.

Writes benchmarks/out/soundscape_bench.json (``--out``), again after every model scored.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import NOISE_DIR, OUT, REAL_DATA, SHARED, require, write_json

BACKGROUND = Path(os.environ.get("ANIMALSND_BACKGROUND_DIR", SHARED / "background"))
RUNS = OUT / "soundscape"
PREPARE = os.environ.get("SOUNDSCAPE_PREPARE", "").split()  # prepare's defaults (--cutoff auto)
THRESHOLD = 0.5  # one uncalibrated confidence threshold, for comparison with the default output


def _options(calibrated: bool):
    from animalsnd.predict import PredictOptions

    return PredictOptions(calibrated=calibrated)


# A calibration.json written by `train` is fitted on the test fold when there is no --cv, and the
# soundscapes are made of that fold's clips: the calibrated scores are mildly optimistic, the
# uncalibrated ones are scored next to them.
UNCALIBRATED = _options(False)
CALIBRATED = _options(True)


def ensure_cache(cache: Path) -> None:
    if (cache / "manifest.csv").exists():
        return
    subprocess.run([sys.executable, "-m", "animalsnd", "prepare", str(REAL_DATA), "--background", str(BACKGROUND),
                    "--cache", str(cache), *PREPARE], check=True)


def ensure_model(cache: Path, models: Path, kind: str, *, tuned: bool = False, augmented: str | None = None) -> Path:
    name = f"{kind}+{augmented}" if augmented else kind
    out = models / name
    recipe = ["--recipe", "tuned"] if tuned and kind == "cnn1d-enhanced" else []
    extra = ["--augmented", augmented] if augmented else []
    if not (out / "bundle.json").exists():
        subprocess.run([sys.executable, "-m", "animalsnd", "train", str(cache), "--model", kind, "--out", str(out),
                        "--test-fold", "0", "--json", str(models / f"{name}.json"), *recipe, *extra], check=True)
    return out


def ensure_augmented(cache: Path, name: str, noise: Path, snr: str, per_class: int) -> None:
    if (cache / "augment" / name).exists():
        return
    subprocess.run([sys.executable, "-m", "animalsnd", "augment", str(cache), "--noise", str(noise), "--snr", snr,
                    "--per-class", str(per_class), "--name", name], check=True)


def flagged_share(model: Path, files: list[Path], options=None) -> dict:
    """Share of these (non-animal) clips given at least one animal label by predict's output under
    ``options`` (and, for comparison, by the windows whose best animal class reaches probability 0.5)."""
    from animalsnd.detection import ScoredFile, threshold_rows
    from animalsnd.predict import predict

    run = predict(model, files, jobs=1, options=options or UNCALIBRATED)
    hit = [r for r in run.processed if r.rows]
    at = [r for r in run.processed
          if threshold_rows(ScoredFile(r.path, r.duration_s, r.spans_s, r.probs, r.rows, []), run.classes, THRESHOLD)]
    n = max(1, len(run.processed))
    return {"clips": len(run.processed), "flagged": len(hit), "share": len(hit) / n,
            "labels": sorted({d.label for r in hit for d in r.rows}), f"share_at_{THRESHOLD:g}": len(at) / n}


def pct(v) -> str:
    return "-" if v is None else f"{v:.0%}"


def recall_by_snr(report, built) -> dict:
    """Share of the calls found by predict's default output, per call SNR."""
    from collections import defaultdict

    from animalsnd.detection import found_events

    snr = {(sc.name, c.start_s, c.label): c.snr_db for sc in built for c in sc.calls}
    tally = defaultdict(lambda: [0, 0])
    for f in report.files:
        for e, ok in zip(f.events, found_events(f.events, f.rows)):
            t = tally[f"{snr.get((f.path.stem, e.start_s, e.label), float('nan')):g} dB"]
            t[0] += ok
            t[1] += 1
    return {k: {"recall": v[0] / v[1], "calls": v[1]} for k, v in sorted(tally.items(), key=lambda kv: float(kv[0][:-3]))}


def without_background(cache: Path) -> Path:
    """``<cache>-nobg``: the same clips and folds minus the background class (stores shared by symlink)."""
    import csv

    out = cache.with_name(cache.name + "-nobg")
    if (out / "manifest.csv").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name in ("features", "embeddings", "descriptors"):
        if (cache / name).exists() and not (out / name).exists():
            (out / name).symlink_to((cache / name).resolve())
    from animalsnd.dataset import fingerprint

    with open(cache / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] != "background"]
    ok = [r for r in rows if r["status"] == "ok" and int(r["fold"]) >= 0]
    conf = json.loads((cache / "config.json").read_text())
    conf["fingerprint"] = fingerprint([r["sha256"] for r in ok], [r["label"] for r in ok])
    conf.pop("background_dir", None)
    (out / "config.json").write_text(json.dumps(conf, indent=2) + "\n")
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=RUNS / "field-cache")
    ap.add_argument("--models", type=Path, default=RUNS / "field-models")
    ap.add_argument("--scapes", type=Path, default=RUNS / "field-soundscapes")
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--kinds", nargs="*", default=["birdnet-head", "stats-mlp", "cnn1d-enhanced"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="soundscape_bench.json")
    ap.add_argument("--tuned", action="store_true", help="train cnn1d-enhanced with --recipe tuned")
    ap.add_argument("--windows", nargs="*", default=[], metavar="KIND:WINDOW:HOP",
                    help="also score KIND with predict's --window WINDOW --hop HOP (seconds)")
    ap.add_argument("--baseline", nargs="*", default=[], metavar="KIND",
                    help="also train and score these kinds on the same folds without the background class")
    ap.add_argument("--augmented", default=None, metavar="NAME",
                    help="train the kinds with train --augmented NAME (the set made when missing)")
    ap.add_argument("--augment-noise", type=Path, default=BACKGROUND, help="noise folder of a missing augmented set")
    ap.add_argument("--augment-snr", default="0:20", help="SNR range of a missing augmented set")
    ap.add_argument("--augment-per-class", type=int, default=100, help="copies per class of a missing augmented set")
    ap.add_argument("--calibration", choices=["off", "on", "both"], default="both",
                    help="score the uncalibrated output, the calibrated (default) output, or both")
    a = ap.parse_args()
    require(REAL_DATA)
    require(BACKGROUND)
    rain, wind = require(NOISE_DIR / "rain"), require(NOISE_DIR / "wind")

    from animalsnd.augment.noisebank import find_noise_files
    from animalsnd.detection import evaluate_detection, score_files
    from animalsnd.soundscape import SoundscapeSpec, build, fold_clips

    ensure_cache(a.cache)
    spec = SoundscapeSpec(fold=0, recordings=a.minutes, length_s=60.0, sr=32000, seed=a.seed)
    t0 = time.perf_counter()
    built = build(a.cache, a.scapes, noise_dir=rain, spec=spec, distractor_dirs=[wind])
    print(f"built {len(built)} soundscapes in {time.perf_counter() - t0:.0f} s -> {a.scapes}")
    _, held_bg = fold_clips(a.cache, 0)
    esc = find_noise_files(rain) + find_noise_files(wind)
    results = {}

    def save() -> None:
        write_json(a.out, {
            "cache": str(a.cache), "models": str(a.models), "soundscapes": str(a.scapes),
            "prepare": PREPARE, "augmented": a.augmented, "calibration": a.calibration,
            "spec": {**spec.__dict__, "noise_bed": str(rain), "distractors": ["fold-0 background clips", str(wind)]},
            "calls": sum(len(sc.calls) for sc in built), "minutes": a.minutes, "results": results,
        })

    def score(name: str, model: Path, options=None) -> None:
        from dataclasses import replace

        ways = {"off": [False], "on": [True], "both": [False, True]}[a.calibration]
        for calibrated in ways:
            opts = replace(options or UNCALIBRATED, calibrated=calibrated)
            score_one(f"{name} calibrated" if calibrated else name, model, opts)
            save()

    def score_one(name: str, model: Path, options) -> None:
        t0 = time.perf_counter()
        rep = evaluate_detection(model, a.scapes, a.scapes, jobs=1, options=options)
        s = rep.summary()
        s["scan_seconds"] = round(time.perf_counter() - t0, 1)
        s["recall_by_snr"] = recall_by_snr(rep, built)
        at = score_files(rep.files, rep.classes, thresholds=THRESHOLD)
        s[f"at_{THRESHOLD:g}"] = {"overall": at["overall"], "empty_flagged": at["empty_flagged"]}
        s["calibrated"] = bool(options.calibrated)
        if options.calibrated:
            from animalsnd.calibration import load_calibration

            cal = load_calibration(model, rep.classes)
            s["calibration"] = None if cal is None else {
                "temperature": cal.temperature, "thresholds": cal.thresholds,
                "target_precision": cal.target_precision, "source": cal.source}
        s["esc_noise_clips"] = flagged_share(model, esc, options)
        s["held_out_background_clips"] = flagged_share(model, [Path(p) for p in held_bg], options)
        results[name] = s
        o = s["overall"]
        print(f"{name}: window mAP {s['map'] or 0:.3f}; default output P {o['precision']:.3f} R {o['recall']:.3f} "
              f"F1 {o['f1']:.3f}; call-free soundscapes flagged {pct(s['empty_flagged'])}; ESC wind/rain clips "
              f"flagged {s['esc_noise_clips']['share']:.0%}; held-out background clips flagged "
              f"{s['held_out_background_clips']['share']:.0%}")
        o = s[f"at_{THRESHOLD:g}"]["overall"]
        print(f"  at confidence >= {THRESHOLD:g}: P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f}; call-free "
              f"flagged {pct(s[f'at_{THRESHOLD:g}']['empty_flagged'])}; ESC clips flagged "
              f"{s['esc_noise_clips'][f'share_at_{THRESHOLD:g}']:.0%}")
        print("  recall by SNR: " + ", ".join(f"{k} {v['recall']:.2f}" for k, v in s["recall_by_snr"].items()))
    if a.augmented:
        ensure_augmented(a.cache, a.augmented, a.augment_noise, a.augment_snr, a.augment_per_class)
    aug = f" +{a.augmented}" if a.augmented else ""
    for kind in a.kinds:
        score(kind + aug, ensure_model(a.cache, a.models, kind, tuned=a.tuned, augmented=a.augmented))
    for variant in a.windows:
        from animalsnd.predict import PredictOptions

        kind, w, h = variant.split(":")
        score(f"{kind}{aug} (window {w} s, hop {h} s)",
              ensure_model(a.cache, a.models, kind, tuned=a.tuned, augmented=a.augmented),
              PredictOptions(window_s=float(w), hop_s=float(h), calibrated=False))
    if a.baseline:
        nobg = without_background(a.cache)
        for kind in a.baseline:
            score(f"{kind} (no background class)", ensure_model(nobg, a.models.with_name(a.models.name + "-nobg"), kind))
    save()


if __name__ == "__main__":
    main()
