"""What every model family uses to train one fold: splits, class weights, batches,
the Keras fit loop, the fold's result and its bundle.

It sits below the families and the training driver (:mod:`animalsnd.train`),
which both import it; it imports neither. Importing it does not import
TensorFlow.
"""

from animalsnd.fitting.keras_fit import (
    ROBUST,
    EpochCallback,
    EpochStats,
    FoldResult,
    batches,
    best_epoch,
    cycle,
    fit,
    fold_result,
    free_keras,
    optimizer,
    predict_classes,
    save_fold,
    seed_everything,
)
from animalsnd.fitting.splits import (
    AugmentedData,
    Split,
    check_test_fold,
    checked_split,
    class_weights_for,
    labelled_clips,
    select_augmented,
    select_shots,
    shots_note,
    split_fold,
    stratified_holdout,
    training_set,
)

__all__ = [
    "ROBUST", "AugmentedData", "EpochCallback", "EpochStats", "FoldResult", "Split", "batches", "best_epoch",
    "check_test_fold", "checked_split", "class_weights_for", "cycle", "fit", "fold_result", "free_keras", "labelled_clips",
    "optimizer", "predict_classes", "save_fold", "seed_everything", "select_augmented", "select_shots",
    "shots_note", "split_fold", "stratified_holdout", "training_set",
]
