import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest_train import FAST, TINY_FEATURES, make_data, tiny, tiny_features, trained, trained_cv  # noqa: F401

from animalsnd.bundle import load_bundle
from animalsnd.cache import prepare
from animalsnd.config import FeatureConfig
from animalsnd.errors import BundleError, DatasetError
from animalsnd.evaluate import evaluate, evaluate_arrays, load_data


def test_default_is_the_held_out_fold(trained, tiny_features):
    fs = tiny_features
    report = evaluate(trained)
    assert not report.is_cv
    run = report.runs[0]
    assert run.fold == 0
    test_shas = {fs.shas[i] for i in np.flatnonzero(fs.folds == 0)}
    assert set(load_bundle(trained).test_shas) == test_shas
    assert report.metrics["n"] == len(test_shas)
    assert run.data.source.startswith("held-out fold 0 of ")
    # the same numbers as at the end of training
    saved = load_bundle(trained).meta["metrics"]
    for k in ("accuracy", "macro_f1", "weighted_f1"):
        assert report.metrics[k] == pytest.approx(saved[k])
    assert report.warnings() == []


def test_evaluate_arrays_scores_given_features(trained, tiny_features):
    b = load_bundle(trained)
    fs = tiny_features
    res = evaluate_arrays(b, fs.X[:5], fs.y[:5])
    assert res.proba.shape == (5, 3)
    assert np.array_equal(res.y_pred, res.proba.argmax(1))
    assert res.metrics["n"] == 5
    with pytest.raises(DatasetError, match="no clips to evaluate"):
        evaluate_arrays(b, fs.X[:0], fs.y[:0])


def test_on_a_whole_cache_warns_about_training_clips(trained, tiny):
    report = evaluate(trained, data=tiny["cache"])
    assert report.metrics["n"] == 24
    assert any("training clips" in w for w in report.warnings())


def test_raw_folder_reports_unknown_classes_and_bad_files(trained, tmp_path):
    data = make_data(tmp_path / "raw", ("chirp", "burst", "whistle"), n=2)
    (data / "chirp" / "broken.wav").write_bytes(b"RIFF0000WAVEfmt nonsense")
    sf.write(data / "burst" / "silent.wav", np.zeros(4000, np.float32), 8000)
    report = evaluate(trained, data=data, jobs=1)
    assert report.metrics["n"] == 4
    assert report.metrics["per_class"]["clicks"]["support"] == 0
    w = report.warnings()
    assert w[0].startswith("2 clip(s) in folders with no class in the model were not scored: whistle (2); --map")
    assert any(line.startswith("chirp/broken.wav: unreadable, skipped") for line in w)
    assert any(line.startswith("burst/silent.wav: unreadable, skipped (all-silent") for line in w)


def test_raw_folder_features_match_the_cache(trained, tiny):
    b = load_bundle(trained)
    raw = load_data(b, tiny["data"], jobs=1)
    cached = load_data(b, tiny["cache"])
    order = np.argsort(raw.paths)
    order_c = np.argsort(cached.paths)
    np.testing.assert_allclose(raw.X[order], cached.X[order_c], atol=1e-5)


def test_cache_with_other_features_is_one_clear_error(trained, tiny, tmp_path):
    other = FeatureConfig(**{**TINY_FEATURES, "n_mels": 12})
    prepare(tiny["data"], tmp_path / "c2", cfg=other, folds=4, jobs=1)
    with pytest.raises(DatasetError, match=r"other feature settings than the model \(n_mels=12 \(model: 16\)\)"):
        evaluate(trained, data=tmp_path / "c2")


def test_missing_data_and_model(trained, tmp_path):
    with pytest.raises(DatasetError, match="data folder does not exist"):
        evaluate(trained, data=tmp_path / "nope")
    with pytest.raises(BundleError, match="model folder does not exist"):
        evaluate(tmp_path / "nope")
    only_unknown = make_data(tmp_path / "u", ("whistle",), n=2)
    with pytest.raises(DatasetError, match="no clips of the model's classes to evaluate"):
        evaluate(trained, data=only_unknown, jobs=1)


def test_held_out_fold_needs_the_cache(trained, tmp_path):
    moved = tmp_path / "m"
    shutil.copytree(trained, moved)
    b = load_bundle(moved)
    b.meta["data"]["cache_dir"] = str(tmp_path / "gone")
    with pytest.raises(DatasetError, match="is gone; pass --data"):
        load_data(b)


