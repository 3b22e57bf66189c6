"""The data audit of animal-sounds-10: shortcut scores, per-class chains, cold and warm timings.

    python benchmarks/audit_bench.py [--cache DIR] [--jobs -1]

``--cache`` is a prepared cache of animal-sounds-10 (default: one is prepared
into benchmarks/out/cache-as10 with tiny features; the audit reads only its
manifest and folds, which do not depend on the features). Besides the audit's
own score (all properties), it scores the sample rate and bandwidth alone,
everything but them, and what the audio itself still shows once band-limited
to ``prepare``'s automatic cut-off (the header's sample rate, channels,
encoding and bit depth dropped; bandwidth capped at the cut-off; duration at
the 16 s feature window).

Writes benchmarks/out/audit_as10.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import OUT, REAL_DATA, require, write_json

WINDOW_S = 500 * 512 / 16000  # the default feature window (frames x hop / sr)


def _score(s) -> dict:
    return {"accuracy": round(s.accuracy, 4), "balanced_accuracy": round(s.balanced_accuracy, 4),
            "flagged": s.flagged, "properties": s.properties,
            "per_class_recall": {c: round(r, 3) for c, r in s.per_class_recall.items()},
            "per_property": {p: {k: None if v is None else round(v, 4) for k, v in d.items()}
                             for p, d in s.per_property.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=-1)
    args = ap.parse_args()

    from animalsnd.audit import recommend_cutoff
    from animalsnd.audit_report import audit_cache, shortcut_score

    cache = args.cache
    if cache is None:
        from animalsnd.cache import prepare
        from animalsnd.config import FeatureConfig

        cache = OUT / "cache-as10"
        if not (cache / "manifest.csv").exists():
            prepare(require(REAL_DATA), cache, jobs=args.jobs,
                    cfg=FeatureConfig(n_mels=16, n_fft=256, hop_length=128, frames=32))
    store = Path(tempfile.mkdtemp(prefix="animalsnd-audit-"))
    try:
        t0 = time.perf_counter()
        audit_cache(cache, store=store, jobs=args.jobs)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = audit_cache(cache, store=store, jobs=args.jobs)
        warm = time.perf_counter() - t0
    finally:
        shutil.rmtree(store, ignore_errors=True)

    s = res.shortcut
    cutoff = recommend_cutoff([c["bandwidth_hz"] for c in res.clips], sr=16000)
    heard = [{**c, "bandwidth_hz": min(c["bandwidth_hz"], cutoff or 8000.0),
              "duration_s": min(c["duration_s"], WINDOW_S)} for c in res.clips]
    audio_props = ("bandwidth_hz", "duration_s", "rms_dbfs", "peak_dbfs", "lead_silence_s", "trail_silence_s")
    views = {
        "all properties": s,
        "sample rate and bandwidth": shortcut_score(res.clips, ("sample_rate", "bandwidth_hz")),
        "all but sample rate and bandwidth": shortcut_score(
            res.clips, tuple(p for p in s.per_property if p not in ("sample_rate", "bandwidth_hz"))),
        f"audio after the cut-off ({cutoff:.0f} Hz)": shortcut_score(heard, audio_props),
    }
    per_class = {label: {"n": d["n"], "sample_rate": d["sample_rate"]["most_common"],
                         "bandwidth_hz": {k: round(d["bandwidth_hz"][k]) for k in ("median", "p10", "p90")},
                         "duration_s_median": round(d["duration_s"]["median"], 2),
                         "peak_dbfs_median": round(d["peak_dbfs"]["median"], 1),
                         "shortcut_recall": round(s.per_class_recall[label], 3)}
                 for label, d in res.per_class.items()}
    payload = {
        "cache": str(cache), "n_clips": res.n_clips, "classes": res.classes, "failed": len(res.failed),
        "sample_rates": res.sample_rates, "seconds_cold": round(cold, 1), "seconds_warm": round(warm, 2),
        "jobs": args.jobs, "chance": s.chance, "majority_rate": round(s.majority_rate, 4),
        "threshold": round(s.threshold, 4), "cutoff_hz": cutoff,
        "views": {name: _score(v) for name, v in views.items()},
        "named_classes": s.classes, "per_class": per_class, "warning": res.warning,
    }
    write_json("audit_as10.json", payload)
    print(f"cold {cold:.1f} s, warm {warm:.2f} s; chance {s.chance:.2f}, majority {s.majority_rate:.3f}")
    for name, v in views.items():
        print(f"  {name:45s} balanced acc {v.balanced_accuracy:.3f}  acc {v.accuracy:.3f}"
              f"  {'FLAGGED' if v.flagged else ''}")


if __name__ == "__main__":
    main()
