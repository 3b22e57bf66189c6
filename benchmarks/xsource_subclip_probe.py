"""Across sources: does the head learn a clip's length? Training copies cut to fewer windows.

    python benchmarks/xsource_subclip_probe.py --cache runs/cache

The head reads a clip as the mean and the maximum of its 3-s windows' embeddings. A clip of
one window has its maximum equal to its mean; a long one does not. Where a class's training
clips are long and other recorders' clips of it short, that difference can name a class
by the clip's length. The probe adds training copies of every training clip of two windows
or more, cut to a random run of its windows (``runs``: 1 to n - 1 windows, ``k`` copies per
clip), or one copy per window (``windows``: each window alone, up to ``--max-windows`` per
clip), and scores the stand-in head of ``xsource_embedding_probe.py`` (a standardised,
class-balanced logistic regression, C = 0.01) on the same splits; ``window head`` trains on
single windows only and averages a clip's windows' log-probabilities at test time.
Also: accuracy by the test clip's number of windows (1 or more), so the length effect shows.

Needs what ``xsource_embedding_probe.py`` needs (the derived caches and the stored features).
Writes benchmarks/out/xsource_subclip_probe.json.
"""

from __future__ import annotations

import warnings

import numpy as np
from _common import require, write_json
from xsource_embedding_probe import head, meanmax, probe_parser, rate, scored_splits, stored_clips, xsource_splits


def run_copies(windows: list[np.ndarray], y: np.ndarray, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``k`` copies of every clip of two windows or more, each a random run of 1 to n - 1 windows."""
    X, Y = [], []
    for w, c in zip(windows, y):
        n = len(w)
        for _ in range(k if n > 1 else 0):
            length = int(rng.integers(1, n))
            start = int(rng.integers(0, n - length + 1))
            X.append(meanmax(w[start:start + length]))
            Y.append(c)
    return np.array(X), np.array(Y)


def window_copies(windows: list[np.ndarray], y: np.ndarray, cap: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Each window of a clip of two windows or more as its own copy (up to ``cap`` per clip)."""
    X, Y = [], []
    for w, c in zip(windows, y):
        if len(w) < 2:
            continue
        pick = rng.permutation(len(w))[:cap]
        X += [meanmax(w[i:i + 1]) for i in pick]
        Y += [c] * len(pick)
    return np.array(X), np.array(Y)


def window_head_predict(tr_windows, ytr, te_windows) -> np.ndarray:
    Xw = np.vstack([np.hstack([w, w]) for w in tr_windows])
    yw = np.concatenate([[c] * len(w) for w, c in zip(tr_windows, ytr)])
    m = head(Xw, yw)
    out = []
    for w in te_windows:
        lp = np.log(np.clip(m.predict_proba(np.hstack([w, w])), 1e-9, None)).mean(0)
        out.append(m.classes_[int(np.argmax(lp))])
    return np.array(out)


def main() -> None:
    ap = probe_parser(__doc__)
    ap.add_argument("--max-windows", type=int, default=5)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    cache = require(args.cache)
    splits = xsource_splits(cache)
    _, _, base = stored_clips(cache)
    results: dict[str, dict] = {}
    for name, es, y, tr, te in scored_splits(splits):
        wins = [base[p] for p in es.paths]
        X0 = np.stack([meanmax(w) for w in wins])
        n_win = np.array([len(w) for w in wins])
        tr_w = [w for w, t in zip(wins, tr) if t]
        te_w = [w for w, t in zip(wins, te) if t]
        r: dict[str, object] = {}
        pred0 = head(X0[tr], y[tr]).predict(X0[te])
        r["default"] = rate(pred0, y[te])
        one = n_win[te] == 1
        r["test clips of one window / more"] = [int(one.sum()), int((~one).sum())]
        r["default: one window / more"] = [rate(pred0[one], y[te][one]), rate(pred0[~one], y[te][~one])]
        r["training clips of one window, share"] = round(float(np.mean(n_win[tr] == 1)), 3)
        for k in (1, 3):
            Xc, yc = run_copies(tr_w, y[tr], k, np.random.default_rng(0))
            pred = head(np.vstack([X0[tr], Xc]), np.concatenate([y[tr], yc])).predict(X0[te])
            r[f"runs x{k}"] = rate(pred, y[te])
            r[f"runs x{k}: one window / more"] = [rate(pred[one], y[te][one]), rate(pred[~one], y[te][~one])]
        Xc, yc = window_copies(tr_w, y[tr], args.max_windows, np.random.default_rng(0))
        pred = head(np.vstack([X0[tr], Xc]), np.concatenate([y[tr], yc])).predict(X0[te])
        r["windows"] = rate(pred, y[te])
        r["windows: one window / more"] = [rate(pred[one], y[te][one]), rate(pred[~one], y[te][~one])]
        pred = window_head_predict(tr_w, y[tr], te_w)
        r["window head"] = rate(pred, y[te])
        r["window head: one window / more"] = [rate(pred[one], y[te][one]), rate(pred[~one], y[te][~one])]
        results[name] = r
        print(name, r, flush=True)
    write_json("xsource_subclip_probe.json", {"cache": str(cache), "results": results})


if __name__ == "__main__":
    main()
