"""Train a model on a prepared cache: one held-out fold, or every fold in turn.

* :mod:`animalsnd.train.config` -- :class:`TrainConfig` and the models' recipes;
* :mod:`animalsnd.train.driver` -- :func:`train` and :func:`train_fold`, which ask
  the family registry (:mod:`animalsnd.families`) how to read and train a model.

Splits, class weights, batches and the Keras fit loop, which the families
use too, are in :mod:`animalsnd.fitting`.
"""

from animalsnd.fitting import (
    AugmentedData,
    EpochStats,
    FoldResult,
    Split,
    batches,
    check_test_fold,
    checked_split,
    class_weights_for,
    select_augmented,
    split_fold,
    stratified_holdout,
)
from animalsnd.train.config import (
    LOSSES,
    MODEL_DEFAULTS,
    MODEL_NAMES,
    MODEL_REVISIONS,
    OPTIMIZERS,
    TrainConfig,
    model_defaults,
    model_revision,
    recipe_names,
)
from animalsnd.train.driver import TrainRun, load_augmented_for, load_inputs, train, train_fold

__all__ = [
    "LOSSES", "MODEL_DEFAULTS", "MODEL_NAMES", "MODEL_REVISIONS", "OPTIMIZERS", "AugmentedData", "EpochStats",
    "FoldResult", "Split", "TrainConfig", "TrainRun", "batches", "check_test_fold", "checked_split",
    "class_weights_for", "load_augmented_for", "load_inputs", "model_defaults", "model_revision", "recipe_names",
    "select_augmented", "split_fold", "stratified_holdout", "train", "train_fold",
]
