"""What else the frozen BirdNET embedding offers across sources: more views, offsets, rescaling, shifts.

    python benchmarks/xsource_embedding_probe.py --cache runs/cache

Needs the caches ``xsource_bench.py`` derives from ``--cache`` (``<cache>-xsrc`` and
``<cache>-xsrc-half0/1/2``; run it once with ``--holdout dominant`` and ``--holdout half
--seed 0/1/2``) and the cache's stored BirdNET features (train a ``birdnet-head`` on it once).
Every probe is a standardised, class-balanced logistic regression (C = 0.01, the stand-in
for the default head, which scores the same on these splits) trained on folds 1-4 of each
derived cache and scored on fold 0: the across-sources clips of bird, cat and dog for the
single-recorder proxy, the held-out sources for the three halves, and the cache's own
fold 0 ("within", what cross-validation sees).

- ``views``: the stored views (as recorded + double speed) with a third view at 1.5x, 3x or
  4x speed (or 3x and 4x), pooled by mean and max like the default input.
- ``offsets``: clips shorter than one 3-s window embedded at four more positions in the
  window (left, quarter, three quarters, right; the default centres them) and averaged,
  in training and test alike (``train+test``) or in training only (``train``).
- ``loop``: clips shorter than 0.9 of a window repeated end to end to fill it, at test time
  only (``test``) or in training and test (``train+test``).
- ``weights``: every training clip weighted by 1 / (clips of its class from its recording
  source, the same sample rate, channels and encoding), or its square root, each class's
  total weight unchanged: every recorder of a class counts alike.
- ``level``: every clip's windows peak-normalised to -3 dBFS before BirdNET (how much the
  embedding moves, and the scores).
- ``layers``: BirdNET's intermediate layers (the squeeze-and-excitation average pools of
  blocks 3-5 and 4-1 .. 4-4, less specific to birds than the last layer) of the same
  band-limited active regions, pooled by mean and max, alone and appended to the default.
- ``band``: the same active regions embedded on the full band (no analysis cut-off), alone,
  or a head on each band with their probabilities averaged.
- ``shift``: training copies of every clip played 0.89x and 1.12x as fast (resampled: pitch
  and tempo together, two semitones) or pitch-shifted by two semitones either way (tempo
  kept), added to the training clips; test clips as they are.
- ``class weights``: no class balancing (each clip counts once), or 1 / sqrt(class size).
- ``self-training``: the head trained again with the test clips it called with a
  probability of at least 0.7 or 0.9, under those labels (a folder teaching the head its
  recorders), scored on the same clips.
- ``recentre``: the test clips standardised by their own mean (and standard deviation)
  instead of the training clips' (a folder of recordings adapting the head to itself).
- ``scores``: BirdNET's own 6522 class scores (the logits of its last layer, a linear map of
  the embedding read from the model file: ``Dog_Dog``, ``Gray Wolf``, frogs, junglefowl ...)
  of each window, alone or appended to the default; or, per training class, the k class
  scores that most separate it from the others (Welch's t on the training clips), appended
  and weighted up (x5, x20) so the penalised head can lean on what BirdNET knows.
- ``classifier``: other heads on the default input: nearest class mean (cosine), shrinkage
  LDA on 200 principal components, an RBF SVM, a linear SVM, 5 nearest neighbours (cosine).
- ``rescale``: the same embedding L2-normalised, square-rooted (signed), quantile-mapped to a
  normal per dimension, or with its top 1-10 principal components removed, before the
  standardisation.

The extra embeddings are computed once and kept in ``benchmarks/out/xsource_embedding_probe*.npz``.
Writes benchmarks/out/xsource_embedding_probe.json.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from _common import OUT, require, write_json

EXTRA_SPEEDS = (1.5, 3.0, 4.0)
SCORES = 6522  # BirdNET V2.4's classes
OFFSETS = (0.0, 0.25, 0.75, 1.0)  # where a short clip sits in its 3-s window (0: left, 1: right)


def _active(path: str) -> np.ndarray:
    """A clip at BirdNET's rate cut to its active region, as the embedding store has it."""
    from animalsnd.audio import load
    from animalsnd.backbones import birdnet
    from animalsnd.embeddings import TRIM
    from animalsnd.trim import trim

    y, _ = load(path, sr=birdnet.BIRDNET_SR)
    return trim(y, birdnet.BIRDNET_SR, TRIM)


