"""`compare` on a real cache: one run after another vs `--jobs N` vs a 2-worker Dask LocalCluster.

    nice -n 5 python benchmarks/train_scaling_bench.py --cache runs/scale-cache \\
        --variants baseline,enhanced-no-noise --folds 5 --seeds 1 --epochs 4 --jobs 2
    # the default table (8 variants, two of them with wind copies, built before timing)
    python benchmarks/train_scaling_bench.py --cache runs/scale-cache --noise ../shared/data/noise/wind \\
        --folds 5 --seeds 1 --epochs 3 --jobs 2 --out train_scaling_bench_default.json
    # a mode timed before (its kept store CACHE/compare-LABEL is compared, its time as given)
    python benchmarks/train_scaling_bench.py ... --earlier sequential=1023.1 jobs-2=669.1

The cache must be writable (each mode gets a fresh run store; the stores are
kept as CACHE/compare-<mode>). Every mode must give the same table: the
scores of every run are compared. Records the 1-minute load average before
and after each mode (the machine may be shared). Writes
benchmarks/out/train_scaling_bench.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from _common import require, write_json

SCORES = ("accuracy", "macro_f1", "weighted_f1", "confusion", "per_class_f1", "epochs_run", "best_epoch")


def timed(cache: Path, label: str, args, **kw) -> dict:
    from animalsnd.compare import compare

    shutil.rmtree(cache / "compare", ignore_errors=True)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = compare(cache, variants=args.variants, folds=args.folds, seeds=args.seeds, epochs=args.epochs,
                  noise_dir=args.noise, **kw)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    runs = {f"{v} fold {r['fold']} seed {r['seed']}": {k: r.get(k) for k in SCORES}
            for v, rs in res.runs.items() for r in rs}
    train_s = [r["train_seconds"] for rs in res.runs.values() for r in rs]
    kept = cache / f"compare-{label}"
    shutil.rmtree(kept, ignore_errors=True)
    (cache / "compare").rename(kept)
    print(f"{label}: {wall:.1f} s for {res.trained} runs (load {load0:.1f} -> {load1:.1f})", flush=True)
    return {"label": label, "wall_s": round(wall, 2), "runs": res.trained, "load_avg_1m_before": load0,
            "load_avg_1m_after": load1, "mean_train_s_per_run": round(sum(train_s) / len(train_s), 2),
            "scores": runs}


def kept(cache: Path, label: str, wall: float) -> dict:
    """A mode timed by an earlier invocation: its wall time as given, its scores from its kept store."""
    import json

    runs = {}
    for f in sorted((cache / f"compare-{label}" / "runs").glob("*.json")):
        r = json.loads(f.read_text())
        runs[f"{r['variant']} fold {r['fold']} seed {r['seed']}"] = {k: r.get(k) for k in SCORES}
    if not runs:
        raise SystemExit(f"--earlier {label}: no kept run store {cache / f'compare-{label}'}")
    return {"label": label, "wall_s": wall, "runs": len(runs), "earlier_invocation": True, "scores": runs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True, help="A writable prepared cache (a copy of the real one).")
    ap.add_argument("--variants", default=None, help="Default: compare's default variants (need --noise).")
    ap.add_argument("--folds", default="5")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--noise", type=Path, default=None, help="Noise folder of the noisy variants (compare --noise).")
    ap.add_argument("--jobs", default="2", help="Comma-separated --jobs values to time.")
    ap.add_argument("--out", default="train_scaling_bench.json", help="JSON file name under benchmarks/out/.")
    ap.add_argument("--earlier", nargs="*", default=[], metavar="LABEL=WALL_S",
                    help="Modes timed by an earlier invocation (sequential, jobs-N): not run again; their wall "
                         "time as given, their scores from the kept store CACHE/compare-LABEL.")
    args = ap.parse_args()
    require(args.cache / "config.json")
    from dask.distributed import LocalCluster

    if args.noise is not None:  # the noisy variants' copies are built once, before any mode is timed
        from animalsnd.compare.noise_sets import augmented_set

        for mode in ("calibrated", "simple"):
            augmented_set(args.cache, args.noise, mode, jobs=-1, progress=None)
    earlier = {lab: float(w) for lab, w in (e.split("=") for e in args.earlier)}
    modes = [kept(args.cache, "sequential", earlier["sequential"]) if "sequential" in earlier
             else timed(args.cache, "sequential", args, jobs=1)]
    for j in (int(x) for x in args.jobs.split(",")):
        lab = f"jobs-{j}"
        modes.append(kept(args.cache, lab, earlier[lab]) if lab in earlier else timed(args.cache, lab, args, jobs=j))
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
    try:
        modes.append(timed(args.cache, "dask-localcluster-2w", args, backend="dask",
                           scheduler=cluster.scheduler_address))
    finally:
        cluster.close()
    seq = modes[0]
    best = min(modes[1:-1], key=lambda m: m["wall_s"])
    identical = all(m["scores"] == seq["scores"] for m in modes)
    summary = {
        "variants": args.variants, "noise": str(args.noise) if args.noise else None,
        "folds": args.folds, "seeds": args.seeds, "epochs": args.epochs,
        "identical_table": identical,
        "speedup_best_jobs": round(seq["wall_s"] / best["wall_s"], 3), "best_jobs": best["label"],
        "dask_vs_best_jobs": round(modes[-1]["wall_s"] / best["wall_s"], 3),
        "modes": modes,
    }
    write_json(args.out, summary)
    print(" | ".join(f"{m['label']} {m['wall_s']:.1f} s" for m in modes)
          + f" | speed-up {summary['speedup_best_jobs']:.2f}x ({best['label']}), dask/jobs "
          f"{summary['dask_vs_best_jobs']:.2f} | identical table: {identical}")


if __name__ == "__main__":
    main()
