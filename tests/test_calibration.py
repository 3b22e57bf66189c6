"""Calibrated decisions: temperature, per-class thresholds for a target precision, and their use in predict."""

import json

import numpy as np
import pytest

from animalsnd.calibration import (
    Calibration, apply_temperature, class_threshold, fit, fit_out_of_fold, fit_temperature, load_calibration,
    reliability,
)
from animalsnd.errors import BundleError, ConfigError
from animalsnd.predict import detections
from conftest_train import FAST_CLI, tiny, trained_cv  # noqa: F401  (fixtures)


def _overconfident(rng, n=600, k=3, acc=0.7):
    """Probabilities that say 0.97 while being right only ``acc`` of the time."""
    y = rng.integers(k, size=n)
    pred = np.where(rng.random(n) < acc, y, (y + rng.integers(1, k, size=n)) % k)
    p = np.full((n, k), 0.03 / (k - 1))
    p[np.arange(n), pred] = 0.97
    return p, y


def test_temperature_makes_confidence_match_accuracy(rng):
    p, y = _overconfident(rng)
    t = fit_temperature(p, y)
    assert t > 1.5  # softened
    conf = apply_temperature(p, t).max(axis=1)
    assert conf.mean() == pytest.approx(0.7, abs=0.05)
    np.testing.assert_array_equal(apply_temperature(p, t).argmax(1), p.argmax(1))  # decisions unchanged
    assert apply_temperature(p, 1.0) is p


def test_reliability_shows_overconfidence_and_the_temperature_removes_it(rng):
    p, y = _overconfident(rng, n=2000, acc=0.7)
    raw = reliability(p, y, bins=10)
    assert raw["count"].sum() == 2000 and raw["count"][-1] == 2000  # every confidence is 0.97
    assert raw["confidence"][-1] == pytest.approx(0.97) and raw["accuracy"][-1] == pytest.approx(0.7, abs=0.03)
    assert raw["ece"] == pytest.approx(0.27, abs=0.03) and np.isnan(raw["accuracy"][0])
    scaled = reliability(apply_temperature(p, fit_temperature(p, y)), y, bins=10)
    assert scaled["ece"] < 0.05
    with pytest.raises(ConfigError, match="one label per probability row"):
        reliability(p, y[:-1])


def test_class_threshold_is_the_lowest_confidence_meeting_the_target():
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([1, 1, 1, 1, 0, 0], bool)
    t, prec, kept = class_threshold(conf, correct, target=0.9)
    assert (t, prec, kept) == (pytest.approx(0.75), 1.0, 4)  # halfway to the first wrong one
    t, prec, kept = class_threshold(conf, correct, target=0.7)  # 4 of 5 right down to 0.7, 4 of 6 at 0.6
    assert (t, prec, kept) == (pytest.approx(0.65), 0.8, 5)
    t, prec, kept = class_threshold(conf, np.ones(6, bool), target=0.9)
    assert (t, prec, kept) == (0.0, 1.0, 6)  # never wrong: no evidence for any threshold
    t, prec, kept = class_threshold(np.array([0.9, 0.8, 0.7]), np.zeros(3, bool), target=0.9)
    assert prec == 0.0 and kept == 3  # never right: the most precise supported point
    assert class_threshold(np.zeros(0), np.zeros(0, bool), target=0.9) == (1.0, 0.0, 0)


def test_fit_reaches_the_target_on_its_own_data(rng):
    p, y = _overconfident(rng, acc=0.8)
    p = p * rng.uniform(0.5, 1.0, size=p.shape)  # spread the confidences
    p /= p.sum(axis=1, keepdims=True)
    cal = fit(p, y, ["a", "b", "c"], target=0.9)
    q = apply_temperature(p, cal.temperature)
    for c, name in enumerate("abc"):
        keep = (q.argmax(1) == c) & (q.max(1) >= cal.thresholds[name])
        if cal.achieved[name]["precision"] >= 0.9:
            assert np.mean(y[keep] == c) >= 0.9
    with pytest.raises(ConfigError, match="--target-precision"):
        fit(p, y, ["a", "b", "c"], target=1.0)