def _extra(path: str, fmax) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(windows x 1024*len(EXTRA_SPEEDS)) extra views; for a short clip (else None) its
    (len(OFFSETS) x 2048) offset windows and (1 x 2048) looped window."""
    from animalsnd.backbones import birdnet
    from animalsnd.embeddings import _embedder, band_windows

    y, emb = _active(path), _embedder()
    views = emb.features(band_windows(birdnet.frame_windows(y), fmax), speeds=EXTRA_SPEEDS)
    n, size = len(y), birdnet.WINDOW_SAMPLES
    if n >= size:
        return views, None, None
    w = np.zeros((len(OFFSETS), size), np.float32)
    for i, at in enumerate(OFFSETS):
        left = int(round(at * (size - n)))
        w[i, left:left + n] = y
    loop = None
    if n < 0.9 * size:
        loop = emb.features(band_windows(np.tile(y, -(-size // n))[None, :size], fmax))
    return views, emb.features(band_windows(w, fmax)), loop


def _peak_normalised(path: str, fmax) -> np.ndarray:
    """The default views of a clip whose windows are each peak-normalised to -3 dBFS."""
    from animalsnd.backbones import birdnet
    from animalsnd.embeddings import _embedder, band_windows

    w = band_windows(birdnet.frame_windows(_active(path)), fmax)
    w = w / (np.abs(w).max(axis=1, keepdims=True) + 1e-9) * 10 ** (-3 / 20)
    return _embedder().features(w.astype(np.float32))


LAYERS = {"block 3-5": "model/BLOCK_3-5_SE_AVG_POOL", "block 4-1": "model/BLOCK_4-1_SE_AVG_POOL",
          "block 4-2": "model/BLOCK_4-2_SE_AVG_POOL", "block 4-3": "model/BLOCK_4-3_SE_AVG_POOL",
          "block 4-4": "model/BLOCK_4-4_SE_AVG_POOL"}


def _layers(path: str, fmax) -> dict[str, np.ndarray]:
    """Mean+max pooled intermediate layers (:data:`LAYERS`) of a clip's band-limited active
    region, both default views side by side per window (the layout of the stored features)."""
    from _common import preserving_interpreter, tensor_index, window_tensors

    from animalsnd.backbones import birdnet
    from animalsnd.embeddings import band_windows

    it = preserving_interpreter()
    windows = band_windows(birdnet.frame_windows(_active(path)), fmax)
    arrays = window_tensors(it, windows, [tensor_index(it, name) for name in LAYERS.values()])
    return {k: meanmax(a.reshape(len(a), -1)) for k, a in zip(LAYERS, arrays)}


def _full_band(path: str, fmax) -> np.ndarray:
    """The default views of a clip's active region with no analysis cut-off (``fmax`` unused)."""
    from animalsnd.embeddings import embed_file

    return embed_file(path, None)


SHIFTS = {"speed 0.89x": ("speed", 2 ** (-2 / 12)), "speed 1.12x": ("speed", 2 ** (2 / 12)),
          "pitch -2 st": ("pitch", -2.0), "pitch +2 st": ("pitch", 2.0)}


def _shifted(path: str, fmax) -> dict[str, np.ndarray]:
    """The default views of a clip's active region played faster or slower (resampled: pitch
    and tempo together) or pitch-shifted by two semitones (tempo kept), one per :data:`SHIFTS`."""
    import librosa

    from animalsnd.backbones import birdnet
    from animalsnd.embeddings import _embedder, band_windows

    y, sr, out = _active(path), birdnet.BIRDNET_SR, {}
    for name, (kind, amount) in SHIFTS.items():
        if kind == "speed":
            z = librosa.resample(y, orig_sr=sr, target_sr=int(round(sr / amount)))
        else:
            z = librosa.effects.pitch_shift(y, sr=sr, n_steps=amount)
        out[name] = _embedder().features(band_windows(birdnet.frame_windows(z.astype(np.float32)), fmax))
    return out


def extras(cache: Path, paths: list[str], jobs: int, fn=_extra, name: str = "xsource_embedding_probe") -> dict:
    """``fn(path, fmax)`` of every clip, kept in ``benchmarks/out/<name>.npz``."""
    store = OUT / f"{name}.npz"
    if store.exists():
        z = np.load(store, allow_pickle=True)
        if list(z["paths"]) == paths:
            return dict(zip(paths, z["extra"]))
    from joblib import Parallel, delayed

    from animalsnd.embeddings import cache_fmax

    fmax = cache_fmax(cache)
    got = Parallel(n_jobs=jobs, batch_size=8)(delayed(fn)(p, fmax) for p in paths)
    arr = np.empty(len(got), dtype=object)
    arr[:] = got
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(store, paths=np.array(paths), extra=arr)
    return dict(zip(paths, got))


