"""Probe BirdNET's intermediate layers and input level with a logistic regression, 5-fold.

``birdnet-head`` reads BirdNET's last layer (the 1024-d global average pool).
Earlier layers are less specific to birds and might transfer better to
mammals and frogs. For every usable clip of a prepared cache this script
reads, for both views of each 3-s window (as recorded and at double speed):

* the squeeze-and-excitation average pools of blocks 2-4, 3-5 and 4-1 .. 4-4
  (channel means of each block's expanded feature map: 288, 864 and 1536-d),
* the default embedding, and the embedding of the clip scaled to a peak of 1
  (BirdNET sees raw amplitude; the clips' recording levels differ by 40 dB),

pools each over the clip's windows (mean and max) and scores a standardised
logistic regression (C = 0.1, plain and class-balanced) on the cache's folds,
alone and appended to the default features::

    nice -n 5 python benchmarks/birdnet_layers_probe.py   # writes benchmarks/out/birdnet_layers_probe.json

Needs the ``birdnet`` extra. Reading intermediate tensors needs the
interpreter's ``experimental_preserve_all_tensors`` (about 80 s for 830 clips
with one worker).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _common import OUT, preserving_interpreter, require, tensor_index, window_tensors, write_json
from birdnet_probe import cv_accuracy

LAYERS = {
    "block 2-4": "model/BLOCK_2-4_SE_AVG_POOL", "block 3-5": "model/BLOCK_3-5_SE_AVG_POOL",
    "block 4-1": "model/BLOCK_4-1_SE_AVG_POOL", "block 4-2": "model/BLOCK_4-2_SE_AVG_POOL",
    "block 4-3": "model/BLOCK_4-3_SE_AVG_POOL", "block 4-4": "model/BLOCK_4-4_SE_AVG_POOL",
    "embedding": "model/GLOBAL_AVG_POOL/Mean",
}


def clip_features(path: str) -> dict[str, np.ndarray]:
    """Mean+max pooled layer outputs of one clip, both views side by side."""
    from animalsnd.audio import load
    from animalsnd.backbones import birdnet

    it = preserving_interpreter()
    y, _ = load(path, sr=birdnet.BIRDNET_SR)
    out: dict[str, np.ndarray] = {}
    for level, signal in (("", y), (" (peak 1)", y / max(float(np.abs(y).max()), 1e-9))):
        keys = tuple(LAYERS) if not level else ("embedding",)
        arrays = window_tensors(it, birdnet.frame_windows(np.asarray(signal, np.float32)),
                                [tensor_index(it, LAYERS[k]) for k in keys])
        # the views side by side per window, then pooled: the layout of the cache's features
        for k, a in zip(keys, arrays):
            out[k + level] = birdnet.pool(a.reshape(len(a), -1), method="meanmax")
    return out


def main(argv: list[str] | None = None) -> int:
    from joblib import Parallel, delayed

    from animalsnd.embeddings import load_embedding_set

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=OUT / "cache-animal-sounds-10", help="a prepared cache")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="birdnet_layers_probe.json")
    args = p.parse_args(argv)
    require(args.cache)
    es = load_embedding_set(args.cache, pool="meanmax", jobs=args.jobs)
    t0 = time.perf_counter()
    feats = Parallel(n_jobs=args.jobs)(delayed(clip_features)(path) for path in es.paths)
    seconds = time.perf_counter() - t0
    layers = {k: np.stack([f[k] for f in feats]) for k in feats[0]}
    if not np.allclose(layers["embedding"], es.X, atol=1e-5):
        raise SystemExit("the probe's embedding differs from the cache's BirdNET features")
    variants = {"default features": es.X}
    for k, X in layers.items():
        if k != "embedding":
            variants[f"{k} alone"] = X
            variants[f"default + {k}"] = np.hstack([es.X, X])
    results = {}
    print("| features | dim | LR | LR, balanced |")
    for name, X in variants.items():
        plain = cv_accuracy(X, es.y, es.folds, C=0.1, balanced=False)
        bal = cv_accuracy(X, es.y, es.folds, C=0.1, balanced=True)
        results[name] = {"dim": int(X.shape[1]), "folds": plain, "mean": float(np.mean(plain)),
                         "std": float(np.std(plain)), "balanced_folds": bal, "balanced_mean": float(np.mean(bal)),
                         "balanced_std": float(np.std(bal))}
        print(f"| {name} | {X.shape[1]} | {np.mean(plain):.3f} ± {np.std(plain):.3f} "
              f"| {np.mean(bal):.3f} ± {np.std(bal):.3f} |", flush=True)
    write_json(args.out, {"cache": str(args.cache), "clips": len(es.y), "feature_seconds": round(seconds, 1),
                          "variants": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
