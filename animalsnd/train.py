"""Train a model on a prepared cache: one held-out fold, or every fold in turn.

For a test fold ``k`` the clips of fold ``k`` are never seen in training. A
stratified, seeded part (``val_fraction``) of the remaining folds is held out
for validation, which only drives early stopping and the learning-rate
schedule. Batches come from a seeded NumPy generator (shuffling, SpecAugment,
mixup), so the same seed gives the same folds, batches and, on a CPU, the
same metrics.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from animalsnd.bundle import import_tensorflow, keras_numpy_notice_silenced
from animalsnd.config import FeatureConfig
from animalsnd.errors import AnimalsndError, ConfigError, DatasetError
from animalsnd.metrics import SUMMARY_KEYS, aggregate, classification_metrics
from animalsnd.models import MODEL_NAMES as _KERAS_MODELS

#: Every ``--model``: the log-Mel architectures of :mod:`animalsnd.models`,
#: a head on BirdNET embeddings (:mod:`animalsnd.heads.birdnet_head`) and the
#: self-supervised prototype classifier (:mod:`animalsnd.fewshot`) and a
#: network on clip descriptors (:mod:`animalsnd.heads.stats_head`).
MODEL_NAMES: tuple[str, ...] = (*_KERAS_MODELS, "birdnet-head", "protonet", "stats-mlp")

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")
LOSSES: tuple[str, ...] = ("ce", "focal", "class-balanced")  # animalsnd.models.losses

# Per-model training recipes; every None option of TrainConfig.for_model
# falls back to these. ``cnn1d`` is the study's baseline recipe: Adam, plain
# cross-entropy, no class weights, no augmentation, a fixed number of epochs
# and the weights of the last epoch. The other models get the robust recipe.
_ROBUST = dict(
    epochs=60, optimizer="adamw", lr=1e-3, weight_decay=1e-4, class_weights=True,
    spec_augment=True, early_stopping=True, patience=6, lr_schedule=True,
)
MODEL_DEFAULTS: dict[str, dict] = {
    "cnn1d": dict(
        epochs=40, optimizer="adam", lr=1e-3, weight_decay=0.0, class_weights=False,
        spec_augment=False, early_stopping=False, patience=6, lr_schedule=False,
    ),
    "cnn1d-enhanced": dict(_ROBUST),
    "alexnet-mel": dict(_ROBUST),
    "transformer-mel": dict(_ROBUST, lr=5e-4, epochs=80, patience=10),
    # epochs of the head on frozen embeddings (cheap: ~0.1 s per epoch)
    # like a logistic regression: every training clip, a fixed number of epochs, an L2 penalty
    "birdnet-head": dict(_ROBUST, spec_augment=False, epochs=200, early_stopping=False, val_fraction=0.0,
                         lr_patience=8),
    # a small network on 491 clip statistics (~0.05 s per epoch): every training clip is used for
    # fitting (no validation part) for a fixed 150 epochs, chosen by 5-fold CV (docs/results.md)
    "stats-mlp": dict(_ROBUST, spec_augment=False, epochs=150, early_stopping=False, val_fraction=0.0,
                      lr_patience=8),
    # epochs = contrastive pretraining epochs; spec_augment = SpecAugment in the views
    "protonet": dict(
        epochs=40, finetune_epochs=10, optimizer="adam", lr=1e-3, weight_decay=0.0, class_weights=False,
        spec_augment=True, early_stopping=False, patience=6, lr_schedule=False,
        val_fraction=0.0, batch_size=64,
    ),
}
# Named recipes: overrides of a model's defaults (``--recipe NAME``); explicit
# options override them in turn. ``tuned`` is the cnn1d-enhanced recipe that
# 5-fold cross-validation on animal-sounds-10 chose (docs/results.md): smaller
# batches, more patience, lighter SpecAugment and less dropout.
RECIPES: dict[str, dict[str, dict]] = {
    "cnn1d-enhanced": {
        "tuned": dict(
            batch_size=16, patience=15, epochs=100, time_width=20, freq_width=8, freq_masks=1,
            model_options={"spatial_dropout": 0.0, "head_dropout": 0.2, "dense_dropout": 0.2},
        ),
    },
}


def recipe_names(model: str) -> tuple[str, ...]:
    """The recipes ``--model model`` accepts: ``default`` and its named ones."""
    return ("default", *RECIPES.get(model, {}))


# Bumped when a model's architecture or features change in a way no training
# option records, so results stored under the old revision (compare runs) are
# not reused. Revision 1 is implicit.
#   alexnet-mel 2: BatchNorm momentum 0.9 (was 0.99)
#   birdnet-head 2: double-speed view of every window (2048-d), linear head
#   birdnet-head 3: L2 penalty instead of noise and dropout, no validation part, 200 fixed epochs
MODEL_REVISIONS: dict[str, int] = {"alexnet-mel": 2, "birdnet-head": 3}


def model_revision(model: str) -> int:
    """The revision of ``model``'s architecture and features (1 unless bumped)."""
    return MODEL_REVISIONS.get(model, 1)