def meanmax(w: np.ndarray) -> np.ndarray:
    return np.concatenate([w.mean(0), w.max(0)])


def rescaled(X: np.ndarray, tr: np.ndarray) -> dict[str, np.ndarray]:
    from sklearn.preprocessing import QuantileTransformer

    out = {"default": X, "l2": X / np.linalg.norm(X, axis=1, keepdims=True),
           "signed sqrt": np.sign(X) * np.sqrt(np.abs(X)),
           "quantile": QuantileTransformer(n_quantiles=200, output_distribution="normal").fit(X[tr]).transform(X)}
    Z = (X - X[tr].mean(0)) / (X[tr].std(0) + 1e-8)
    _, _, vt = np.linalg.svd(Z[tr] - Z[tr].mean(0), full_matrices=False)
    for k in (1, 3, 10):
        out[f"top {k} PCs removed"] = Z - (Z @ vt[:k].T) @ vt[:k]
    return out


def head(Xtr, ytr, weights=None, balanced: bool = True):
    """The stand-in for the default head, fitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    m = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000,
                                                          class_weight="balanced" if balanced else None))
    return m.fit(Xtr, ytr, logisticregression__sample_weight=weights)


def rate(predicted, truth) -> float:
    return round(float(np.mean(np.asarray(predicted) == truth)), 3)


def accuracy(Xtr, ytr, Xte, yte, weights=None, balanced: bool = True) -> float:
    return rate(head(Xtr, ytr, weights, balanced).predict(Xte), yte)


def source_weights(y: np.ndarray, sources: list, power: float) -> np.ndarray:
    """Per-clip weights ``1 / n(class, source) ** power``, rescaled to sum to each class's count."""
    from collections import Counter

    n = Counter(zip(y.tolist(), sources))
    w = np.array([1.0 / n[(c, s)] ** power for c, s in zip(y.tolist(), sources)])
    for c in np.unique(y):
        w[y == c] *= np.sum(y == c) / w[y == c].sum()
    return w


def _dense() -> tuple[np.ndarray, np.ndarray]:
    """BirdNET's last layer (``model/CLASS_DENSE_LAYER``): weights ``(6522, 1024)`` and bias."""
    from animalsnd.backbones.birdnet_labels import last_layer

    return last_layer()


def class_scores(windows: np.ndarray) -> np.ndarray:
    """BirdNET's class logits of each window's two views, ``(windows, 2 * 6522)``: its last
    layer applied to the stored embeddings."""
    w, b = _dense()
    return np.hstack([windows[:, :1024] @ w.T + b, windows[:, 1024:] @ w.T + b])


def separating(scores: np.ndarray, y: np.ndarray, k: int) -> list[int]:
    """Per class, the ``k`` columns of ``scores`` with the largest Welch t against the other classes."""
    cols: list[int] = []
    for c in np.unique(y):
        a, o = scores[y == c], scores[y != c]
        t = (a.mean(0) - o.mean(0)) / np.sqrt(a.var(0) / len(a) + o.var(0) / len(o) + 1e-6)
        cols += [int(i) for i in np.argsort(-t)[:k] if int(i) not in cols]
    return cols


