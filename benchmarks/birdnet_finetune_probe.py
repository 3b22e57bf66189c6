"""Probe fine-tuning BirdNET's last convolution on a cache's folds, 5-fold.

``birdnet-head`` reads BirdNET's 1024-d embedding, which is the global average
of its last layer: a 3x3 convolution (192 -> 1024 channels, folded batch
norm, ReLU) over a (3, 8, 192) feature map per 3-s window. That layer's
weights are constants in the TFLite file, so it can be rebuilt in TensorFlow
and trained, the rest of the backbone staying frozen. For every usable clip
of a prepared cache this script:

1. reads the layer's input (``ACT_POST``) for both views of each 3-s window
   (as recorded and at double speed) and the layer's kernel and bias, and
   checks that the rebuilt layer reproduces the cache's stored features;
2. per fold, fits the default reading (standardised, class-balanced logistic
   regression, C = 0.1) on the frozen features, puts its weights on top of
   the rebuilt layer, and trains layer and classifier together (Adam,
   batch 32, class-weighted cross-entropy, the regression's L2 penalty on the
   classifier; optionally mixup of the pooled features), scoring the test fold
   after each listed epoch count::

    nice -n 5 python benchmarks/birdnet_finetune_probe.py   # writes benchmarks/out/birdnet_finetune_probe.json
    nice -n 5 python benchmarks/birdnet_finetune_probe.py --lr 3e-5 --epochs 0,10,20,40 \
        --mixup 0.4 --out birdnet_finetune_probe_mixup.json

Epoch 0 is the logistic regression itself. The feature maps are kept in
``benchmarks/out/birdnet_tail_maps.npz`` (about 6 min to read with two
workers, because reading a hidden tensor needs
``experimental_preserve_all_tensors``). Needs the ``birdnet`` extra.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from _common import OUT, preserving_interpreter, require, tensor_index, window_tensors, write_json

MAP_TENSOR = "model/ACT_POST/Relu"  # input of the last convolution, (1, 3, 8, 192)
KERNEL_TENSOR = "model/POST_CONV_1/Conv2D"  # (1024, 3, 3, 192), output-height-width-input
BIAS_TENSOR = "model/POST_BN_1/FusedBatchNormV3;model/POST_CONV_1/Conv2D"  # (1024,), batch norm folded in


def clip_maps(path: str) -> np.ndarray:
    """``(n_windows, n_views, 3, 8, 192)`` inputs of BirdNET's last convolution."""
    from animalsnd.audio import load
    from animalsnd.backbones import birdnet

    it = preserving_interpreter()
    y, _ = load(path, sr=birdnet.BIRDNET_SR)
    return window_tensors(it, birdnet.frame_windows(y), [tensor_index(it, MAP_TENSOR, 4)])[0]


def last_layer() -> tuple[np.ndarray, np.ndarray]:
    """Kernel ``(3, 3, 192, 1024)`` (height-width-input-output) and bias ``(1024,)``."""
    it = preserving_interpreter()
    kernel = np.array(it.get_tensor(tensor_index(it, KERNEL_TENSOR, 4)), np.float32)
    bias = np.array(it.get_tensor(tensor_index(it, BIAS_TENSOR, 1)), np.float32)
    return np.ascontiguousarray(np.transpose(kernel, (1, 2, 3, 0))), bias


def rebuilt_layer(maps: list[np.ndarray]):
    """``(forward, features)`` of the rebuilt last layer over clips' feature maps: ``forward(K, B,
    idx)`` the mean+max pooled embeddings of clips ``idx`` (a TensorFlow tensor, differentiable in
    kernel ``K`` and bias ``B``), ``features`` the same as NumPy, 64 clips at a time."""
    import tensorflow as tf

    n_views = maps[0].shape[1]

    def forward(K, B, idx):
        w = np.concatenate([maps[i] for i in idx])
        seg = np.concatenate([[j] * len(maps[i]) for j, i in enumerate(idx)])
        h = tf.nn.relu(tf.nn.conv2d(tf.reshape(w, (-1, 3, 8, 192)), K, 1, "VALID") + B)
        e = tf.reshape(tf.reduce_mean(h, axis=[1, 2]), (-1, 1024 * n_views))
        return tf.concat([tf.math.segment_mean(e, seg), tf.math.segment_max(e, seg)], axis=1)

    def features(K, B, idx):
        return np.concatenate([forward(K, B, idx[i : i + 64]).numpy() for i in range(0, len(idx), 64)])

    return forward, features


def from_the_head(features, kernel, bias, y, tr, *, C: float, lr: float):
    """The default reading fitted on the frozen features of clips ``tr`` and put on the rebuilt
    layer: ``(mu, sd, K, B, W, c, l2, opt)``, the standardisation, the layer's and the
    classifier's variables, the regression's L2 weight and an Adam optimiser."""
    import tensorflow as tf
    from sklearn.linear_model import LogisticRegression

    F = features(kernel, bias, tr)
    mu, sd = F.mean(0), F.std(0) + 1e-6
    reg = LogisticRegression(max_iter=3000, C=C, class_weight="balanced").fit((F - mu) / sd, y[tr])
    W, c = tf.Variable(reg.coef_.T.astype(np.float32)), tf.Variable(reg.intercept_.astype(np.float32))
    return mu, sd, tf.Variable(kernel), tf.Variable(bias), W, c, 1.0 / (2 * C * len(tr)), tf.keras.optimizers.Adam(lr)