def test_out_of_fold_calibration_pools_the_folds_and_holds_on_an_unseen_one(rng):
    # four folds scored by four models that never saw them, plus a fifth fold kept out of it
    folds = [_overconfident(rng, n=300, acc=0.75) for _ in range(5)]
    cal = fit_out_of_fold(folds[:4], ["a", "b", "c"], target=0.9)
    pooled = fit(np.concatenate([p for p, _ in folds[:4]]), np.concatenate([y for _, y in folds[:4]]),
                 ["a", "b", "c"], target=0.9)
    assert cal.n_clips == 1200 and cal.temperature == pooled.temperature and cal.thresholds == pooled.thresholds
    assert cal.source == "out-of-fold predictions of 4 fold(s)"
    # the temperature fitted on the pool makes a confidence mean its accuracy on the unseen fold too
    p5, y5 = folds[4]
    q = apply_temperature(p5, cal.temperature)
    assert q.max(axis=1).mean() == pytest.approx(np.mean(q.argmax(1) == y5), abs=0.05)
    assert fit_out_of_fold(folds[:1], ["a", "b", "c"]).n_clips == 300
    with pytest.raises(ConfigError, match="at least one fold"):
        fit_out_of_fold([], ["a", "b", "c"])
    with pytest.raises(ConfigError, match=r"fold 1: probabilities of shape \(300, 2\) and 300 labels for 3 classes"):
        fit_out_of_fold([folds[0], (folds[1][0][:, :2], folds[1][1])], ["a", "b", "c"])
    with pytest.raises(ConfigError, match="fold 0: a label index outside 0-2"):
        fit_out_of_fold([(folds[0][0], folds[0][1] + 3)], ["a", "b", "c"])


def test_detections_drop_windows_below_their_class_threshold():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    spans = np.array([[0, 1], [1, 2], [2, 3]], float)
    rows = detections("f", spans, probs, ["a", "b"], thresholds={"a": 0.7, "b": 0.5})
    assert [(r.label, r.start_s) for r in rows] == [("a", 0.0), ("b", 2.0)]
    assert len(detections("f", spans, probs, ["a", "b"])) == 3


def test_train_cv_writes_a_calibration_that_predict_uses(runner, tiny, tmp_path):
    from animalsnd.cli import app

    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--cv", "--out", str(out),
                              "--epochs", "20", "--jobs", "1", "--target-precision", "0.95"])
    assert res.exit_code == 0, res.output
    assert "Calibrated on 24 out-of-fold predictions" in res.output
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["target_precision"] == 0.95 and set(cal["thresholds"]) == {"burst", "chirp", "clicks"}
    wav = sorted((tiny["data"] / "chirp").glob("*.wav"))[0]
    on = runner.invoke(app, ["predict", str(out), str(wav), "--format", "csv", "--window", "0.2", "--hop", "0.1"])
    off = runner.invoke(app, ["predict", str(out), str(wav), "--format", "csv", "--window", "0.2", "--hop", "0.1",
                              "--no-calibration"])
    assert on.exit_code == off.exit_code == 0, on.output + off.output
    n_on, n_off = len(on.stdout.strip().splitlines()), len(off.stdout.strip().splitlines())
    assert n_on <= n_off
    # retraining without calibration leaves no stale file behind
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--cv", "--out", str(out),
                              "--epochs", "2", "--jobs", "1", "--target-precision", "0"])
    assert res.exit_code == 0 and not (out / "calibration.json").exists()
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--out", str(out),
                              "--target-precision", "1.5"])
    assert res.exit_code == 1 and "--target-precision 1.5" in res.output


def test_a_calibration_for_other_classes_is_refused(tmp_path):
    (tmp_path / "calibration.json").write_text(json.dumps(Calibration(1.0, {"x": 0.5}, 0.9, 10).to_dict()))
    with pytest.raises(BundleError, match="other classes"):
        load_calibration(tmp_path, ["a", "b"])
    (tmp_path / "calibration.json").write_text("{")
    with pytest.raises(BundleError, match="unreadable calibration"):
        load_calibration(tmp_path, ["a", "b"])
    assert load_calibration(tmp_path / "none", ["a"]) is None


def test_a_model_that_cannot_be_calibrated_is_still_saved(runner, tiny, tmp_path, monkeypatch):
    from animalsnd.cli import app

    def refuse(*args, **kwargs):
        raise ConfigError("calibration needs held-out predictions of at least two clips")

    monkeypatch.setattr("animalsnd.calibration.calibrate", refuse)
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--out", str(out),
                              "--epochs", "2", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "not calibrated (calibration needs held-out predictions" in " ".join(res.output.split())
    assert (out / "bundle.json").exists() and not (out / "calibration.json").exists()


def test_calibration_figure_is_written(rng, tmp_path):
    from animalsnd.render_detection import plot_calibration

    p, y = _overconfident(rng, n=300)
    r = reliability(p, y)
    models = {"m": {"raw": r, "scaled": reliability(apply_temperature(p, 2.0), y),
                    "targets": [{"target": 0.8, "precision": 0.85, "recall": 0.7},
                                {"target": 0.9, "precision": 0.92, "recall": 0.6}]}}
    out = plot_calibration(models, tmp_path / "figs" / "calibration.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