def classifiers() -> dict:
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import SVC, LinearSVC

    return {"nearest class mean (cosine)": make_pipeline(StandardScaler(), Normalizer(), NearestCentroid()),
            "shrinkage LDA, 200 PCs": make_pipeline(StandardScaler(), PCA(200, random_state=0),
                                                    LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")),
            "RBF SVM (C = 10)": make_pipeline(StandardScaler(), SVC(C=10, class_weight="balanced")),
            "linear SVM (C = 0.001)": make_pipeline(StandardScaler(), LinearSVC(C=0.001, class_weight="balanced")),
            "5 nearest neighbours (cosine)": make_pipeline(StandardScaler(), Normalizer(), KNeighborsClassifier(5))}


def xsource_splits(cache: Path) -> dict[str, tuple[Path, tuple[str, ...] | None]]:
    """The probes' splits: name -> (derived cache, the classes scored on its fold 0, or None for all)."""
    splits = {"single recorder (bird, cat, dog)": (Path(f"{cache}-xsrc"), ("bird", "cat", "dog")),
              **{f"several, half {h}": (Path(f"{cache}-xsrc-half{h}"), None) for h in range(3)},
              "within (fold 0)": (cache, None)}
    for d, _ in splits.values():
        require(d)
    return splits


def stored_clips(cache: Path) -> tuple[dict, list[str], dict]:
    """The cache's usable rows by path, their sorted paths, and each clip's stored windows."""
    from animalsnd.cache import usable_rows
    from animalsnd.embeddings import read_windows, store_dir

    rows = {r["path"]: r for r in usable_rows(cache)}
    store = store_dir(cache)
    paths = sorted(rows)
    return rows, paths, {p: read_windows(store, rows[p]["sha256"]) for p in paths}


def scored_splits(splits: dict):
    """Per split of :func:`xsource_splits`: ``(name, embedding set, labels, training mask, test mask)``."""
    from animalsnd.embeddings import load_embedding_set

    for name, (d, classes) in splits.items():
        es = load_embedding_set(d, jobs=1)
        y, folds = np.asarray(es.y), np.asarray(es.folds)
        tr, te = folds != 0, folds == 0
        if classes:
            te = te & np.isin(y, [list(es.classes).index(c) for c in classes])
        yield name, es, y, tr, te


def probe_parser(doc: str) -> argparse.ArgumentParser:
    """The across-sources probes' command line: ``--cache`` (the cache the splits derive from) and
    ``--jobs``; the first line of ``doc`` describes it."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    return ap


def main() -> None:
    args = probe_parser(__doc__).parse_args()
    warnings.filterwarnings("ignore")
    from sklearn.linear_model import LogisticRegression

    cache = require(args.cache)
    splits = xsource_splits(cache)
    rows, paths, base = stored_clips(cache)
    more = extras(cache, paths, args.jobs)
    peak = extras(cache, paths, args.jobs, _peak_normalised, "xsource_embedding_probe_level")
    layers = extras(cache, paths, args.jobs, _layers, "xsource_embedding_probe_layers")
    full = extras(cache, paths, args.jobs, _full_band, "xsource_embedding_probe_full_band")
    shifted = extras(cache, paths, args.jobs, _shifted, "xsource_embedding_probe_shifted")
    moved = [float(np.linalg.norm(peak[p] - base[p]) / np.linalg.norm(base[p])) for p in paths]
    level = {"relative_change_median": float(np.median(moved)), "relative_change_p99": float(np.percentile(moved, 99))}
    print("peak-normalised clips move the embedding by", level, flush=True)

    def view_set(cols):
        return {p: meanmax(np.hstack([base[p], *[more[p][0][:, 1024 * i:1024 * (i + 1)] for i in cols]]))
                for p in paths}

    def offset_set(p):
        offs = more[p][1]
        if offs is None:
            return meanmax(base[p])
        w = np.vstack([offs, base[p]]).mean(0)
        return np.concatenate([w, w])

    default = {p: meanmax(base[p]) for p in paths}
    # class scores: meanmax of both views' logits, then the max over windows of the 1x view's
    scores = {p: np.concatenate([meanmax(c), c[:, :SCORES].max(0)]) for p in paths
              for c in [class_scores(base[p])]}
    views = {"1x+2x (default)": default, **{f"1x+2x+{s:g}x": view_set([i]) for i, s in enumerate(EXTRA_SPEEDS)},
             "1x+2x+3x+4x": view_set([1, 2])}
    offsets = {p: offset_set(p) for p in paths}
    peaked = {p: meanmax(peak[p]) for p in paths}
    looped = {p: default[p] if more[p][2] is None else meanmax(more[p][2]) for p in paths}
    results: dict[str, dict] = {}
    for name, es, y, tr, te in scored_splits(splits):
        r: dict[str, float] = {}
        for v, feats in views.items():
            X = np.stack([feats[p] for p in es.paths])
            r[f"views: {v}"] = accuracy(X[tr], y[tr], X[te], y[te])
        X0 = np.stack([default[p] for p in es.paths])
        Xo = np.stack([offsets[p] for p in es.paths])
        r["offsets: train+test"] = accuracy(Xo[tr], y[tr], Xo[te], y[te])
        r["offsets: train"] = accuracy(Xo[tr], y[tr], X0[te], y[te])
        Xl = np.stack([looped[p] for p in es.paths])
        r["loop: test"] = accuracy(X0[tr], y[tr], Xl[te], y[te])
        r["loop: train+test"] = accuracy(Xl[tr], y[tr], Xl[te], y[te])
        src = [(rows[p]["sample_rate"], rows[p]["channels"], rows[p]["subtype"]) for p in es.paths]
        src_tr = [s_ for s_, t in zip(src, tr) if t]
        for weighting, power in (("source-balanced", 1.0), ("square-root source-balanced", 0.5)):
            r[f"weights: {weighting}"] = accuracy(X0[tr], y[tr], X0[te], y[te], source_weights(y[tr], src_tr, power))
        Xf = np.stack([meanmax(full[p]) for p in es.paths])
        r["band: full band"] = accuracy(Xf[tr], y[tr], Xf[te], y[te])
        both = head(X0[tr], y[tr]).predict_proba(X0[te]) + head(Xf[tr], y[tr]).predict_proba(Xf[te])
        r["band: cut-off and full band, probabilities averaged"] = rate(both.argmax(1), y[te])
        for group, names in (("speed 0.89x and 1.12x", list(SHIFTS)[:2]), ("pitch -2 and +2 st", list(SHIFTS)[2:]),
                             ("all four", list(SHIFTS))):
            Xs = [np.stack([meanmax(shifted[p][k]) for p in es.paths])[tr] for k in names]
            r[f"shift: training copies, {group}"] = accuracy(np.vstack([X0[tr], *Xs]),
                                                             np.concatenate([y[tr]] * (1 + len(Xs))), X0[te], y[te])
        first = head(X0[tr], y[tr]).predict_proba(X0[te])
        for tau in (0.7, 0.9):
            sure = first.max(axis=1) >= tau
            r[f"self-training: test clips called at >= {tau}"] = accuracy(
                np.vstack([X0[tr], X0[te][sure]]), np.concatenate([y[tr], first.argmax(axis=1)[sure]]), X0[te], y[te])
        r["class weights: none"] = accuracy(X0[tr], y[tr], X0[te], y[te], balanced=False)
        sizes = np.bincount(y[tr])
        r["class weights: 1 / sqrt(class size)"] = accuracy(X0[tr], y[tr], X0[te], y[te], 1 / np.sqrt(sizes[y[tr]]),
                                                             balanced=False)
        for k in LAYERS:
            XL = np.stack([layers[p][k] for p in es.paths])
            r[f"layers: {k}"] = accuracy(XL[tr], y[tr], XL[te], y[te])
            XL = np.hstack([X0, XL])
            r[f"layers: default + {k}"] = accuracy(XL[tr], y[tr], XL[te], y[te])
        mu, sd = X0[tr].mean(0), X0[tr].std(0) + 1e-8
        Zt = (X0[tr] - mu) / sd
        r["recentre: the test clips' mean"] = accuracy(Zt, y[tr], (X0[te] - X0[te].mean(0)) / sd, y[te])
        r["recentre: the test clips' mean and std"] = accuracy(Zt, y[tr], (X0[te] - X0[te].mean(0))
                                                             / (X0[te].std(0) + 1e-8), y[te])
        S = np.stack([scores[p] for p in es.paths])
        r["scores: alone"] = accuracy(S[:, :4 * SCORES][tr], y[tr], S[:, :4 * SCORES][te], y[te])
        XS = np.hstack([X0, S[:, :4 * SCORES]])
        r["scores: appended to the default"] = accuracy(XS[tr], y[tr], XS[te], y[te])
        for k in (1, 3, 10):
            cols = separating(S[:, -SCORES:][tr], y[tr], k)
            Z = np.hstack([X0, S[:, -SCORES:][:, cols]])
            Z = (Z - Z[tr].mean(0)) / (Z[tr].std(0) + 1e-8)  # standardised here, so the weights hold
            for weight in (5, 20):
                Zw = Z.copy()
                Zw[:, X0.shape[1]:] *= weight
                lr = LogisticRegression(C=0.01, max_iter=3000, class_weight="balanced").fit(Zw[tr], y[tr])
                r[f"scores: {k} per class appended, x{weight}"] = rate(lr.predict(Zw[te]), y[te])
        for k, model in classifiers().items():
            r[f"classifier: {k}"] = rate(model.fit(X0[tr], y[tr]).predict(X0[te]), y[te])
        Xp = np.stack([peaked[p] for p in es.paths])
        r["level: peak-normalised"] = accuracy(Xp[tr], y[tr], Xp[te], y[te])
        for k, X in rescaled(X0.astype(np.float64), tr).items():
            r[f"rescale: {k}"] = accuracy(X[tr], y[tr], X[te], y[te])
        results[name] = r
        print(name, r, flush=True)
    write_json("xsource_embedding_probe.json", {"cache": str(cache), "level": level, "results": results})


if __name__ == "__main__":
    main()
