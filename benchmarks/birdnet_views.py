"""Does the double-speed BirdNET view pay? 5-fold logistic regression on a cache's stored features.

    python benchmarks/birdnet_views.py CACHE [CACHE ...]

For each cache (its BirdNET features must be in the embedding store: train a
birdnet-head model on it once), pools every clip's windows by mean and max
(meanmax) from the view as recorded only, the double-speed view only and both
(the default model input), and scores a standardised logistic regression
(C = 0.1) on the cache's own folds. Nothing is written to the cache.

Writes benchmarks/out/birdnet_views.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from _common import write_json

VIEWS = {"1x+2x": slice(0, 2048), "1x": slice(0, 1024), "2x": slice(1024, 2048)}


def score(cache: str) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from animalsnd.backbones import birdnet
    from animalsnd.cache import usable_rows
    from animalsnd.embeddings import read_windows, store_dir

    rows = usable_rows(cache)
    store = store_dir(cache)
    windows = [read_windows(store, r["sha256"]) for r in rows]
    y = np.array([r["label"] for r in rows])
    folds = np.array([int(r["fold"]) for r in rows])
    out = {}
    for name, cols in VIEWS.items():
        X = np.stack([birdnet.pool(w[:, cols], method="meanmax") for w in windows])
        accs = []
        for k in sorted(set(folds)):
            m = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
            m.fit(X[folds != k], y[folds != k])
            accs.append(float((m.predict(X[folds == k]) == y[folds == k]).mean()))
        out[name] = {"mean": round(float(np.mean(accs)), 4), "std": round(float(np.std(accs)), 4), "folds": accs}
        print(f"{Path(cache).name}: {name:6s} {np.mean(accs):.3f} ± {np.std(accs):.3f}", flush=True)
    return out


def main() -> None:
    caches = sys.argv[1:]
    if not caches:
        raise SystemExit(__doc__)
    write_json("birdnet_views.json", {"classifier": "LogisticRegression(C=0.1), standardised, meanmax",
                                      "caches": {c: score(c) for c in caches}})


if __name__ == "__main__":
    main()