# options that only one model family reads: left out of other models' to_dict()
_MODEL_OPTIONS: dict[str, tuple[str, ...]] = {
    "pool": ("birdnet-head",), "shots": ("protonet", "birdnet-head", "stats-mlp"), "unlabeled": ("protonet",),
    "finetune_epochs": ("protonet",),
    "floor_shift": _KERAS_MODELS,  # the log-Mel models
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained (not the data).

    Build it with :meth:`for_model`, which fills unset options with the
    model's defaults (:data:`MODEL_DEFAULTS`).

    ``class_weights`` are inverse class frequencies of the training split,
    scaled so the average weight over the training examples is 1 (the loss
    keeps its scale). ``early_stopping`` stops after ``patience`` epochs
    without a lower validation loss and restores the best epoch's weights;
    ``lr_schedule`` halves the learning rate after ``lr_patience`` such epochs
    (ReduceLROnPlateau, down to ``min_lr``). With ``val_fraction=0`` both
    watch the training loss instead. ``model_options`` go to the model's
    builder (layer sizes, dropout rates; see :mod:`animalsnd.models`).
    """

    model: str
    epochs: int
    optimizer: str
    lr: float
    weight_decay: float
    class_weights: bool
    spec_augment: bool
    early_stopping: bool
    patience: int
    lr_schedule: bool
    batch_size: int = 32
    time_masks: int = 2
    freq_masks: int = 2
    time_width: int = 40
    freq_width: int = 16
    mixup: float = 0.0
    label_smoothing: float = 0.0
    loss: str = "ce"
    val_fraction: float = 0.1
    seed: int = 0
    lr_factor: float = 0.5
    lr_patience: int = 3
    min_lr: float = 1e-6
    model_options: dict = field(default_factory=dict)
    pool: str = "meanmax"  # birdnet-head: pooling of a clip's window embeddings (chosen by CV)
    shots: int = 0  # protonet, birdnet-head, stats-mlp: labelled training clips per class (0: all)
    unlabeled: str = ""  # protonet: folder of extra unlabelled audio for pretraining
    finetune_epochs: int = 0  # protonet: episodic fine-tuning epochs after pretraining
    floor_shift: float = 0.0  # dB; random background floors on --norm floor features (0: off)

    def __post_init__(self) -> None:
        if not isinstance(self.model_options, dict):
            raise ConfigError(f"model_options={self.model_options!r} must be a dict")
        if self.model not in MODEL_NAMES:
            raise ConfigError(f"unknown model {self.model!r}; available: {', '.join(MODEL_NAMES)}")
        for name in ("epochs", "batch_size", "patience", "lr_patience"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name.replace('_', '-')}={v!r} must be a positive integer")
        for name in ("time_masks", "freq_masks", "time_width", "freq_width", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name.replace('_', '-')}={v!r} must be a non-negative integer")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer={self.optimizer!r} must be one of: {', '.join(OPTIMIZERS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss={self.loss!r} must be one of: {', '.join(LOSSES)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr={self.lr!r} must be a positive number")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight-decay={self.weight_decay!r} must be >= 0")
        if self.optimizer == "adam" and self.weight_decay > 0:
            raise ConfigError("weight-decay needs --optimizer adamw (adam has no decoupled weight decay)")
        if not (math.isfinite(self.mixup) and self.mixup >= 0):
            raise ConfigError(f"mixup={self.mixup!r} must be >= 0 (0 = off)")
        if isinstance(self.floor_shift, bool) or not isinstance(self.floor_shift, (int, float)) \
                or not (math.isfinite(self.floor_shift) and self.floor_shift >= 0):
            raise ConfigError(f"floor-shift={self.floor_shift!r} must be a number of dB >= 0 (0 = off)")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label-smoothing={self.label_smoothing!r} must be in [0, 1)")
        if not 0 <= self.val_fraction <= 0.5:
            raise ConfigError(f"val-fraction={self.val_fraction!r} must be in [0, 0.5]")
        if not (0 < self.lr_factor < 1):
            raise ConfigError(f"lr_factor={self.lr_factor!r} must be in (0, 1)")
        if self.class_weights and self.loss == "class-balanced":
            raise ConfigError(
                "--class-weights and --loss class-balanced both reweight classes; use one"
            )
        from animalsnd.backbones.birdnet import POOL_METHODS

        if self.pool not in POOL_METHODS:
            raise ConfigError(f"pool={self.pool!r} must be one of: {', '.join(POOL_METHODS)}")
        for name in ("shots", "finetune_epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name.replace('_', '-')}={v!r} must be a non-negative integer")
        for name, models in _MODEL_OPTIONS.items():
            default = next(f.default for f in fields(self) if f.name == name)
            if self.model not in models and getattr(self, name) != default:
                raise ConfigError(f"--{name.replace('_', '-')} applies to --model {' or '.join(models)} only")
        if self.shots and self.val_fraction:
            raise ConfigError(f"--shots {self.shots} with --val-fraction {self.val_fraction:g} would use more labelled "
                              "clips than the shots; use --val-fraction 0")

    @classmethod
    def for_model(cls, model: str, *, recipe: str = "default", **options) -> "TrainConfig":
        """The model's recipe, with every non-None option overriding it.

        ``recipe`` names one of :data:`RECIPES` for the model (``default``:
        :data:`MODEL_DEFAULTS` alone). Its ``model_options`` are merged with
        the given ones key by key. With ``loss="class-balanced"`` class weights
        default to off (the loss already weights classes).
        """
        if model not in MODEL_DEFAULTS:
            raise ConfigError(f"unknown model {model!r}; available: {', '.join(MODEL_NAMES)}")
        if recipe not in recipe_names(model):
            raise ConfigError(f"unknown recipe {recipe!r} for --model {model}; "
                              f"available: {', '.join(recipe_names(model))}")
        known = {f.name for f in fields(cls)} - {"model"}
        unknown = set(options) - known
        if unknown:
            raise ConfigError(f"unknown training options: {', '.join(sorted(unknown))}")
        given = {k: v for k, v in options.items() if v is not None}
        base = dict(MODEL_DEFAULTS[model])
        if recipe != "default":
            named = dict(RECIPES[model][recipe])
            merged = {**named.pop("model_options", {}), **(given.get("model_options") or {})}
            base.update(named)
            if merged:
                given["model_options"] = merged
        if given.get("loss") == "class-balanced":
            base["class_weights"] = False
        if given.get("optimizer") == "adam" and "weight_decay" not in given:
            base["weight_decay"] = 0.0
        return cls(model=model, **{**base, **given})

    def to_dict(self) -> dict:
        d = asdict(self)
        for name, models in _MODEL_OPTIONS.items():
            if self.model not in models:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown training options: {', '.join(sorted(unknown))}")
        return cls(**d)


# ------------------------------------------------------------------ splits
@dataclass(frozen=True)
class Split:
    """Row indices of one fold's training, validation and test parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_holdout(y: np.ndarray, *, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask picking ``fraction`` of each class, at random.

    Each class gives ``round(fraction * n_c)`` items, at least one when
    ``fraction > 0`` and never all of them (a class of one stays in training).

    Returns
    -------
    np.ndarray, shape (len(y),), bool
    """
    y = np.asarray(y)
    mask = np.zeros(len(y), dtype=bool)
    if fraction <= 0:
        return mask
    rng = np.random.default_rng(seed)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = min(max(1, int(math.floor(fraction * len(idx) + 0.5))), len(idx) - 1)
        if k > 0:
            mask[rng.permutation(idx)[:k]] = True
    return mask


def check_test_fold(test_fold: int, n_folds: int) -> None:
    """Raise a one-line ConfigError when ``test_fold`` is not a fold of the cache."""
    if not 0 <= test_fold < n_folds:
        raise ConfigError(
            f"test fold {test_fold} is out of range; the cache has {n_folds} folds (0-{n_folds - 1})"
        )


def checked_split(fs, config: "TrainConfig", test_fold: int) -> "Split":
    """:func:`split_fold` for a feature set, refusing empty test or training parts."""
    check_test_fold(test_fold, fs.n_folds)
    split = split_fold(fs.y, fs.folds, test_fold=test_fold,
                       val_fraction=config.val_fraction, seed=config.seed)
    if len(split.test) == 0:
        raise DatasetError(f"test fold {test_fold} has no clips")
    if len(split.train) == 0:
        raise DatasetError(f"no training clips outside test fold {test_fold}")
    return split


def split_fold(
    y: np.ndarray, folds: np.ndarray, *, test_fold: int, val_fraction: float, seed: int
) -> Split:
    """Test = fold ``test_fold``; validation = stratified part of the rest."""
    y, folds = np.asarray(y), np.asarray(folds)
    test = np.flatnonzero(folds == test_fold)
    rest = np.flatnonzero(folds != test_fold)
    val_mask = stratified_holdout(y[rest], fraction=val_fraction, seed=seed * 1000 + test_fold)
    return Split(train=rest[~val_mask], val=rest[val_mask], test=test)


def select_augmented(source_shas: Sequence[str], train_shas: Sequence[str]) -> np.ndarray:
    """Which augmented copies may join a training split.

    A copy is used only when the clip it was made from is in the training part
    (so never a copy of a test or validation clip).

    Returns
    -------
    np.ndarray, shape (len(source_shas),), bool
    """
    allowed = set(train_shas)
    return np.fromiter((s in allowed for s in source_shas), dtype=bool, count=len(source_shas))


def class_weights_for(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weight per class, mean 1 over the examples ``y``.

    ``w_c = n / (n_classes_present * n_c)``; absent classes get weight 1.

    Returns
    -------
    np.ndarray, shape (n_classes,), float32
    """
    counts = np.bincount(np.asarray(y, dtype=int), minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.ones(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w.astype(np.float32)


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


def _cycle(X: np.ndarray, Y: np.ndarray, *, batch_size: int) -> Iterator[tuple]:
    """Endless ``(x, y)`` batches of ``X``, in order (validation data)."""
    while True:
        for s in range(0, len(X), batch_size):
            yield X[s : s + batch_size], Y[s : s + batch_size]


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


@dataclass
class TrainRun:
    """All folds of one ``train`` call."""

    config: TrainConfig
    classes: list[str]
    folds: list[FoldResult]
    cache_dir: Path
    out_dir: Path | None

    def summary(self) -> dict:
        """``{"folds": [...], "mean": {...}, "std": {...}}`` (the --json schema)."""
        rows = [f.summary() for f in self.folds]
        keys = (*SUMMARY_KEYS, "train_seconds")
        mean, std = aggregate(rows, keys=keys)
        return {"model": self.config.model, "folds": rows, "mean": mean, "std": std,
                "config": self.config.to_dict()}

    def pooled_metrics(self) -> dict:
        """Metrics of all held-out predictions together (out-of-fold)."""
        y_true = np.concatenate([f.y_true for f in self.folds])
        y_pred = np.concatenate([f.y_pred for f in self.folds])
        return classification_metrics(y_true, y_pred, classes=self.classes)


# ------------------------------------------------------------------ training
@dataclass
class AugmentedData:
    """Augmented training copies: features, class ids, source clip hashes."""

    X: np.ndarray
    y: np.ndarray
    source_shas: list[str]
    name: str = ""  # the set's name: the vector models re-render its copies from its manifest


def load_augmented_for(cache_dir: Path, name: str, *, classes: list[str], shape) -> AugmentedData:
    """Read an augmented set made by ``animalsnd augment`` for this cache."""
    try:
        from animalsnd.augment.store import load_augmented
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("animalsnd"):
            raise ConfigError(
                f"--augmented {name}: augmented sets are not available in this version"
            ) from None
        raise
    try:
        aug = load_augmented(cache_dir, name)
    except AnimalsndError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{cache_dir}: cannot read augmented set {name!r} ({exc})") from None
    X = np.asarray(aug.X, dtype=np.float32)
    if len(X) and X.shape[1:] != tuple(shape):
        raise DatasetError(
            f"augmented set {name!r} has features of shape {X.shape[1:]}, "
            f"the cache {tuple(shape)}; re-run augment"
        )
    labels = list(getattr(aug, "labels", None) or getattr(aug, "y_labels", []))
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DatasetError(f"augmented set {name!r} has classes not in the cache: {', '.join(unknown)}")
    y = np.array([classes.index(lab) for lab in labels], dtype=int)
    return AugmentedData(X=X, y=y, source_shas=list(aug.source_shas), name=name)


def _optimizer(config: TrainConfig):
    import keras

    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=config.lr, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(learning_rate=config.lr)


def _callbacks(config: TrainConfig, *, fold: int, has_val: bool, on_epoch: EpochCallback | None):
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


def _seed_everything(seed: int) -> None:
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


def _predict(model, X: np.ndarray, batch_size: int = 64) -> np.ndarray:
    if len(X) == 0:
        return np.zeros((0,), dtype=int)
    out = [np.asarray(model(X[i : i + batch_size], training=False)) for i in range(0, len(X), batch_size)]
    return np.concatenate(out).argmax(axis=1)


def train_fold(
    fs,
    *,
    config: TrainConfig,
    test_fold: int,
    out_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    augmented: AugmentedData | None = None,
    export_tflite: bool = False,
    on_epoch: EpochCallback | None = None,
) -> FoldResult:
    """Train on every fold but ``test_fold`` and score the held-out fold.

    Parameters
    ----------
    fs : animalsnd.cache.FeatureSet
        Features ``X`` (n, frames, n_mels), labels, folds and clip hashes.
    config : TrainConfig
    test_fold : int
        The fold held out for testing.
    out_dir : path, optional
        Where to save the bundle (nothing is saved when None).
    augmented : AugmentedData, optional
        Extra training copies; only those made from clips of this fold's
        training part are used.
    on_epoch : callable, optional
        Called with an :class:`EpochStats` after each epoch.
    """
    custom = _custom_train_fold(config.model)
    if custom is not None:
        return custom(fs, config=config, test_fold=test_fold, out_dir=out_dir, cache_dir=cache_dir,
                      augmented=augmented, export_tflite=export_tflite, on_epoch=on_epoch)
    split = checked_split(fs, config, test_fold)
    X_train, y_train, n_aug = _training_set(fs, split, augmented)
    spec, mix = batch_augmenters(config, fs.cfg.shape)
    floor = floor_augmenter(config, fs.cfg)

    _seed_everything(config.seed)
    from animalsnd.models import build_model

    model = build_model(config.model, input_shape=fs.cfg.shape, n_classes=len(fs.classes),
                        seed=config.seed, **config.model_options)
    history, train_seconds = _fit(
        model, config, X_train, y_train, fs.X[split.val], fs.y[split.val], n_classes=len(fs.classes),
        rng=np.random.default_rng([config.seed, test_fold]), spec_augment=spec, mixup=mix,
        floor_shift=floor, fold=test_fold, on_epoch=on_epoch,
    )
    epochs_run = len(history.get("loss", []))
    best_epoch = _best_epoch(config, history)

    y_test = fs.y[split.test]
    y_pred = _predict(model, fs.X[split.test])
    metrics = classification_metrics(y_test, y_pred, classes=fs.classes)
    result = FoldResult(
        fold=test_fold, metrics=metrics, history=history, train_seconds=train_seconds,
        epochs_run=epochs_run, best_epoch=best_epoch, n_train=len(split.train), n_val=len(split.val),
        n_test=len(split.test), n_augmented=n_aug, y_true=y_test, y_pred=y_pred, model=model,
    )
    if out_dir is not None:
        from animalsnd.bundle import save_bundle

        result.model_dir = save_bundle(
            out_dir, model=model, classes=fs.classes, cfg=fs.cfg,
            train_options=config.to_dict(), fingerprint=fs.fingerprint, cache_dir=cache_dir,
            test_fold=test_fold, test_shas=[fs.shas[i] for i in split.test],
            metrics={**metrics, "train_seconds": round(train_seconds, 2)},
            history=history,
            extra={"training": {k: v for k, v in result.summary().items() if k.startswith(("n_", "epochs"))}
                   | {"best_epoch": best_epoch, "n_folds": fs.n_folds, "fold_seed": fs.seed}},
            export_tflite=export_tflite,
        )
    return result


def _training_set(fs, split: Split, augmented: AugmentedData | None) -> tuple[np.ndarray, np.ndarray, int]:
    """The split's training clips plus the augmented copies made from them.

    Returns
    -------
    X : np.ndarray, shape (n, frames, n_mels)
    y : np.ndarray, shape (n,), int
    n_augmented : int
    """
    X, y = fs.X[split.train], fs.y[split.train]
    if augmented is None or not len(augmented.X):
        return X, y, 0
    mask = select_augmented(augmented.source_shas, [fs.shas[i] for i in split.train])
    if not mask.any():
        return X, y, 0
    return np.concatenate([X, augmented.X[mask]]), np.concatenate([y, augmented.y[mask]]), int(mask.sum())


def batch_augmenters(config: TrainConfig, shape: tuple[int, int]):
    """SpecAugment and Mixup for training batches (None when off)."""
    from animalsnd.augment import Mixup, SpecAugment

    frames, n_mels = shape
    spec = None
    if config.spec_augment:
        if config.time_masks and config.time_width >= frames:
            raise ConfigError(f"--time-width {config.time_width} must be smaller than the {frames} frames per clip")
        if config.freq_masks and config.freq_width >= n_mels:
            raise ConfigError(f"--freq-width {config.freq_width} must be smaller than the {n_mels} Mel bands")
        spec = SpecAugment(time_masks=config.time_masks, time_width=config.time_width,
                           freq_masks=config.freq_masks, freq_width=config.freq_width)
    return spec, (Mixup(config.mixup) if config.mixup > 0 else None)


def floor_augmenter(config: TrainConfig, cfg: FeatureConfig):
    """The :class:`~animalsnd.augment.floorshift.FloorShift` of ``--floor-shift`` (None when off).

    Raises
    ------
    ConfigError
        The features were not prepared with ``--norm floor``.
    """
    if not config.floor_shift:
        return None
    if cfg.norm != "floor":
        raise ConfigError(f"--floor-shift needs features prepared with --norm floor (these use {cfg.norm!r})")
    from animalsnd.augment.floorshift import FloorShift

    return FloorShift(max_db=config.floor_shift)


def _fit(
    model, config: TrainConfig, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
    n_classes: int, rng: np.random.Generator, spec_augment, mixup, fold: int, floor_shift=None,
    on_epoch: EpochCallback | None,
) -> tuple[dict[str, list[float]], float]:
    """Compile and fit ``model``; returns the history and the seconds it took."""
    import keras

    from animalsnd.models.losses import get_loss

    eye = np.eye(n_classes, dtype=np.float32)
    model.compile(
        optimizer=_optimizer(config),
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
        val = _cycle(X_val, eye[y_val], batch_size=64)
        val_steps = math.ceil(len(X_val) / 64)
    t0 = time.perf_counter()
    with keras_numpy_notice_silenced():
        hist = model.fit(
            gen, steps_per_epoch=math.ceil(len(X) / config.batch_size), epochs=config.epochs,
            validation_data=val, validation_steps=val_steps, shuffle=False, verbose=0,
            callbacks=_callbacks(config, fold=fold, has_val=val is not None, on_epoch=on_epoch),
        )
    seconds = time.perf_counter() - t0
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}, seconds


def _best_epoch(config: TrainConfig, history: dict[str, list[float]]) -> int | None:
    """1-based epoch whose weights early stopping restored (None without early stopping)."""
    key = "val_loss" if "val_loss" in history else "loss"
    if not config.early_stopping or not history.get(key):
        return None
    return int(np.argmin(history[key])) + 1


def _custom_train_fold(model: str) -> Callable | None:
    """``train_fold`` of a model that is not a log-Mel Keras classifier, else None."""
    if model == "birdnet-head":
        from animalsnd.heads.birdnet_head import train_fold as custom
    elif model == "protonet":
        from animalsnd.fewshot import train_fold as custom
    elif model == "stats-mlp":
        from animalsnd.heads.stats_head import train_fold as custom
    else:
        return None
    return custom


def load_inputs(cache_dir: str | Path, config: TrainConfig, *, jobs: int = -1,
                progress: Callable[[int, int], None] | None = None):
    """What ``config.model`` trains on: the cache's log-Mel features
    (:class:`~animalsnd.cache.FeatureSet`), or for ``birdnet-head`` its pooled
    BirdNET embeddings (:class:`~animalsnd.embeddings.EmbeddingSet`, same rows;
    missing embeddings are computed with ``jobs`` workers, reporting ``progress``).
    """
    if config.model == "birdnet-head":
        from animalsnd.embeddings import load_embedding_set

        return load_embedding_set(cache_dir, pool=config.pool, jobs=jobs, progress=progress)
    if config.model == "stats-mlp":
        from animalsnd.descriptors import load_descriptor_set

        return load_descriptor_set(cache_dir, jobs=jobs, progress=progress)
    from animalsnd.cache import load_features

    return load_features(cache_dir)


def train(
    cache_dir: str | Path,
    out_dir: str | Path | None,
    *,
    config: TrainConfig,
    test_fold: int = 0,
    cv: bool = False,
    augmented: str | None = None,
    export_tflite: bool = False,
    on_epoch: EpochCallback | None = None,
    on_fold_end: Callable[[FoldResult], None] | None = None,
    on_start: Callable[[dict], None] | None = None,
    jobs: int = -1,
    on_embed: Callable[[int, int], None] | None = None,
    cv_jobs: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
) -> TrainRun:
    """Train on a prepared cache; with ``cv`` every fold is held out in turn.

    With ``cv`` one bundle per fold goes to ``out_dir/fold-<k>``; otherwise
    the bundle is ``out_dir`` itself. ``on_start`` receives a summary of the
    data once it is loaded and checked, ``on_epoch`` an :class:`EpochStats`
    per epoch and ``on_fold_end`` each :class:`FoldResult`. ``birdnet-head``
    first embeds the clips not embedded yet (``jobs`` workers, ``on_embed(done,
    total)``). With ``cv``, ``cv_jobs`` worker processes (or ``backend='dask'``
    and a ``scheduler``: one task per fold) train the folds at once
    (:mod:`animalsnd.runpool`): the same results, ``on_fold_end`` as each
    finishes and no ``on_epoch``.

    Raises
    ------
    DatasetError
        Missing or empty cache, empty test fold, unreadable augmented set.
    ConfigError
        Test fold out of range, bad options.
    """
    from animalsnd.runpool import pool_for

    cache_dir = Path(cache_dir)
    if backend == "dask" and not cv:
        raise ConfigError("--backend dask trains the folds of --cv; a single fold trains in this process")
    pool = pool_for(cv_jobs, backend, scheduler)
    fs = load_inputs(cache_dir, config, jobs=jobs, progress=on_embed)
    if len(fs.classes) < 2:
        raise DatasetError(f"{cache_dir}: need at least two classes, found {len(fs.classes)}")
    if not cv:
        check_test_fold(test_fold, fs.n_folds)
    out = Path(out_dir) if out_dir is not None else None
    if cv and out is not None and (out / "bundle.json").exists():
        raise ConfigError(f"{out} holds a single-fold bundle; choose another --out for --cv")
    if cv and out is not None:  # one run per folder: an earlier run's extra folds would be averaged in
        from animalsnd.bundle import remove_stale_folds

        remove_stale_folds(out, fs.n_folds)
    aug = None
    if augmented:
        aug = load_augmented_for(cache_dir, augmented, classes=fs.classes, shape=fs.cfg.shape)
    fold_ids = list(range(fs.n_folds)) if cv else [test_fold]
    if on_start is not None:
        on_start({"n_clips": len(fs), "classes": fs.classes, "n_folds": fs.n_folds, "folds": fold_ids,
                  "n_augmented": 0 if aug is None else len(aug.X)})
    results = []

    def finished(res: FoldResult) -> None:
        res.model = None  # free the model; the bundle has it
        results.append(res)
        if on_fold_end is not None:
            on_fold_end(res)

    if cv and pool.parallel and len(fold_ids) > 1:
        from animalsnd.runpool import run_many, train_fold_run

        tasks = [(str(cache_dir), config, k, None if out is None else str(out / f"fold-{k}"), augmented,
                  export_tflite) for k in fold_ids]
        run_many(train_fold_run, tasks, pool, on_done=lambda i, res: finished(res), name=lambda i: f"fold {fold_ids[i]}")
        results.sort(key=lambda r: r.fold)
    else:
        if cv:  # the threads of a worker's run: the same results as --jobs N
            from animalsnd.runpool import bound_this_process

            bound_this_process()
        for k in fold_ids:
            fold_out = None if out is None else (out / f"fold-{k}" if cv else out)
            finished(train_fold(fs, config=config, test_fold=k, out_dir=fold_out, cache_dir=cache_dir,
                                augmented=aug, export_tflite=export_tflite, on_epoch=on_epoch))
    run = TrainRun(config=config, classes=fs.classes, folds=results, cache_dir=cache_dir, out_dir=out)
    if cv and out is not None:
        import json

        from animalsnd.cache import atomic_write_text

        atomic_write_text(out / "cv.json", json.dumps(run.summary(), indent=2) + "\n")
    return run


__all__ = [
    "MODEL_DEFAULTS", "MODEL_NAMES", "AugmentedData", "EpochStats", "FoldResult", "Split", "TrainConfig",
    "TrainRun", "batches", "class_weights_for", "load_augmented_for", "load_inputs", "select_augmented",
    "split_fold", "stratified_holdout", "train", "train_fold",
]
