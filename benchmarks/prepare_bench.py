"""Cold and warm `prepare` against a plain sequential librosa loop.

    python benchmarks/prepare_bench.py [--jobs -1] [--repeats 1]

Writes benchmarks/out/prepare_bench.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import REAL_DATA, require, write_json


def sequential(paths: list[Path]) -> float:
    import librosa

    t0 = time.perf_counter()
    for p in paths:
        y, _ = librosa.load(p, sr=16000)
        librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=512, n_mels=128)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    data = require(REAL_DATA)

    from animalsnd.cache import prepare
    from animalsnd.dataset import discover

    paths = [r.path for r in discover(data)]
    import librosa  # noqa: F401  (import cost outside the timings)

    seq, cold, warm = [], [], []
    for _ in range(args.repeats):
        seq.append(sequential(paths))
        tmp = Path(tempfile.mkdtemp(prefix="animalsnd-bench-"))
        try:
            t0 = time.perf_counter()
            prepare(data, tmp, jobs=args.jobs)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res = prepare(data, tmp, jobs=args.jobs)
            warm.append(time.perf_counter() - t0)
            assert res.computed == 0
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    best = {"sequential_s": min(seq), "cold_s": min(cold), "warm_s": min(warm)}
    result = {
        "files": len(paths),
        "jobs": args.jobs,
        "repeats": args.repeats,
        "runs": {"sequential_s": seq, "cold_s": cold, "warm_s": warm},
        "best": best,
        "cold_speedup_vs_sequential": best["sequential_s"] / best["cold_s"],
        "warm_speedup_vs_cold": best["cold_s"] / best["warm_s"],
    }
    write_json("prepare_bench.json", result)
    print(f"sequential loop {best['sequential_s']:.2f} s | cold prepare {best['cold_s']:.2f} s "
          f"({result['cold_speedup_vs_sequential']:.2f}x) | warm {best['warm_s']:.3f} s "
          f"({result['warm_speedup_vs_cold']:.0f}x faster than cold)")


if __name__ == "__main__":
    main()
