"""Which clips a fold trains, validates and tests on, and how classes are weighted.

For a test fold ``k`` the clips of fold ``k`` are never seen in training. A
stratified, seeded part (``val_fraction``) of the remaining folds is held out
for validation. Augmented copies join a training split only when the clip they
were made from is in it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from animalsnd.errors import ConfigError, DatasetError

__all__ = [
    "AugmentedData", "Split", "check_test_fold", "checked_split", "class_weights_for", "labelled_clips",
    "select_augmented", "select_shots", "split_fold", "stratified_holdout", "training_set",
]


@dataclass(frozen=True)
class Split:
    """Row indices of one fold's training, validation and test parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass
class AugmentedData:
    """Augmented training copies: features, class ids, source clip hashes."""

    X: np.ndarray
    y: np.ndarray
    source_shas: list[str]
    name: str = ""  # the set's name: the vector models re-render its copies from its manifest


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


def checked_split(fs, config, test_fold: int) -> Split:
    """:func:`split_fold` for a feature set, refusing empty test or training parts.

    ``config`` gives ``val_fraction`` and ``seed`` (a ``TrainConfig``).
    """
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


def training_set(fs, split: Split, augmented: AugmentedData | None) -> tuple[np.ndarray, np.ndarray, int]:
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


def labelled_clips(train: np.ndarray, y: np.ndarray, config, test_fold: int) -> np.ndarray:
    """The rows of ``train`` whose labels a fold uses: ``config.shots`` per class (0: all).

    Drawn with the seed ``config.seed * 1000 + test_fold``, so every model that
    takes ``--shots`` (protonet, birdnet-head, stats-mlp) labels the same clips.
    """
    return train[select_shots(y[train], config.shots, seed=config.seed * 1000 + test_fold)]


def shots_note(shots: int, all_clips: str = "") -> str:
    """How many labelled clips per class a model trains on, for a recipe line (``all_clips`` when 0)."""
    return f"{shots} shot{'s' * (shots != 1)} per class" if shots else all_clips


def select_shots(y: np.ndarray, shots: int, *, seed: int) -> np.ndarray:
    """Indices of ``shots`` random items per class (all of a smaller class); 0: all.

    Returns
    -------
    np.ndarray, int, sorted
    """
    y = np.asarray(y)
    if shots <= 0:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    out = [rng.permutation(np.flatnonzero(y == c))[:shots] for c in np.unique(y)]
    return np.sort(np.concatenate(out)) if out else np.zeros(0, int)
