"""Time building the calibrated and simple augmented sets, and noisy evaluation features.

Uses a prepared cache of ../shared/data/animal-sounds-10 (prepared here if
needed; resumable) and the wind recordings of ../shared/data/noise. Skips
when they are absent. Writes benchmarks/out/augment_bench.json.

    python benchmarks/augment_bench.py [--jobs -1] [--noise DIR] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"
OUT = HERE / "out"


def _timed(func, *args, **kwargs):
    t0 = time.perf_counter()
    res = func(*args, **kwargs)
    return res, round(time.perf_counter() - t0, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED / "animal-sounds-10")
    ap.add_argument("--noise", type=Path, default=SHARED / "noise" / "wind")
    ap.add_argument("--cache", type=Path, default=OUT / "cache-animal-sounds-10")
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--eval-snr", type=float, default=10.0)
    args = ap.parse_args()
    for p in (args.data, args.noise):
        if not p.is_dir():
            print(f"skipped: {p} not present")
            return 0

    from animalsnd.augment.store import build_augmented, load_augmented
    from animalsnd.cache import load_features, prepare
    from animalsnd.robustness import noisy_features

    OUT.mkdir(parents=True, exist_ok=True)
    _, t_prepare = _timed(prepare, args.data, args.cache, jobs=args.jobs)
    report: dict = {
        "data": str(args.data),
        "noise": str(args.noise),
        "jobs": args.jobs,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "prepare_s": t_prepare,
        "sets": {},
    }
    for mode in ("calibrated", "simple"):
        name = f"bench-{mode}"
        shutil.rmtree(args.cache / "augment" / name, ignore_errors=True)
        cold, t_cold = _timed(build_augmented, args.cache, args.noise, mode=mode, name=name, jobs=args.jobs)
        warm, t_warm = _timed(build_augmented, args.cache, args.noise, mode=mode, name=name, jobs=args.jobs)
        aug, t_load = _timed(load_augmented, args.cache, name)
        err = [abs(float(r["realised_snr_db"]) - float(r["target_snr_db"])) for r in cold.rows]
        report["sets"][name] = {
            "mode": mode,
            "snr_db": list(cold.snr_db),
            "copies": len(cold.rows),
            "build_s": t_cold,
            "copies_per_s": round(len(cold.rows) / t_cold, 1) if t_cold else None,
            "rerun_s": t_warm,
            "rerun_computed": warm.computed,
            "load_s": t_load,
            "X_shape": list(aug.X.shape),
            "max_abs_snr_error_db": round(max(err), 6) if err else None,
            # the SNR against the call itself (equals the target for calibrated)
            "mean_active_snr_db": round(float(np.mean([float(r["active_snr_db"]) for r in cold.rows])), 2)
            if cold.rows else None,
            "mean_target_snr_db": round(float(np.mean([float(r["target_snr_db"]) for r in cold.rows])), 2)
            if cold.rows else None,
            "per_class": cold.per_class(),
            "warnings": cold.warnings,
        }
        print(f"{name}: {len(cold.rows)} copies in {t_cold:.1f} s (re-run {t_warm:.1f} s, load {t_load:.1f} s)")

    fs = load_features(args.cache)
    (X, snr), t_eval = _timed(noisy_features, fs.paths, fs.cfg, args.noise, snr_db=args.eval_snr,
                              jobs=args.jobs, return_snr=True)
    report["noisy_features"] = {
        "clips": len(fs.paths),
        "snr_db": args.eval_snr,
        "seconds": t_eval,
        "clips_per_s": round(len(fs.paths) / t_eval, 1) if t_eval else None,
        "max_abs_snr_error_db": round(float(np.max(np.abs(snr - args.eval_snr))), 6),
    }
    print(f"noisy_features: {len(fs.paths)} clips at {args.eval_snr:g} dB in {t_eval:.1f} s")
    out = OUT / "augment_bench.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
