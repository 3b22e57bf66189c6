import numpy as np
import pytest

from animalsnd.metrics import aggregate, classification_metrics, confusion

Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]
CLASSES = ["a", "b", "c"]


def test_scores_match_hand_computed_values():
    m = classification_metrics(Y_TRUE, Y_PRED, classes=CLASSES)
    # a: P 2/2, R 2/3, F1 0.8; b: P 1/2, R 1/2, F1 0.5; c: P 1/2, R 1/1, F1 2/3
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert m["per_class"]["b"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["per_class"]["c"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    assert m["n"] == 6
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert list(m["per_class"]) == CLASSES


def test_class_absent_from_truth_and_predictions_is_left_out_of_macro():
    m = classification_metrics([0, 1, 1], [0, 1, 0], classes=["a", "b", "c"])
    # a: P 1/2 R 1 F1 2/3; b: P 1 R 1/2 F1 2/3; c absent everywhere
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_confusion_has_all_classes():
    cm = confusion([0, 0], [0, 1], n_classes=4)
    assert cm.shape == (4, 4)
    assert cm.sum() == 2 and cm[0, 0] == 1 and cm[0, 1] == 1


def test_aggregate_mean_and_population_std():
    mean, std = aggregate([
        {"accuracy": 0.8, "macro_f1": 0.5, "weighted_f1": 0.7},
        {"accuracy": 1.0, "macro_f1": 0.7, "weighted_f1": 0.9},
    ])
    assert mean == pytest.approx({"accuracy": 0.9, "macro_f1": 0.6, "weighted_f1": 0.8})
    assert std == pytest.approx({"accuracy": 0.1, "macro_f1": 0.1, "weighted_f1": 0.1})


def test_bad_inputs():
    with pytest.raises(ValueError):
        classification_metrics([], [], classes=CLASSES)
    with pytest.raises(ValueError):
        classification_metrics([0, 1], [0], classes=CLASSES)
    with pytest.raises(ValueError):
        aggregate([])
    assert np.isfinite(classification_metrics([0], [0], classes=CLASSES)["macro_f1"])