def test_cv_folder_evaluates_every_fold(trained_cv, tiny_features):
    report = evaluate(trained_cv)
    assert report.is_cv and [r.fold for r in report.runs] == [0, 1, 2, 3]
    assert report.metrics["n"] == len(tiny_features)  # every clip held out once
    s = report.summary()
    assert len(s["folds"]) == 4 and set(s["mean"]) == {"accuracy", "macro_f1", "weighted_f1"}
    assert s["mean"]["accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in s["folds"]]))
    assert set(s) >= {"accuracy", "macro_f1", "weighted_f1", "n", "per_class", "folds", "mean", "std"}


def test_folder_with_only_unreadable_files(trained, tmp_path):
    bad = tmp_path / "bad" / "chirp"
    bad.mkdir(parents=True)
    (bad / "a.wav").write_bytes(b"not audio at all")
    with pytest.raises(DatasetError, match=r"none of the 1 file\(s\) of the model's classes could be read "
                                           r"\(first: chirp/a.wav: "):
        evaluate(trained, data=tmp_path / "bad", jobs=1)


def _report(classes, y, proba):
    from pathlib import Path

    from animalsnd.evaluate import ArrayEval, BundleEval, EvalReport
    from animalsnd.inputs import EvalData
    from animalsnd.metrics import classification_metrics

    y, proba = np.asarray(y), np.asarray(proba, float)
    res = ArrayEval(classification_metrics(y, proba.argmax(1), classes=classes), y, proba.argmax(1), proba)
    data = EvalData(np.zeros((len(y), 1)), y, [f"{i}.wav" for i in range(len(y))], "test")
    return EvalReport(Path("m"), classes, [BundleEval(Path("m"), 0, res, data)])


def test_animal_only_scores_animal_clips_among_animal_classes():
    classes = ["background", "cat", "dog"]
    y = [1, 1, 2, 2, 0]
    proba = [[0.6, 0.3, 0.1],   # a cat called background: a cat among the animals
             [0.1, 0.8, 0.1],
             [0.7, 0.2, 0.1],   # a dog called background: a cat among the animals (wrong)
             [0.1, 0.1, 0.8],
             [0.9, 0.05, 0.05]]  # a background clip: not scored among the animals
    rep = _report(classes, y, proba)
    assert rep.metrics["accuracy"] == pytest.approx(3 / 5)
    a = rep.animal_only()
    assert (a["n"], a["called_background"]) == (4, 2)
    assert a["accuracy"] == pytest.approx(3 / 4)
    assert set(a["per_class"]) == {"cat", "dog"}
    assert rep.summary()["animal_classes_only"] == a
    # no background class, or no animal clip: no such figure
    assert _report(["cat", "dog"], [0, 1], [[0.9, 0.1], [0.2, 0.8]]).animal_only() is None
    assert "animal_classes_only" not in _report(["cat", "dog"], [0, 1], [[0.9, 0.1], [0.2, 0.8]]).summary()
    assert _report(classes, [0], [[0.9, 0.05, 0.05]]).animal_only() is None


def test_animals_only_never_chooses_background():
    from animalsnd.evaluate import _choice, animal_clips_only

    classes = ["background", "cat", "dog"]
    proba = np.array([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4], [0.1, 0.2, 0.7]])
    assert _choice(proba, classes, False)[0].tolist() == [0, 0, 2]
    assert _choice(proba, classes, True)[0].tolist() == [1, 2, 2]
    assert _choice(proba[:, 1:], classes[1:], True)[0].tolist() == [0, 1, 1]  # no background class: unchanged
    assert animal_clips_only(classes, [1, 2, 2]) and not animal_clips_only(classes, [0, 1])
    assert not animal_clips_only(classes[1:], [0, 1])


def test_clip_rows_follow_the_animals_only_choice():
    from pathlib import Path

    from animalsnd.evaluate import ArrayEval, BundleEval, EvalReport
    from animalsnd.inputs import EvalData
    from animalsnd.metrics import classification_metrics

    classes, y = ["background", "cat", "dog"], np.array([1, 2])
    proba = np.array([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4]])
    pred = np.array([1, 2])  # as evaluate_arrays(..., animals_only=True) chooses
    res = ArrayEval(classification_metrics(y, pred, classes=classes), y, pred, proba)
    rep = EvalReport(Path("m"), classes, [BundleEval(Path("m"), None, res, EvalData(np.zeros((2, 1)), y, ["a", "b"], "t"))],
                     animals_only=True)
    a, b = rep.clip_rows()
    assert (a["predicted"], a["correct"], a["confidence"]) == ("cat", 1, 0.3)
    assert (b["predicted"], b["correct"]) == ("dog", 1) and b["top"].startswith("background:0.5000")
    s = rep.summary()
    assert s["background_never_chosen"] and s["accuracy"] == 1.0
    assert s["animal_classes_only"]["accuracy_with_background"] == 0.0
    assert s["animal_classes_only"]["called_background"] == 2


def test_clip_rows_name_the_best_animal_for_a_background_model():
    rep = _report(["background", "cat", "dog"], [1, 2], [[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    a, b = rep.clip_rows(top_k=2)
    assert (a["label"], a["predicted"], a["correct"], a["animal_predicted"]) == ("cat", "background", 0, "cat")
    assert a["top"] == "background:0.6000;cat:0.3000" and a["animal_confidence"] == 0.3
    assert (b["predicted"], b["correct"], b["animal_predicted"], b["fold"]) == ("dog", 1, "dog", 0)


def test_data_is_adapted_to_its_proportions_only_for_class_weighted_models(trained, trained_cv, tmp_path):
    data = make_data(tmp_path / "raw", n=4)
    weighted = evaluate(trained, data=data, jobs=1)  # cnn1d-enhanced: trained with class weights
    assert weighted.adapt and set(weighted.folder_weights) == set(weighted.classes)
    s = weighted.summary()
    assert s["without_adapting"]["n"] == s["n"] and "folder_weights" in s
    assert evaluate(trained, data=data, jobs=1, adapt=False).folder_weights is None
    plain = evaluate(trained_cv, data=data, jobs=1)  # the study's cnn1d: no class weights
    assert not plain.adapt and plain.folder_weights is None and "folder_weights" not in plain.summary()
    assert not evaluate(trained).adapt  # its own held-out fold: never


def test_a_raw_folder_of_training_clips_is_flagged(trained, tiny, tmp_path):
    # the raw folder the model's cache was prepared from: 18 of its 24 clips trained the model
    report = evaluate(trained, data=tiny["data"], jobs=1)
    note = [w for w in report.warnings() if "the same files as clips the model was trained on" in w]
    assert len(note) == 1 and note[0].startswith("18 of the 24 scored clip(s)")
    fresh = make_data(tmp_path / "fresh", n=2)  # other clips (other seeds): nothing to flag
    for f in fresh.rglob("*.wav"):
        f.write_bytes(f.read_bytes() + b"\0")  # not byte for byte a training file
    report = evaluate(trained, data=fresh, jobs=1)
    assert not any("trained on" in w for w in report.warnings())
