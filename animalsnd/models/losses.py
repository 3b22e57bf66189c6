"""Losses for small, imbalanced data: cross-entropy, focal, class-balanced.

All three are one serialisable class, :class:`WeightedFocalCrossentropy`,
registered as ``animalsnd>WeightedFocalCrossentropy``: a model saved with its
compile state reloads once this module has been imported
(:func:`animalsnd.models.load_model` does that). Labels may be integer class
ids (shape ``(batch,)`` or ``(batch, 1)``) or one-hot / soft targets (shape
``(batch, n_classes)``); predictions are softmax probabilities.

Importing this module imports Keras (unlike :mod:`animalsnd.models`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from animalsnd.errors import ConfigError

__all__ = [
    "LOSS_NAMES",
    "WeightedFocalCrossentropy",
    "class_balanced_weights",
    "focal_loss",
    "get_loss",
]

LOSS_NAMES: tuple[str, ...] = ("ce", "focal", "class-balanced")


def class_balanced_weights(
    counts: Sequence[int] | np.ndarray, beta: float = 0.999
) -> np.ndarray:
    """Per-class weights from the "effective number of samples".

    Cui et al., *Class-Balanced Loss Based on Effective Number of Samples*
    (CVPR 2019): ``E_n = (1 - beta**n) / (1 - beta)`` and ``w = 1 / E_n``,
    normalised so the weights sum to the number of classes. ``beta = 0``
    gives equal weights, ``beta -> 1`` inverse-frequency weights. A class
    with a count of 0 is treated as having one example.
    """
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    if counts.size == 0:
        raise ConfigError("class counts are empty")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ConfigError(f"class counts must be finite and >= 0, got {counts.tolist()}")
    if not 0.0 <= beta < 1.0:
        raise ConfigError(f"beta must be in [0, 1), got {beta}")
    n = np.maximum(counts, 1.0)
    weights = (1.0 - beta) / (1.0 - np.power(beta, n))
    return (weights / weights.sum() * counts.size).astype(np.float32)


@keras.saving.register_keras_serializable(package="animalsnd")
class WeightedFocalCrossentropy(keras.losses.Loss):
    """Softmax cross-entropy with an optional focal term and class weights.

    ``loss_i = alpha * w[y_i] * sum_c -t_ic * (1 - p_ic)**gamma * log(p_ic)``

    where ``t`` is the (optionally label-smoothed) target and ``w[y_i]`` the
    weight of the sample's true class (``sum_c w_c * y_ic`` for soft
    labels); the batch loss is the mean over samples.

    * ``gamma=0``, no weights: plain categorical cross-entropy.
    * ``gamma>0``: focal loss (Lin et al. 2017).
    * ``class_weights``: class-balanced loss (Cui et al. 2019), or the
      per-class ``alpha`` of the focal loss.
    """

    def __init__(
        self,
        gamma: float = 0.0,
        class_weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        label_smoothing: float = 0.0,
        name: str = "weighted_focal_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if gamma < 0:
            raise ConfigError(f"focal gamma must be >= 0, got {gamma}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.gamma = float(gamma)
        self.class_weights = (
            None if class_weights is None else [float(w) for w in class_weights]
        )
        self.alpha = float(alpha)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        n_classes = y_pred.shape[-1]
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) < len(y_pred.shape) or (
            y_true.shape[-1] == 1 and n_classes != 1
        ):
            y_true = ops.reshape(y_true, (-1,))
            y_true = ops.one_hot(ops.cast(y_true, "int32"), n_classes)
        y_true = ops.cast(y_true, y_pred.dtype)

        sample_w = None
        if self.class_weights is not None:
            w = ops.convert_to_tensor(self.class_weights, dtype=y_pred.dtype)
            sample_w = ops.sum(y_true * w, axis=-1)

        if self.label_smoothing > 0:
            ls = self.label_smoothing
            y_true = y_true * (1.0 - ls) + ls / n_classes

        eps = keras.backend.epsilon()
        p = ops.clip(y_pred, eps, 1.0 - eps)
        ce = -y_true * ops.log(p)
        if self.gamma > 0:
            ce = ops.power(1.0 - p, self.gamma) * ce
        loss = ops.sum(ce, axis=-1)
        if sample_w is not None:
            loss = loss * sample_w
        if self.alpha != 1.0:
            loss = loss * self.alpha
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            gamma=self.gamma,
            class_weights=self.class_weights,
            alpha=self.alpha,
            label_smoothing=self.label_smoothing,
        )
        return config


def focal_loss(
    gamma: float = 2.0,
    alpha: float | Sequence[float] | None = None,
    *,
    label_smoothing: float = 0.0,
) -> WeightedFocalCrossentropy:
    """Categorical focal loss (Lin et al. 2017).

    ``alpha`` is ``None`` (no weighting), one number (scales every class'
    loss, as in Keras' ``CategoricalFocalCrossentropy``) or one weight per
    class.
    """
    if alpha is None or np.ndim(alpha) == 0:
        return WeightedFocalCrossentropy(
            gamma=gamma,
            alpha=1.0 if alpha is None else float(alpha),
            label_smoothing=label_smoothing,
            name="focal",
        )
    return WeightedFocalCrossentropy(
        gamma=gamma,
        class_weights=[float(a) for a in alpha],
        label_smoothing=label_smoothing,
        name="focal",
    )


def get_loss(
    name: str,
    *,
    label_smoothing: float = 0.0,
    class_counts: Sequence[int] | np.ndarray | None = None,
    gamma: float = 2.0,
    beta: float = 0.999,
) -> WeightedFocalCrossentropy:
    """The loss behind ``--loss ce|focal|class-balanced``.

    * ``ce``: categorical cross-entropy.
    * ``focal``: focal loss with ``gamma``; unweighted.
    * ``class-balanced``: cross-entropy weighted per class by
      :func:`class_balanced_weights` of ``class_counts`` (the training
      split's examples per class, in label order) with ``beta``.

    ``label_smoothing`` applies to all three.
    """
    if name == "ce":
        return WeightedFocalCrossentropy(label_smoothing=label_smoothing, name="ce")
    if name == "focal":
        return focal_loss(gamma, None, label_smoothing=label_smoothing)
    if name == "class-balanced":
        if class_counts is None:
            raise ConfigError("the class-balanced loss needs the class counts")
        weights = class_balanced_weights(class_counts, beta)
        return WeightedFocalCrossentropy(
            class_weights=weights.tolist(),
            label_smoothing=label_smoothing,
            name="class_balanced",
        )
    raise ConfigError(f"unknown loss {name!r}; available: {', '.join(LOSS_NAMES)}")
