"""Detection on field-like soundscapes built from a fold that no model trained or calibrated on.

    nice -n 15 python benchmarks/soundscape_bench.py [--cache DIR] [--models DIR] [--scapes DIR]
        [--minutes 30] [--kinds birdnet-head stats-mlp] [--augmented NAME [--augment-synthetic N]]
        [--settings KIND:WINDOW:HOP:SHIFT:POOL ...] [--proxy] [--calibration on|off|both]
        [--protocol unseen|test-fold] [--tuned] [--baseline KIND ...] [--model-option KIND:KEY=VALUE ...]
        [--out soundscape_bench.json]

1. A cache of animal-sounds-10 prepared with ``--background ../shared/data/background``
   (made when missing; 5 folds, seed 0; prepare's defaults; other prepare options through
   ``SOUNDSCAPE_PREPARE``). Cache, models and soundscapes go under benchmarks/out/soundscape/
   unless ``--cache``/``--models``/``--scapes`` say otherwise.
2. ``--protocol unseen`` (default): fold 0 is taken out of the cache (``<cache>-no0``, the other
   folds renumbered 0-3) and every kind is trained there with ``train --cv``: four fold models
   (their mean is the model scored) and a calibration fitted on their out-of-fold predictions.
   No clip of fold 0 is in any training set or in the calibration.
   ``--protocol test-fold``: the earlier set-up, one model trained with ``--test-fold 0`` and
   calibrated on the fold-0 clips the soundscapes reuse (optimistic).
   ``--augmented NAME``: the kinds are trained with ``train --augmented NAME``; a missing set is
   made with ``animalsnd augment CACHE --noise DIR --snr 0:20 --per-class 100 --name NAME``
   (``--augment-noise``, default the background folder; ``--augment-snr``,
   ``--augment-per-class``; ``--augment-synthetic N`` adds N generated noises,
   ``animalsnd.soundscape.synthetic_noise``, to that noise folder).
3. The test: 60-s soundscapes (``--minutes`` of them) from **fold-0 clips only**, over a bed of
   the ESC-50 rain clips (a noise no model trained on), with non-animal distractors: the fold-0
   clips of the background class and the ESC-50 wind clips. Calls at 0-20 dB above the bed;
   20 % of the soundscapes hold no call.
4. ``--proxy`` (unseen protocol): the same number of soundscapes from the clips of the first
   remaining fold (fold 1 of the cache), over the ESC-50 **wind** clips, with that fold's
   background clips as distractors (no rain anywhere), scored with the fold model that did not
   train on that fold, calibrated on the out-of-fold predictions of the other three folds
   (``calibration.fit_out_of_fold``). Settings are chosen on the proxy, reported on the test.
5. ``--settings KIND:WINDOW:HOP:SHIFT:POOL``: window and hop of predict (``-``: the model's),
   a second grid of windows SHIFT seconds later (0: none) and pooling (none, max, mean, or ``-``:
   the model's own, as predict; ``animalsnd.detection.WindowScores``). Without it, each kind with its defaults, and
   ``--windows KIND:WINDOW:HOP`` beside them.
   Every setting is scored: window mAP, precision/recall/F1 of the default output rows, and the
   share of non-animal recordings given an animal label: the call-free soundscapes, the ESC-50
   wind and rain clips (test only) and the held-out background clips, clip by clip.
   ``--calibration``: ``on`` (default) the calibrated output, ``off`` predict --no-calibration.
6. ``--baseline KIND...`` (test-fold protocol): the same kinds trained without the background class.

Writes benchmarks/out/soundscape_bench.json (``--out``), again after every setting scored.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import NOISE_DIR, OUT, REAL_DATA, SHARED, derived_cache, require, write_json

BACKGROUND = Path(os.environ.get("ANIMALSND_BACKGROUND_DIR", SHARED / "background"))
RUNS = OUT / "soundscape"
PREPARE = os.environ.get("SOUNDSCAPE_PREPARE", "").split()  # prepare's defaults (--cutoff auto)
THRESHOLD = 0.5  # one uncalibrated confidence threshold, for comparison with the default output


def _options(calibrated: bool):
    from animalsnd.predict import PredictOptions

    return PredictOptions(calibrated=calibrated)


UNCALIBRATED = _options(False)


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


def ensure_cv_model(cache: Path, models: Path, kind: str, *, tuned: bool = False,
                    augmented: str | None = None, options: tuple[str, ...] = ()) -> Path:
    """``train --cv`` on ``cache`` (every fold held out in turn, calibrated out of fold);
    ``options``: ``KEY=VALUE`` model options (``--model-option``), named in the folder."""
    name = (f"{kind}+{augmented}" if augmented else kind) + "".join(f"+{o}" for o in options) + "-cv"
    out = models / name
    recipe = ["--recipe", "tuned"] if tuned and kind == "cnn1d-enhanced" else []
    extra = (["--augmented", augmented] if augmented else []) + [a for o in options for a in ("--model-option", o)]
    if not (out / "fold-0" / "bundle.json").exists():
        subprocess.run([sys.executable, "-m", "animalsnd", "train", str(cache), "--model", kind, "--out", str(out),
                        "--cv", "--json", str(models / f"{name}.json"), *recipe, *extra], check=True)
    return out


def ensure_augmented(cache: Path, name: str, noise: Path, snr: str, per_class: int, synthetic: int = 0,
                     background_snr: str | None = None, gusts: float = 0.0) -> None:
    """The augmented set ``name`` of ``cache``; with ``synthetic`` > 0 its noise folder is ``noise``'s
    files (linked) plus that many generated noises (:func:`animalsnd.soundscape.write_synthetic_noise`)."""
    if (cache / "augment" / name / "config.json").exists():
        return
    if synthetic:
        from animalsnd.augment.noisebank import find_noise_files
        from animalsnd.soundscape import write_synthetic_noise

        mix = cache / f"noise-{name}"
        for f in find_noise_files(noise):
            link = mix / "source" / Path(f).relative_to(noise)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(Path(f).resolve())
        write_synthetic_noise(mix / "synthetic", count=synthetic, length_s=6.0, gusts=gusts)
        noise = mix
    subprocess.run([sys.executable, "-m", "animalsnd", "augment", str(cache), "--noise", str(noise), "--snr", snr,
                    "--per-class", str(per_class), "--name", name,
                    *(["--background-snr", background_snr] if background_snr else [])], check=True)


def proxy_calibration(cv_model: Path, fold: int = 0, *, target: float = 0.9):
    """Temperature and thresholds for fold model ``fold`` of a ``--cv`` run, fitted on the
    out-of-fold predictions of the *other* folds only."""
    from animalsnd.calibration import fit_out_of_fold
    from animalsnd.evaluate import evaluate

    rep = evaluate(cv_model, jobs=1, name_clips=False)  # as calibrate(): the window probabilities
    folds = [(r.result.proba, r.result.y_true) for r in rep.runs if r.fold != fold]
    return fit_out_of_fold(folds, list(rep.classes), target=target,
                           source=f"out-of-fold predictions of folds {sorted(r.fold for r in rep.runs if r.fold != fold)}")


def parse_setting(text: str) -> tuple[str, float | None, float | None, float, str | None]:
    """``KIND:WINDOW:HOP:SHIFT:POOL`` (``-`` for the model's own window, hop or pooling)."""
    kind, w, h, shift, pool = (text.split(":") + ["-", "-", "0", "-"])[:5] if ":" in text else (text, "-", "-", "0", "-")
    return (kind, None if w == "-" else float(w), None if h == "-" else float(h), float(shift),
            None if pool == "-" else pool)


def setting_name(kind: str, w, h, shift: float, pool: str | None) -> str:
    extra = [f"window {w:g} s, hop {h:g} s" if w is not None and h is not None else ""]
    extra += [f"shift {shift:g} s" if shift else "", f"pool {pool}" if pool is not None else ""]
    extra = [e for e in extra if e]
    return kind + (f" ({', '.join(extra)})" if extra else "")


def flagged_share(model: Path, files: list[Path], options=None, scores=None) -> dict:
    """Share of these (non-animal) clips given at least one animal label by the output rows under
    ``options`` and ``scores`` (and, for comparison, by the windows whose best animal class reaches
    probability 0.5)."""
    from animalsnd.detection import ScoredFile, WindowScores, scan_windows, threshold_rows

    if not files:
        return {"clips": 0, "flagged": 0, "share": None, "labels": [], f"share_at_{THRESHOLD:g}": None}
    run, got = scan_windows(model, files, options=options or UNCALIBRATED, scores=scores or WindowScores())
    done = [(r, g) for r, g in zip(run.results, got) if g is not None]
    hit = [g for _, g in done if g[2]]
    at = [r for r, (spans, probs, _) in done
          if threshold_rows(ScoredFile(r.path, r.duration_s, spans, probs, [], []), run.classes, THRESHOLD)]
    n = max(1, len(done))
    return {"clips": len(done), "flagged": len(hit), "share": len(hit) / n,
            "labels": sorted({d.label for g in hit for d in g[2]}), f"share_at_{THRESHOLD:g}": len(at) / n}


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
    """``<cache>-nobg``: the same clips and folds minus the background class."""
    return derived_cache(cache, "-nobg", lambda rows: [r for r in rows if r["label"] != "background"])


def without_fold(cache: Path, fold: int) -> Path:
    """``<cache>-no<fold>``: fold ``fold`` left out (fold -1, like an unusable clip), the others
    renumbered 0..n-2, so that ``train --cv`` on it never sees that fold, neither in training nor
    in the out-of-fold predictions its calibration is fitted on."""
    n = int(json.loads((cache / "config.json").read_text())["folds"])

    def renumber(rows):
        for r in rows:
            k = int(r["fold"])
            r["fold"] = str(-1 if k == fold else k - (k > fold) if k >= 0 else k)
        return rows

    return derived_cache(cache, f"-no{fold}", renumber, n_folds=n - 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=RUNS / "field-cache")
    ap.add_argument("--models", type=Path, default=RUNS / "field-models")
    ap.add_argument("--scapes", type=Path, default=RUNS / "field-soundscapes")
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--kinds", nargs="*", default=["birdnet-head", "stats-mlp"])
    ap.add_argument("--settings", nargs="*", default=[], metavar="KIND:WINDOW:HOP:SHIFT:POOL",
                    help="score these settings (replaces --kinds' defaults)")
    ap.add_argument("--protocol", choices=["unseen", "test-fold"], default="unseen")
    ap.add_argument("--windows", nargs="*", default=[], metavar="KIND:WINDOW:HOP",
                    help="also score KIND with predict's --window WINDOW --hop HOP, beside --kinds' defaults")
    ap.add_argument("--proxy", action="store_true", help="also score every setting on the wind proxy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="soundscape_bench.json")
    ap.add_argument("--tuned", action="store_true", help="train cnn1d-enhanced with --recipe tuned")
    ap.add_argument("--baseline", nargs="*", default=[], metavar="KIND",
                    help="test-fold protocol: also train and score these kinds without the background class")
    ap.add_argument("--augmented", default=None, metavar="NAME",
                    help="train the kinds with train --augmented NAME (the set made when missing)")
    ap.add_argument("--augment-noise", type=Path, default=BACKGROUND, help="noise folder of a missing augmented set")
    ap.add_argument("--augment-snr", default="0:20", help="SNR range of a missing augmented set")
    ap.add_argument("--augment-per-class", type=int, default=100, help="copies per class of a missing augmented set")
    ap.add_argument("--augment-synthetic", type=int, default=0, help="generated noises added to a missing set's noise")
    ap.add_argument("--augment-background-snr", default=None,
                    help="SNR range of a missing set's copies of background clips (augment --background-snr)")
    ap.add_argument("--augment-gusts", type=float, default=0.0,
                    help="share of the generated noises that are generated wind gusts (soundscape.synthetic_gusts)")
    ap.add_argument("--model-option", nargs="*", default=[], metavar="KIND:KEY=VALUE",
                    help="train KIND with --model-option KEY=VALUE (unseen protocol; the setting's name says so)")
    ap.add_argument("--calibration", choices=["off", "on", "both"], default="on",
                    help="score the calibrated (default) output, the uncalibrated one, or both")
    ap.add_argument("--min-support", type=int, nargs="*", default=[None], metavar="N",
                    help="score predict --min-support N for each N (default: the model's own)")
    ap.add_argument("--screen", choices=["off", "on", "both"], default="on",
                    help="birdnet-head: with its one-view screen (predict's default), --no-screen, or both")
    a = ap.parse_args()
    require(REAL_DATA)
    require(BACKGROUND)
    rain, wind = require(NOISE_DIR / "rain"), require(NOISE_DIR / "wind")

    from animalsnd.augment.noisebank import find_noise_files
    from animalsnd.detection import WindowScores, evaluate_detection, score_files
    from animalsnd.predict import PredictOptions
    from animalsnd.soundscape import SoundscapeSpec, build, fold_clips

    ensure_cache(a.cache)
    unseen = a.protocol == "unseen"
    train_cache = without_fold(a.cache, 0) if unseen else a.cache
    spec = SoundscapeSpec(fold=0, recordings=a.minutes, length_s=60.0, sr=32000, seed=a.seed)
    t0 = time.perf_counter()
    built = build(a.cache, a.scapes, noise_dir=rain, spec=spec, distractor_dirs=[wind])
    print(f"built {len(built)} test soundscapes in {time.perf_counter() - t0:.0f} s -> {a.scapes}")
    _, held_bg = fold_clips(a.cache, 0)
    esc = find_noise_files(rain) + find_noise_files(wind)
    sets = {"test": {"scapes": a.scapes, "built": built, "clips": {"esc_noise_clips": esc,
                                                                   "held_out_background_clips": held_bg}}}
    if a.proxy and unseen:
        proxy_dir = a.scapes.with_name(a.scapes.name + "-proxy-wind")
        pspec = SoundscapeSpec(fold=0, recordings=a.minutes, length_s=60.0, sr=32000, seed=a.seed + 1)
        pbuilt = build(train_cache, proxy_dir, noise_dir=wind, spec=pspec)
        _, proxy_bg = fold_clips(train_cache, 0)
        sets["proxy"] = {"scapes": proxy_dir, "built": pbuilt, "clips": {"held_out_background_clips": proxy_bg}}
        print(f"built {len(pbuilt)} proxy soundscapes (wind bed, fold 1 of the cache) -> {proxy_dir}")
    results = {}

    def save() -> None:
        write_json(a.out, {
            "cache": str(a.cache), "train_cache": str(train_cache), "models": str(a.models),
            "soundscapes": {k: str(v["scapes"]) for k, v in sets.items()}, "protocol": a.protocol,
            "prepare": PREPARE, "augmented": a.augmented, "calibration": a.calibration,
            "spec": {**spec.__dict__, "noise_bed": str(rain), "distractors": ["fold-0 background clips", str(wind)]},
            "proxy": None if "proxy" not in sets else {"noise_bed": str(wind), "calls": "fold 1 of the cache",
                                                       "distractors": "fold-1 background clips"},
            "calls": {k: sum(len(sc.calls) for sc in v["built"]) for k, v in sets.items()},
            "minutes": a.minutes, "results": results,
        })

    def score_one(which: str, model: Path, options, scores) -> dict:
        t0 = time.perf_counter()
        st = sets[which]
        rep = evaluate_detection(model, st["scapes"], st["scapes"], jobs=1, options=options, scores=scores)
        s = rep.summary()
        s["scan_seconds"] = round(time.perf_counter() - t0, 1)
        s["recall_by_snr"] = recall_by_snr(rep, st["built"])
        at = score_files(rep.files, rep.classes, thresholds=THRESHOLD)
        s[f"at_{THRESHOLD:g}"] = {"overall": at["overall"], "empty_flagged": at["empty_flagged"]}
        for key, clips in st["clips"].items():
            s[key] = flagged_share(model, [Path(c) for c in clips], options, scores)
        flagged = round(s["empty_flagged"] * s["empty_recordings"]) if s["empty_recordings"] else 0
        n = s["empty_recordings"]
        for key in st["clips"]:
            flagged, n = flagged + s[key]["flagged"], n + s[key]["clips"]
        s["non_animal"] = {"recordings": n, "flagged": flagged, "share": flagged / n if n else None}
        o = s["overall"]
        print(f"  {which}: window mAP {s['map'] or 0:.3f}; output P {o['precision']:.3f} R {o['recall']:.3f} "
              f"F1 {o['f1']:.3f}; non-animal recordings labelled {flagged} of {n} ({pct(s['non_animal']['share'])})"
              f"; {s['scan_seconds']:.0f} s")
        return s

    if a.augmented:
        ensure_augmented(train_cache, a.augmented, a.augment_noise, a.augment_snr, a.augment_per_class,
                         a.augment_synthetic, a.augment_background_snr, a.augment_gusts)
    settings = [parse_setting(x) for x in a.settings] or [(k, None, None, 0.0, None) for k in a.kinds]
    settings += [parse_setting(f"{x}:0:-") for x in a.windows]
    aug = f" +{a.augmented}" if a.augmented else ""
    ways = {"off": [False], "on": [True], "both": [False, True]}[a.calibration]
    screen_ways = {"off": [False], "on": [True], "both": [True, False]}[a.screen]
    proxy_cal = {}
    for kind, w, h, shift, pool in settings:
        mopts = tuple(o.split(":", 1)[1] for o in a.model_option if o.split(":", 1)[0] == kind)
        model = (ensure_cv_model(train_cache, a.models, kind, tuned=a.tuned, augmented=a.augmented, options=mopts)
                 if unseen else ensure_model(train_cache, a.models, kind, tuned=a.tuned, augmented=a.augmented))
        scores = WindowScores(shifts_s=(shift,) if shift else (), pooling=pool)
        for calibrated, screen, support in [(c, s, m) for c in ways
                                            for s in (screen_ways if kind == "birdnet-head" else [True])
                                            for m in a.min_support]:
            name = (setting_name(kind + aug + "".join(f" {o}" for o in mopts), w, h, shift, pool)
                    + (" calibrated" if calibrated else "") + ("" if screen else " no-screen")
                    + (f" min-support {support}" if support is not None else ""))
            print(name)
            entry = {"test": score_one("test", model, PredictOptions(window_s=w, hop_s=h, calibrated=calibrated,
                                                                     screen=screen, min_support=support), scores)}
            if "proxy" in sets:
                if calibrated and model not in proxy_cal:
                    proxy_cal[model] = proxy_calibration(model)
                cal = proxy_cal.get(model) if calibrated else None
                opts = PredictOptions(window_s=w, hop_s=h, calibrated=False, screen=screen, min_support=support,
                                      temperature=cal.temperature if cal else 1.0,
                                      thresholds=tuple(sorted(cal.thresholds.items())) if cal else ())
                entry["proxy"] = score_one("proxy", model / "fold-0", opts, scores)
            results[name] = entry
            save()
    if a.baseline and not unseen:
        nobg = without_background(a.cache)
        for kind in a.baseline:
            model = ensure_model(nobg, a.models.with_name(a.models.name + "-nobg"), kind)
            results[f"{kind} (no background class)"] = {"test": score_one("test", model, UNCALIBRATED, WindowScores())}
            save()
    save()


if __name__ == "__main__":
    main()
