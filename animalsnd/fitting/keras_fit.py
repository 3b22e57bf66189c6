"""Fitting a Keras model on one fold: batches, the fit loop, its results and its bundle.

Batches come from a seeded NumPy generator (shuffling, SpecAugment, mixup), so
the same seed gives the same batches and, on a CPU, the same metrics.
``config`` is a :class:`animalsnd.train.TrainConfig` (read, never built here).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.bundle import import_tensorflow, keras_numpy_notice_silenced
from animalsnd.fitting.splits import Split, class_weights_for
from animalsnd.metrics import SUMMARY_KEYS, classification_metrics

__all__ = [
    "ROBUST", "EpochCallback", "EpochStats", "FoldResult", "batches", "best_epoch", "cycle", "fit", "fold_result", "free_keras",
    "optimizer", "predict_classes", "save_fold", "seed_everything",
]


#: The robust training recipe (TrainConfig options) the families start from: AdamW, class weights,
#: SpecAugment, early stopping and a learning rate halved on plateaus.
ROBUST = dict(
    epochs=60, optimizer="adamw", lr=1e-3, weight_decay=1e-4, class_weights=True,
    spec_augment=True, early_stopping=True, patience=6, lr_schedule=True,
)


# ------------------------------------------------------------------ batches
def batches(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    batch_size: int,
    rng: np.random.Generator,
    spec_augment=None,
    mixup=None,
    class_weights: np.ndarray | None = None,
    floor_shift=None,
) -> Iterator[tuple]:
    """Endless training batches: a fresh permutation per epoch, then augment.

    Parameters
    ----------
    X : np.ndarray, shape (n, frames, n_mels)
    Y : np.ndarray, shape (n, n_classes)
        One-hot labels.
    rng : np.random.Generator
        The only source of randomness (shuffles, masks, mixup weights).
    spec_augment : SpecAugment, optional
    mixup : Mixup, optional
    floor_shift : FloorShift, optional
        Applied before SpecAugment: a raised background, then masks.
    class_weights : np.ndarray, shape (n_classes,), optional
        When given, yields sample weights ``Y_batch @ class_weights``.

    Yields
    ------
    (x, y) or (x, y, sample_weight)
        float32 arrays; an epoch is ``ceil(n / batch_size)`` batches.
    """
    n = len(X)
    while True:
        perm = rng.permutation(n)
        for s in range(0, n, batch_size):
            idx = perm[s : s + batch_size]
            xb, yb = X[idx], Y[idx]
            if floor_shift is not None:
                xb = floor_shift.apply_batch(xb, rng)
            if spec_augment is not None:
                xb = spec_augment.apply_batch(xb, rng)
            if mixup is not None:
                xb, yb = mixup.apply_batch(xb, yb, rng)
            xb = np.asarray(xb, dtype=np.float32)
            yb = np.asarray(yb, dtype=np.float32)
            if class_weights is None:
                yield xb, yb
            else:
                yield xb, yb, (yb @ class_weights).astype(np.float32)


def cycle(X: np.ndarray, Y: np.ndarray, *, batch_size: int) -> Iterator[tuple]:
    """Endless ``(x, y)`` batches of ``X``, in order (validation data).

    Batches are copies, not views: Keras keeps the last batches it read after
    ``fit``, and a view would keep all of ``X`` alive with them."""
    while True:
        for s in range(0, len(X), batch_size):
            yield X[s : s + batch_size].copy(), Y[s : s + batch_size].copy()


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class EpochStats:
    """What the progress callback receives after each epoch."""

    fold: int
    epoch: int  # 1-based
    epochs: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float


EpochCallback = Callable[[EpochStats], None]


@dataclass
class FoldResult:
    """One trained fold: its metrics on the held-out fold and where it went."""

    fold: int
    metrics: dict
    history: dict[str, list[float]]
    train_seconds: float
    epochs_run: int
    best_epoch: int | None
    n_train: int
    n_val: int
    n_test: int
    n_augmented: int
    y_true: np.ndarray
    y_pred: np.ndarray
    model_dir: Path | None = None
    model: object = field(default=None, repr=False)

    def summary(self) -> dict:
        return {
            "fold": self.fold,
            **{k: self.metrics[k] for k in SUMMARY_KEYS},
            "train_seconds": round(self.train_seconds, 2),
            "epochs": self.epochs_run,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "n_augmented": self.n_augmented,
        }


def fold_result(model, fs, split: Split, *, test_fold: int, history: dict, train_seconds: float,
                best_epoch: int | None, n_train: int, n_augmented: int, batch_size: int = 64) -> FoldResult:
    """Score ``model`` on the split's test clips of ``fs`` and gather the fold's result."""
    y_test = fs.y[split.test]
    y_pred = predict_classes(model, fs.X[split.test], batch_size=batch_size)
    return FoldResult(
        fold=test_fold, metrics=classification_metrics(y_test, y_pred, classes=fs.classes), history=history,
        train_seconds=train_seconds, epochs_run=len(history.get("loss", [])), best_epoch=best_epoch,
        n_train=n_train, n_val=len(split.val), n_test=len(split.test), n_augmented=n_augmented,
        y_true=y_test, y_pred=y_pred, model=model,
    )


def save_fold(out_dir, result: FoldResult, fs, split: Split, config, *, training: dict, cache_dir=None,
              export_tflite: bool = False, input_meta: dict | None = None, extra: dict | None = None,
              files: dict[str, bytes] | None = None) -> Path:
    """Save a fold's model as a bundle in ``out_dir``; ``training`` adds to its ``training`` section,
    ``files`` are more files it owns (:func:`animalsnd.bundle.save_bundle`)."""
    from animalsnd.bundle import save_bundle

    summary = {k: v for k, v in result.summary().items() if k.startswith(("n_", "epochs"))}
    return save_bundle(
        out_dir, model=result.model, classes=fs.classes, cfg=fs.cfg, input_meta=input_meta,
        train_options=config.to_dict(), fingerprint=fs.fingerprint, cache_dir=cache_dir,
        test_fold=result.fold, test_shas=[fs.shas[i] for i in split.test],
        metrics={**result.metrics, "train_seconds": round(result.train_seconds, 2)}, history=result.history,
        extra={"training": summary | training, **(extra or {})}, export_tflite=export_tflite, files=files,
    )


# ------------------------------------------------------------------ fitting
def optimizer(config):
    """The Keras optimizer of ``config`` (Adam, or AdamW with its weight decay)."""
    import keras

    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=config.lr, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(learning_rate=config.lr)


def _callbacks(config, *, fold: int, has_val: bool, on_epoch: EpochCallback | None):
    import keras

    monitor = "val_loss" if has_val else "loss"

    class _Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            lr = float(self.model.optimizer.learning_rate.numpy())
            logs["lr"] = lr
            if on_epoch is not None:
                on_epoch(EpochStats(
                    fold=fold, epoch=epoch + 1, epochs=config.epochs,
                    loss=float(logs.get("loss", float("nan"))),
                    accuracy=float(logs.get("accuracy", float("nan"))),
                    val_loss=_opt_float(logs.get("val_loss")),
                    val_accuracy=_opt_float(logs.get("val_accuracy")),
                    lr=lr,
                ))

    cbs: list = [_Progress()]
    if config.early_stopping:
        cbs.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=config.patience, restore_best_weights=True))
    if config.lr_schedule:
        cbs.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=config.lr_factor, patience=config.lr_patience,
            min_lr=config.min_lr, verbose=0))
    return cbs


def _opt_float(v) -> float | None:
    return None if v is None else float(v)


def seed_everything(seed: int) -> None:
    """Seed Keras, NumPy and Python for one run, and make TensorFlow's ops deterministic."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    try:  # the seeds of layers built without one: from this run's own generator, not Python's
        # global one, which other threads of the process (a Dask worker's event loop) draw from too
        from keras.src.random import seed_generator

        seed_generator.python_random = random.Random(seed)
    except (ImportError, AttributeError):  # pragma: no cover - another Keras layout
        pass
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - older TF without the switch
        pass