def run(maps: list[np.ndarray], X: np.ndarray, y: np.ndarray, folds: np.ndarray, kernel: np.ndarray,
        bias: np.ndarray, *, lr: float, epochs: list[int], C: float = 0.1, seed: int = 0,
        batch: int = 32, mixup: float = 0.0) -> dict[int, list[float]]:
    import tensorflow as tf
    from sklearn.utils.class_weight import compute_class_weight

    n_classes = int(y.max()) + 1
    forward, features = rebuilt_layer(maps)

    check = np.arange(min(20, len(maps)))
    diff = float(np.abs(features(kernel, bias, check) - X[check]).max())
    if diff > 1e-3:
        raise SystemExit(f"the rebuilt layer does not reproduce the stored features (max difference {diff:.2g})")
    acc: dict[int, list[float]] = {e: [] for e in epochs}
    for f in sorted(set(folds.tolist())):
        tr, te = np.where(folds != f)[0], np.where(folds == f)[0]
        tf.random.set_seed(seed)
        rng = np.random.default_rng(seed)
        mu, sd, K, B, W, c, l2, opt = from_the_head(features, kernel, bias, y, tr, C=C, lr=lr)
        cw = tf.constant(compute_class_weight("balanced", classes=np.arange(n_classes), y=y[tr]), tf.float32)

        def score() -> float:
            p = (features(K, B, te) - mu) / sd @ W.numpy() + c.numpy()
            return float((p.argmax(1) == y[te]).mean())

        if 0 in acc:
            acc[0].append(score())
        for ep in range(1, max(epochs) + 1):
            order = rng.permutation(tr)
            for i in range(0, len(order), batch):
                idx = order[i : i + batch]
                # mixup: each clip's pooled features blended with another clip's, and the two losses
                # (without mixup no random draw, so the batch order is that of a plain run)
                lam, other = (float(rng.beta(mixup, mixup)), rng.permutation(len(idx))) if mixup > 0 else (1.0, None)
                with tf.GradientTape() as tape:
                    F = forward(K, B, idx)
                    if other is not None:
                        F = lam * F + (1 - lam) * tf.gather(F, other)
                    logits = (F - mu) / sd @ W + c
                    xent = tf.nn.sparse_softmax_cross_entropy_with_logits
                    targets = ((lam, y[idx]),) if other is None else ((lam, y[idx]), (1 - lam, y[idx][other]))
                    ce = sum(w * xent(labels=t, logits=logits) * tf.gather(cw, t) for w, t in targets)
                    loss = tf.reduce_mean(ce) + l2 * tf.reduce_sum(W ** 2)
                grads = tape.gradient(loss, [K, B, W, c])
                opt.apply_gradients(zip(grads, [K, B, W, c]))
            if ep in acc:
                acc[ep].append(score())
        print(f"  fold {f}: " + " ".join(f"{e} ep {acc[e][-1]:.3f}" for e in epochs), flush=True)
    return acc


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from joblib import Parallel, delayed

    from animalsnd.embeddings import load_embedding_set

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=OUT / "cache-animal-sounds-10")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--lr", default="1e-5,3e-5,1e-4", help="learning rates, comma-separated")
    p.add_argument("--epochs", default="0,5,10,20,30", help="epoch counts to score, comma-separated")
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha on the pooled features (0: off)")
    p.add_argument("--out", default="birdnet_finetune_probe.json")
    args = p.parse_args(argv)
    require(args.cache)
    es = load_embedding_set(args.cache, pool="meanmax", jobs=args.jobs)
    store = OUT / "birdnet_tail_maps.npz"
    t0 = time.perf_counter()
    if store.exists() and np.load(store, allow_pickle=True)["sha"].tolist() == list(es.shas):
        maps = list(np.load(store, allow_pickle=True)["maps"])
    else:
        maps = Parallel(n_jobs=args.jobs)(delayed(clip_maps)(path) for path in es.paths)
        np.savez(store, maps=np.array(maps, dtype=object), sha=np.array(es.shas))
    map_seconds = time.perf_counter() - t0
    kernel, bias = last_layer()
    epochs = sorted({int(e) for e in args.epochs.split(",")})
    results = {}
    for lr in [float(v) for v in args.lr.split(",")]:
        print(f"learning rate {lr:g}", flush=True)
        t0 = time.perf_counter()
        acc = run(maps, es.X, es.y, es.folds, kernel, bias, lr=lr, epochs=epochs, mixup=args.mixup)
        results[f"{lr:g}"] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "epochs": {str(e): {"folds": a, "mean": float(np.mean(a)), "std": float(np.std(a))}
                       for e, a in acc.items()},
        }
        for e, a in acc.items():
            print(f"| {lr:g} | {e} | {np.mean(a):.3f} ± {np.std(a):.3f} |", flush=True)
    write_json(args.out, {"cache": str(args.cache), "clips": len(es.y), "map_seconds": round(map_seconds, 1),
                          "C": 0.1, "batch": 32, "seed": 0, "mixup": args.mixup, "learning_rates": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
