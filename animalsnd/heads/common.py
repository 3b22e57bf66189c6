"""What the models on per-clip vectors (BirdNET embeddings, clip descriptors) share:
training a dense head on them, and the fold-averaging predictor around their bundles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from animalsnd.errors import BundleError, ConfigError

__all__ = ["VectorPredictor", "fit_vector_head"]


class VectorPredictor:
    """Fold bundles of one vector-input model behind the predictor interface (probabilities averaged).

    Subclasses set ``kind``, ``name`` and ``cfg`` and implement ``window_plan``
    and ``scan``; ``_warm()`` runs once in the loading thread after the models.
    """

    kind = ""
    name = ""

    def __init__(self, bundles: Sequence, *, runtime: str = "auto", check: Callable | None = None) -> None:
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


def fit_vector_head(fs, *, config, test_fold: int, input_meta: dict, defaults: dict, name: str, input_name: str,
                    augmented=None, aug_msg: str = "", out_dir=None, cache_dir=None, export_tflite: bool = False,
                    on_epoch=None, copies=None):
    """Train a dense head on per-clip vectors ``fs.X`` (n, d) on every fold but ``test_fold``.

    The head is :func:`animalsnd.heads.birdnet_head.build_head` with
    ``defaults`` updated by ``config.model_options`` (any other key is a
    ConfigError), standardised on the training split; training follows
    ``config`` (class weights, mixup, early stopping, LR schedule).
    ``copies`` (:class:`animalsnd.augment.vectors.CopyVectors`, the vectors
    of an augmented set's noisy copies) adds the copies of the training clips
    to the training data; log-Mel ``augmented`` copies without them are
    refused with ``aug_msg``. Same contract as
    :func:`animalsnd.train.train_fold`: a FoldResult, and the bundle in
    ``out_dir`` when given. ``config.shots`` > 0 keeps that many training
    clips per class (:func:`animalsnd.fewshot.labelled_clips`).
    """
    from animalsnd import train as T
    from animalsnd.augment import Mixup
    from animalsnd.heads.birdnet_head import build_head, standardiser
    from animalsnd.metrics import classification_metrics

    if augmented is not None and len(augmented.X) and copies is None:
        raise ConfigError(aug_msg)
    unknown = sorted(set(config.model_options) - set(defaults))
    if unknown:
        raise ConfigError(f"model {config.model!r} has no option(s) {', '.join(unknown)}; "
                          f"available: {', '.join(sorted(defaults))}")
    n_classes = len(fs.classes)
    split = T.checked_split(fs, config, test_fold)
    if config.shots:  # a few-shot evaluation: the same labelled clips as protonet's
        from animalsnd.fewshot import labelled_clips

        split = replace(split, train=labelled_clips(split.train, fs.y, config, test_fold))
    X_train, y_train = fs.X[split.train], fs.y[split.train]
    n_aug = 0
    if copies is not None:  # noisy copies of this split's training clips only
        X_aug, y_aug = copies.for_training({fs.shas[i] for i in split.train}, list(fs.classes))
        X_train, y_train, n_aug = np.concatenate([X_train, X_aug]), np.concatenate([y_train, y_aug]), len(y_aug)
    T._seed_everything(config.seed)
    mean, var = standardiser(X_train)
    model = build_head(int(fs.X.shape[1]), n_classes, mean=mean, variance=var, name=name, input_name=input_name,
                       **{**defaults, **config.model_options})
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
        n_val=len(split.val), n_test=len(split.test), n_augmented=n_aug, y_true=y_test, y_pred=y_pred, model=model,
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