def predict_classes(model, X: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Arg-max class of ``model`` for every row of ``X``."""
    if len(X) == 0:
        return np.zeros((0,), dtype=int)
    out = [np.asarray(model(X[i : i + batch_size], training=False)) for i in range(0, len(X), batch_size)]
    return np.concatenate(out).argmax(axis=1)


def fit(
    model, config, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
    n_classes: int, rng: np.random.Generator, spec_augment, mixup, fold: int, floor_shift=None,
    on_epoch: EpochCallback | None,
) -> tuple[dict[str, list[float]], float]:
    """Compile and fit ``model``; returns the history and the seconds it took."""
    import keras

    from animalsnd.models.losses import get_loss

    eye = np.eye(n_classes, dtype=np.float32)
    model.compile(
        optimizer=optimizer(config),
        loss=get_loss(config.loss, label_smoothing=config.label_smoothing,
                      class_counts=np.bincount(y, minlength=n_classes)),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    cw = class_weights_for(y, n_classes) if config.class_weights else None
    gen = batches(X, eye[y], batch_size=config.batch_size, rng=rng,
                  spec_augment=spec_augment, mixup=mixup, class_weights=cw, floor_shift=floor_shift)
    val, val_steps = None, None
    if len(X_val):
        # a generator, not arrays: Keras' array pipeline logs a tf.data notice
        # to stderr under op determinism
        val = cycle(X_val, eye[y_val], batch_size=64)
        val_steps = math.ceil(len(X_val) / 64)
    t0 = time.perf_counter()
    try:
        with keras_numpy_notice_silenced():
            hist = model.fit(
                gen, steps_per_epoch=math.ceil(len(X) / config.batch_size), epochs=config.epochs,
                validation_data=val, validation_steps=val_steps, shuffle=False, verbose=0,
                callbacks=_callbacks(config, fold=fold, has_val=val is not None, on_epoch=on_epoch),
            )
    finally:
        # Keras' data adapter keeps a reference to an endless generator after fit; closed, its
        # frame lets go of the training arrays (else a process training run after run keeps
        # every run's training set: 0.35 GB a run of compare's default table)
        for g in (gen, val):
            if g is not None:
                g.close()
    seconds = time.perf_counter() - t0
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}, seconds


def best_epoch(config, history: dict[str, list[float]]) -> int | None:
    """1-based epoch whose weights early stopping restored (None without early stopping)."""
    key = "val_loss" if "val_loss" in history else "loss"
    if not config.early_stopping or not history.get(key):
        return None
    return int(np.argmin(history[key])) + 1


def free_keras() -> None:
    """Drop Keras' global state and collect garbage (between runs of one process)."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
