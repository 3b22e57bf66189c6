"""Does a birdnet-head trained on single 3-s segments as well as whole clips score single segments better?

    python benchmarks/birdnet_segments_probe.py CACHE [--folds 5] [--c 0.1]

``predict`` scores a long recording one 3-s BirdNET segment at a time, but the
head is trained on each clip's segments pooled (``meanmax``: the mean and the
maximum over every segment of the clip). For a one-segment clip the two
agree; for a longer clip the training vector is not what a window of a field
recording looks like. This probe trains a logistic regression (C = 0.1 on
standardised inputs, like the head) per fold on the cache's stored window
embeddings:

- ``clips``: every training clip pooled whole (today's head);
- ``clips+segments``: the same plus every segment of every multi-segment training clip
  pooled alone, labelled with its clip's label;

and scores both on the held-out fold: whole clips (clip accuracy, macro F1),
and every held-out segment alone (segment accuracy against its clip's label,
segment macro F1). The background class, when the cache has one, is a class
like the others. Writes benchmarks/out/birdnet_segments_probe.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import require, write_json


def _fit_score(Xtr, ytr, tests, c: float, n_classes: int) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(Xtr)
    clf = LogisticRegression(C=c, max_iter=2000).fit(sc.transform(Xtr), ytr)
    out = []
    for X, y in tests:
        p = clf.predict(sc.transform(X))
        out.append({"accuracy": float(accuracy_score(y, p)),
                    "macro_f1": float(f1_score(y, p, average="macro", labels=range(n_classes), zero_division=0)),
                    "n": int(len(y))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cache", type=Path)
    ap.add_argument("--folds", type=int, default=None, help="Folds to hold out (default: all).")
    ap.add_argument("--c", type=float, default=0.1)
    ap.add_argument("--pool", default="meanmax")
    ap.add_argument("--out", default="birdnet_segments_probe.json")
    args = ap.parse_args()
    require(args.cache / "config.json")
    from animalsnd.backbones.birdnet import pool
    from animalsnd.embeddings import load_embedding_set
    from animalsnd.families.birdnet_head import segment_rows

    es = load_embedding_set(args.cache, pool=args.pool)
    n_classes = len(es.classes)
    seg_X = [np.stack([pool(w[i:i + 1], method=args.pool) for i in range(len(w))]) for w in es.windows]
    folds = sorted(set(int(f) for f in es.folds if f >= 0))[: args.folds]
    rows = {"clips": [], "clips+segments": []}
    for k in folds:
        tr = np.flatnonzero(es.folds != k)
        te = np.flatnonzero(es.folds == k)
        te_seg_X = np.concatenate([seg_X[i] for i in te])
        te_seg_y = np.concatenate([np.full(len(seg_X[i]), es.y[i]) for i in te])
        tests = [(es.X[te], es.y[te]), (te_seg_X, te_seg_y)]
        X_seg, y_seg = segment_rows(es, tr, 1)  # what --model-option segments=1 adds
        for name, (Xtr, ytr) in {"clips": (es.X[tr], es.y[tr]),
                                 "clips+segments": (np.concatenate([es.X[tr], X_seg]),
                                                    np.concatenate([es.y[tr], y_seg]))}.items():
            clip_s, seg_s = _fit_score(Xtr, ytr, tests, args.c, n_classes)
            rows[name].append({"fold": k, "n_train": int(len(ytr)), "clip": clip_s, "segment": seg_s})
            print(f"fold {k} {name:15s} clip acc {clip_s['accuracy']:.3f} F1 {clip_s['macro_f1']:.3f} | "
                  f"segment acc {seg_s['accuracy']:.3f} F1 {seg_s['macro_f1']:.3f} ({seg_s['n']} segments)",
                  flush=True)
    summary = {}
    for name, rs in rows.items():
        summary[name] = {f"{part}_{m}": [float(np.mean([r[part][m] for r in rs])), float(np.std([r[part][m] for r in rs]))]
                         for part in ("clip", "segment") for m in ("accuracy", "macro_f1")}
        print(name, {k: f"{v[0]:.3f} ± {v[1]:.3f}" for k, v in summary[name].items()})
    write_json(args.out, {"cache": str(args.cache), "classes": list(es.classes), "c": args.c, "pool": args.pool,
                          "summary": summary, "folds": rows})


if __name__ == "__main__":
    main()
