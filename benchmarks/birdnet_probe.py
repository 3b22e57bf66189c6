"""Probe BirdNET feature variants with a logistic regression, 5-fold.

The frozen BirdNET features set the ceiling of ``birdnet-head``; this probe
asks whether other readings of the same backbone move it. For every usable
clip of a prepared cache it takes:

* the default features (windows every 3 s, as recorded and at double speed),
  from the cache's embedding store (computed there when missing),
* the same features from windows every 1 s (overlapping),
* BirdNET's 6,522 species scores for each 3-s window and speed,

pools each over the clip's windows (mean and max, ``birdnet.pool``) and scores
a standardised, class-balanced logistic regression on the cache's own folds::

    nice -n 5 python benchmarks/birdnet_probe.py        # writes benchmarks/out/birdnet_probe.json

Needs the ``birdnet`` extra. The logistic regression is deterministic, so one
run per variant is enough.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _common import OUT, REAL_DATA, write_json

_CLS = None  # BirdNET's classifier (species scores), one per worker process


def _classifier():
    global _CLS
    from animalsnd.backbones import birdnet

    if _CLS is None:
        cls, _ = birdnet._interpreter_class()
        _CLS = cls(model_path=str(birdnet.model_path()), num_threads=1)
        _CLS.allocate_tensors()
    return _CLS


def _scores(windows: np.ndarray) -> np.ndarray:
    interp = _classifier()
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    rows = []
    for i in range(len(windows)):
        interp.set_tensor(inp, np.ascontiguousarray(windows[i : i + 1], dtype=np.float32))
        interp.invoke()
        rows.append(np.array(interp.get_tensor(out), dtype=np.float32)[0])
    return np.stack(rows)


def extra_features(path: str) -> dict[str, np.ndarray]:
    """Pooled features of one clip that the embedding store does not hold."""
    from animalsnd.audio import load
    from animalsnd.backbones import birdnet
    from animalsnd.embeddings import _embedder

    y, _ = load(path, sr=birdnet.BIRDNET_SR)
    w3 = birdnet.frame_windows(y, hop_s=3.0)
    w1 = birdnet.frame_windows(y, hop_s=1.0)
    return {
        "hop1": birdnet.pool(_embedder().features(w1), method="meanmax"),
        "scores": np.concatenate([birdnet.pool(_scores(birdnet.speed_up(w3, s)), method="meanmax")
                                  for s in birdnet.SPEEDS]),
    }


def cv_accuracy(X: np.ndarray, y: np.ndarray, folds: np.ndarray, *, C: float = 1.0,
                balanced: bool = True) -> list[float]:
    """Per-fold accuracy of a standardised logistic regression on the cache's folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    accs = []
    for f in sorted(set(folds.tolist())):
        tr, te = folds != f, folds == f
        m = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=3000, C=C,
                                             class_weight="balanced" if balanced else None))
        m.fit(X[tr], y[tr])
        accs.append(float((m.predict(X[te]) == y[te]).mean()))
    return accs


def main(argv: list[str] | None = None) -> int:
    from joblib import Parallel, delayed

    from animalsnd.cache import prepare
    from animalsnd.config import FeatureConfig
    from animalsnd.embeddings import load_embedding_set

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REAL_DATA)
    p.add_argument("--cache", type=Path, default=OUT / "cache-animal-sounds-10")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="birdnet_probe.json")
    args = p.parse_args(argv)
    if not args.cache.exists():
        if not args.data.exists():
            print(f"skipped: {args.data} not present")
            return 0
        prepare(args.data, args.cache, cfg=FeatureConfig(), folds=5, seed=0, jobs=args.jobs)

    es = load_embedding_set(args.cache, pool="meanmax", jobs=args.jobs)
    t0 = time.perf_counter()
    extra = Parallel(n_jobs=args.jobs)(delayed(extra_features)(path) for path in es.paths)
    seconds = time.perf_counter() - t0
    hop1 = np.stack([e["hop1"] for e in extra])
    scores = np.stack([e["scores"] for e in extra])
    variants = {
        "windows every 3 s (default)": es.X,
        "windows every 1 s": hop1,
        "3 s + species scores": np.hstack([es.X, scores]),
        "1 s + species scores": np.hstack([hop1, scores]),
        "species scores alone": scores,
    }
    results = {}
    for name, X in variants.items():
        accs = cv_accuracy(X, es.y, es.folds)
        results[name] = {"dim": int(X.shape[1]), "folds": accs,
                         "mean": float(np.mean(accs)), "std": float(np.std(accs))}
        print(f"| {name} | {X.shape[1]} | {np.mean(accs):.3f} ± {np.std(accs):.3f} |", flush=True)
    write_json(args.out, {"cache": str(args.cache), "clips": len(es.y),
                          "extra_feature_seconds": round(seconds, 1), "variants": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
