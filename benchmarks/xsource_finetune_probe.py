"""Across sources with BirdNET's last convolution fine-tuned: does a deeper reading transfer better?

    nice -n 5 python benchmarks/xsource_finetune_probe.py --cache runs/cache

``benchmarks/birdnet_finetune_probe.py`` rebuilds BirdNET's last layer (a 3x3 convolution,
192 -> 1024 channels, over a (3, 8, 192) feature map per 3-s window) in TensorFlow and trains it
with the classifier; in cross-validation it scored no better than the frozen head. This probe asks
the question that matters for a user's own recordings, on the across-sources splits of
``xsource_bench.py`` (run it once with ``--holdout dominant`` and ``--holdout half --seed 0/1/2``
so that ``<cache>-xsrc`` and ``<cache>-xsrc-half0/1/2`` exist; the cache's BirdNET features must be
stored, i.e. a ``birdnet-head`` trained on it once):

- the feature maps are read from the same band-limited active regions the stored embeddings come
  from (the cache's analysis cut-off; checked: the rebuilt layer reproduces the stored features);
- per split, the default reading (standardised, class-balanced logistic regression, C = 0.01) is
  fitted on folds 1-4 and put on top of the rebuilt layer, then layer and classifier are trained
  together (Adam, batch 32, class-weighted cross-entropy, the regression's L2 penalty on the
  classifier) and scored after each listed epoch count on fold 0: the across-sources clips of
  bird, cat and dog (single recorder), the held-out sources (halves 0-2), the cache's own fold 0
  (within). Epoch 0 is the frozen head.

The maps are kept in ``benchmarks/out/xsource_finetune_maps.npz`` (several minutes to read once).
Writes benchmarks/out/xsource_finetune_probe.json.
"""

from __future__ import annotations

import os
import time

import numpy as np
from _common import OUT, preserving_interpreter, require, tensor_index, window_tensors, write_json
from birdnet_finetune_probe import MAP_TENSOR, from_the_head, last_layer, rebuilt_layer
from xsource_embedding_probe import probe_parser, rate, xsource_splits


def clip_maps(path: str, fmax) -> np.ndarray:
    """``(n_windows, n_views, 3, 8, 192)`` inputs of BirdNET's last convolution for the clip's
    band-limited active region, as the embedding store reads it."""
    from xsource_embedding_probe import _active

    from animalsnd.backbones import birdnet
    from animalsnd.embeddings import band_windows

    it = preserving_interpreter()
    windows = band_windows(birdnet.frame_windows(_active(path)), fmax)
    return window_tensors(it, windows, [tensor_index(it, MAP_TENSOR, 4)])[0]


def finetune(maps, y, tr, te, kernel, bias, *, lr: float, epochs: list[int], C: float = 0.01, seed: int = 0,
             batch: int = 32) -> dict[int, float]:
    import tensorflow as tf
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(y[tr])
    forward, features = rebuilt_layer(maps)

    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    mu, sd, K, B, W, c, l2, opt = from_the_head(features, kernel, bias, y, tr, C=C, lr=lr)
    cw = tf.constant(compute_class_weight("balanced", classes=classes, y=y[tr]), tf.float32)
    index = {k: i for i, k in enumerate(classes)}
    yi = np.array([index.get(v, -1) for v in y])

    def score() -> float:
        p = (features(K, B, te) - mu) / sd @ W.numpy() + c.numpy()
        return rate(classes[p.argmax(1)], y[te])

    out = {0: score()} if 0 in epochs else {}
    for ep in range(1, max(epochs) + 1):
        order = rng.permutation(tr)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            with tf.GradientTape() as tape:
                logits = (forward(K, B, idx) - mu) / sd @ W + c
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yi[idx], logits=logits)
                loss = tf.reduce_mean(ce * tf.gather(cw, yi[idx])) + l2 * tf.reduce_sum(W ** 2)
            grads = tape.gradient(loss, [K, B, W, c])
            opt.apply_gradients(zip(grads, [K, B, W, c]))
        if ep in epochs:
            out[ep] = score()
    return out


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from joblib import Parallel, delayed

    from animalsnd.cache import usable_rows
    from animalsnd.embeddings import cache_fmax, load_embedding_set, read_windows, store_dir

    p = probe_parser(__doc__)
    p.add_argument("--lr", default="3e-5,1e-4", help="learning rates, comma-separated")
    p.add_argument("--epochs", default="0,5,10,20", help="epoch counts to score, comma-separated")
    p.add_argument("--out", default="xsource_finetune_probe.json")
    args = p.parse_args(argv)
    cache = require(args.cache)
    splits = xsource_splits(cache)
    rows = {r["path"]: r for r in usable_rows(cache)}
    paths = sorted(rows)
    store = OUT / "xsource_finetune_maps.npz"
    t0 = time.perf_counter()
    if store.exists() and np.load(store, allow_pickle=True)["paths"].tolist() == paths:
        maps = list(np.load(store, allow_pickle=True)["maps"])
    else:
        fmax = cache_fmax(cache)
        maps = Parallel(n_jobs=args.jobs, batch_size=4)(delayed(clip_maps)(q, fmax) for q in paths)
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(store, maps=np.array(maps, dtype=object), paths=np.array(paths))
    map_seconds = round(time.perf_counter() - t0, 1)
    kernel, bias = last_layer()
    by_path = dict(zip(paths, maps))
    stored = store_dir(cache)
    first = paths[:20]
    import tensorflow as tf

    got = []
    for q in first:
        w = by_path[q].reshape(-1, 3, 8, 192)
        e = tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(w, kernel, 1, "VALID") + bias), axis=[1, 2]).numpy()
        got.append(np.abs(e.reshape(len(by_path[q]), -1) - read_windows(stored, rows[q]["sha256"])).max())
    if max(got) > 1e-3:
        raise SystemExit(f"the rebuilt layer does not reproduce the stored windows (max difference {max(got):.2g})")
    epochs = sorted({int(e) for e in args.epochs.split(",")})
    results: dict[str, dict] = {}
    for name, (d, classes) in splits.items():
        es = load_embedding_set(d, jobs=1)
        y, folds = np.asarray(es.y), np.asarray(es.folds)
        tr, te = np.where(folds != 0)[0], folds == 0
        if classes:
            te = te & np.isin(y, [list(es.classes).index(c) for c in classes])
        te = np.where(te)[0]
        split_maps = [by_path[q] for q in es.paths]
        results[name] = {}
        for lr in [float(v) for v in args.lr.split(",")]:
            t0 = time.perf_counter()
            acc = finetune(split_maps, y, tr, te, kernel, bias, lr=lr, epochs=epochs)
            results[name][f"{lr:g}"] = {"accuracy": {str(k): v for k, v in acc.items()},
                                        "seconds": round(time.perf_counter() - t0, 1)}
            print(name, f"lr {lr:g}", acc, flush=True)
        write_json(args.out, {"cache": str(cache), "map_seconds": map_seconds, "C": 0.01, "batch": 32, "seed": 0,
                              "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
