"""What the models on per-clip vectors (BirdNET embeddings, clip descriptors) share.

Evaluation data from a cache's per-clip store or from a raw folder, and the
fold-averaging predictor around their bundles.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from animalsnd.errors import BundleError, DatasetError

__all__ = ["VectorPredictor", "folder_vectors", "fit_vector_head", "store_vectors"]


def store_vectors(bundle, data, *, ensure: Callable, read: Callable[[Path, str], np.ndarray], dim: int,
                  jobs: int = -1, progress=None):
    """:class:`~animalsnd.evaluate.EvalData` of per-clip vectors read from a cache's store.

    ``data`` None: the bundle's held-out fold of the cache it was trained on;
    otherwise a prepared cache: all its usable clips. ``ensure(cache, rows=,
    jobs=, progress=)`` fills the store and returns ``(store, ...)``;
    ``read(store, sha)`` gives one clip's ``(dim,)`` vector.
    """
    from animalsnd.cache import read_config, read_manifest
    from animalsnd.evaluate import EvalData, is_cache

    known = {c: i for i, c in enumerate(bundle.classes)}
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
    X = np.zeros((0, dim), np.float32)
    if rows:
        store = ensure(cache, rows=rows, jobs=jobs, progress=progress)[0]
        X = np.stack([read(store, r["sha256"]) for r in rows]).astype(np.float32)
    return EvalData(X=X, y=np.array([known[r["label"]] for r in rows], dtype=int),
                    paths=[r["path"] for r in rows], source=source, unknown=unknown, notes=notes)


def folder_vectors(bundle, root: Path, *, compute: Callable, to_vector: Callable[[np.ndarray], np.ndarray],
                   dim: int, jobs: int = -1, progress=None):
    """:class:`~animalsnd.evaluate.EvalData` of a raw folder-per-class directory.

    ``compute(paths, jobs=, progress=)`` gives ``(result or None, reason)``
    per path, in order; ``to_vector`` turns a result into the ``(dim,)``
    model input. Folders of other classes are counted, unreadable files listed.
    """
    from animalsnd.dataset import discover
    from animalsnd.evaluate import EvalData

    known = {c: i for i, c in enumerate(bundle.classes)}
    recs = discover(root)
    unknown = dict(Counter(r.label for r in recs if r.label not in known))
    recs = [r for r in recs if r.label in known]
    results = compute([str(r.path) for r in recs], jobs=jobs, progress=progress)
    X, y, paths, failed = [], [], [], []
    for rec, res in zip(recs, results):
        value, reason = res if isinstance(res, tuple) else (None, getattr(res, "error", "failed"))
        if value is None:
            failed.append((rec.relpath, reason))
            continue
        X.append(to_vector(value))
        y.append(known[rec.label])
        paths.append(str(rec.path))
    return EvalData(X=np.stack(X).astype(np.float32) if X else np.zeros((0, dim), np.float32),
                    y=np.array(y, dtype=int), paths=paths, source=str(root), unknown=unknown, failed=failed)


class VectorPredictor:
    """Fold bundles of one vector-input model behind the predictor interface (probabilities averaged).

    Subclasses set ``kind``, ``name`` and ``cfg`` and implement ``window_plan``
    and ``scan``; ``_warm()`` runs once in the loading thread after the models.
    """

    kind = ""
    name = ""

    def __init__(self, bundles: Sequence, *, runtime: str = "auto", check: Callable | None = None) -> None:
        from animalsnd.errors import ConfigError

        if not bundles:
            raise BundleError("no model bundle given")
        if runtime not in ("auto", "keras"):
            raise ConfigError(f"--runtime {runtime}: a {self.name} model runs with Keras (auto or keras)")
        first = bundles[0]
        for b in bundles:
            if b.kind != self.kind:
                raise BundleError(f"{b.path}: not a {self.name} bundle; cannot average it with {first.path}")
            if check is not None:
                check(b, first)
        self.bundles = list(bundles)
        self.runtime = "keras"
        self.classes: list[str] = list(first.classes)
        self._loader: threading.Thread | None = None
        self._error: BaseException | None = None
        self._loaded = False

    def _warm(self) -> None:
        """Load anything besides the models (a backbone, say)."""

    def _load(self) -> None:
        try:
            for b in self.bundles:
                b.model  # noqa: B018  (loads lazily)
            self._warm()
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def preload(self):
        """Load the models in the background."""
        if self._loader is None:
            self._loader = threading.Thread(target=self._load, name=f"animalsnd-{self.kind}-load", daemon=True)
            self._loader.start()
        return self

    def _ready(self) -> None:
        if self._loaded:
            return
        if self._loader is not None:
            self._loader.join()
        else:
            self._load()
        if self._error is not None:
            raise self._error
        self._loaded = True

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """Mean class probabilities of the bundles for model inputs ``X`` (n, dim)."""
        self._ready()
        X = np.asarray(X, dtype=np.float32)
        total = np.zeros((len(X), len(self.classes)), np.float64)
        for b in self.bundles:
            total += b.predict_proba(X, batch_size=batch_size)
        return (total / len(self.bundles)).astype(np.float32)


def fit_vector_head(fs, *, config, test_fold: int, input_meta: dict, head_options: dict, name: str,
                    input_name: str, out_dir=None, cache_dir=None, export_tflite: bool = False, on_epoch=None):
    """Train a dense head on per-clip vectors ``fs.X`` (n, d) on every fold but ``test_fold``.

    The head is :func:`animalsnd.heads.birdnet_head.build_head` with
    ``head_options``, standardised on the training split; training follows
    ``config`` (class weights, mixup, early stopping, LR schedule). Same
    contract as :func:`animalsnd.train.train_fold`: a FoldResult, and the
    bundle in ``out_dir`` when given.
    """
    from animalsnd import train as T
    from animalsnd.augment import Mixup
    from animalsnd.heads.birdnet_head import build_head, standardiser
    from animalsnd.metrics import classification_metrics

    n_classes = len(fs.classes)
    split = T.checked_split(fs, config, test_fold)
    X_train, y_train = fs.X[split.train], fs.y[split.train]
    T._seed_everything(config.seed)
    mean, var = standardiser(X_train)
    model = build_head(int(fs.X.shape[1]), n_classes, mean=mean, variance=var, name=name, input_name=input_name,
                       **head_options)
    mix = Mixup(config.mixup) if config.mixup > 0 else None
    history, train_seconds = T._fit(
        model, config, X_train, y_train, fs.X[split.val], fs.y[split.val], n_classes=n_classes,
        rng=np.random.default_rng([config.seed, test_fold]), spec_augment=None, mixup=mix,
        fold=test_fold, on_epoch=on_epoch,
    )
    best_epoch = T._best_epoch(config, history)
    y_test = fs.y[split.test]
    y_pred = T._predict(model, fs.X[split.test], batch_size=256)
    metrics = classification_metrics(y_test, y_pred, classes=fs.classes)
    result = T.FoldResult(
        fold=test_fold, metrics=metrics, history=history, train_seconds=train_seconds,
        epochs_run=len(history.get("loss", [])), best_epoch=best_epoch, n_train=len(split.train),
        n_val=len(split.val), n_test=len(split.test), n_augmented=0, y_true=y_test, y_pred=y_pred, model=model,
    )
    if out_dir is not None:
        from animalsnd.bundle import save_bundle

        result.model_dir = save_bundle(
            out_dir, model=model, classes=fs.classes, cfg=fs.cfg, input_meta=input_meta,
            train_options=config.to_dict(), fingerprint=fs.fingerprint, cache_dir=cache_dir or fs.cache_dir,
            test_fold=test_fold, test_shas=[fs.shas[i] for i in split.test],
            metrics={**metrics, "train_seconds": round(train_seconds, 2)}, history=history,
            extra={"training": {k: v for k, v in result.summary().items() if k.startswith(("n_", "epochs"))}
                   | {"best_epoch": best_epoch, "n_folds": fs.n_folds, "fold_seed": fs.seed}},
            export_tflite=export_tflite,
        )
    return result
