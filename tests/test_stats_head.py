"""stats-mlp: clip descriptors, their store, streaming windows, and train/eval/predict end to end."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest_train import SR, clip, noisy_run, tiny  # noqa: F401  (fixture)

from animalsnd import descriptors as D
from animalsnd.cli import app
from animalsnd.errors import BundleError, ConfigError
from animalsnd.families.stats_mlp import StatsPlan, describe_windows

FAST = ["--epochs", "3", "--batch-size", "8"]


def _tone(f: float, seconds: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)


# ------------------------------------------------------------------ descriptors
def test_descriptor_shape_is_finite_and_level_invariant(rng):
    y = (0.3 * rng.standard_normal(16000)).astype(np.float32) + _tone(440, 1.0)
    x = D.describe(y)
    assert x.shape == (D.DIM,) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_allclose(D.describe(0.01 * y), x, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(D.describe(y), x)  # deterministic


def test_descriptors_tell_pitch_and_rhythm_apart():
    low, high = D.describe(_tone(300, 1.0)), D.describe(_tone(3000, 1.0))
    # the per-band mean over active frames peaks in a higher band for the higher tone
    n = D.SPEC["n_mels"]
    assert np.argmax(high[:n]) > np.argmax(low[:n])
    pulses = np.zeros(16000, np.float32)
    pulses[:: 1600] = 1.0  # 10 Hz clicks: a periodic envelope
    pulses = np.convolve(pulses, np.hanning(64), mode="same").astype(np.float32)
    lags = slice(D.DIM - 14 - 32, D.DIM - 14)
    assert D.describe(pulses)[lags].max() > D.describe(_tone(300, 1.0))[lags].max() - 1e-6


def test_very_short_clips_are_described():
    assert np.isfinite(D.describe(_tone(1000, 0.01))).all()  # 160 samples, one frame
    assert np.isfinite(D.describe(np.zeros(1, np.float32))).all()


def test_describe_validates_its_input():
    with pytest.raises(ValueError, match="sr=8000 must be 16000"):
        D.describe(np.zeros(100, np.float32), sr=8000)
    with pytest.raises(ValueError, match="non-empty mono waveform"):
        D.describe(np.zeros((2, 100), np.float32))


def test_store_is_resumable_and_keyed_by_spec(tiny):
    store, computed, reused = D.ensure_descriptors(tiny["cache"], jobs=1)
    assert store.parent.name == "descriptors" and store.name == D.spec_hash()
    assert computed + reused == 24
    assert D.ensure_descriptors(tiny["cache"], jobs=1)[1:] == (0, 24)
    assert json.loads((store / "spec.json").read_text()) == D.SPEC
    ds = D.load_descriptor_set(tiny["cache"], jobs=1)
    assert ds.X.shape == (24, D.DIM) and len(set(ds.folds.tolist())) == 4
    np.testing.assert_allclose(ds.X[0], D.describe_file(ds.paths[0]), atol=1e-6)


def test_a_corrupt_store_entry_is_named(tmp_path):
    from animalsnd.errors import DatasetError

    store = tmp_path / "store"
    store.mkdir()
    (store / "abc.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"abc\.npz: missing or corrupt descriptor file"):
        D.read_descriptor(store, "abc")


# ------------------------------------------------------------------ windows
def test_windows_cover_the_file_and_match_direct_descriptors(tmp_path, rng):
    y = (0.2 * rng.standard_normal(int(12.3 * 16000))).astype(np.float32)
    wav = tmp_path / "long.wav"
    sf.write(wav, y, 16000, subtype="FLOAT")
    plan = StatsPlan.from_seconds(5.0)  # hop 2.5 s
    spans, X, n = describe_windows(wav, plan)
    assert n == y.size
    assert spans.tolist() == [[0, 80000], [40000, 120000], [80000, 160000], [n - 80000, n]]
    for (a, b), x in zip(spans, X):
        np.testing.assert_allclose(x, D.describe(y[a:b]), atol=1e-5)


def test_a_file_shorter_than_a_window_is_the_whole_clip(tmp_path):
    wav = tmp_path / "short.wav"
    sf.write(wav, clip("chirp", 0), SR)
    spans, X, n = describe_windows(wav, StatsPlan.from_seconds())
    assert spans.tolist() == [[0, n]]
    np.testing.assert_allclose(X[0], D.describe_file(wav), atol=1e-6)


def test_plan_validates_seconds():
    p = StatsPlan.from_seconds(4.0, 1.0)
    assert (p.window, p.hop) == (64000, 16000)
    assert StatsPlan.from_seconds(4.0).hop == 32000
    with pytest.raises(ConfigError, match="--hop 0.0 must be a positive number of seconds"):
        StatsPlan.from_seconds(4.0, 0.0)


# ------------------------------------------------------------------ end to end
def test_train_eval_predict_round_trip(runner, tiny, tmp_path):
    from animalsnd.bundle import load_bundle
    from animalsnd.evaluate import evaluate
    from animalsnd.predict import PredictOptions, predict

    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--out", str(out),
                              "--test-fold", "1", "--jobs", "1", *FAST])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # rich wraps long lines at spaces
    assert "clip descriptors, hidden=256" in text and "Held-out fold 1" in text
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["input"]["kind"] == "stats" and meta["input"]["dim"] == D.DIM and meta["input"]["spec"] == D.SPEC
    assert meta["model_name"] == "stats_mlp"

    report = evaluate(out)  # the held-out fold, from the descriptor store
    held = report.runs[0]
    assert held.result.metrics["n"] == len(meta["data"]["test_shas"]) == 6
    b = load_bundle(out)
    assert b.kind == "stats" and b.input_shape == (D.DIM,)
    # a reloaded bundle predicts exactly what the trained model did
    b2 = load_bundle(out)
    np.testing.assert_array_equal(b.predict_proba(held.data.X), b2.predict_proba(held.data.X))
    raw = evaluate(out, data=tiny["data"], jobs=1)  # raw folder, described again
    assert raw.runs[0].result.metrics["n"] == 24
    # predicting a whole clip (one window) gives the clip's evaluation probabilities
    run = predict(out, [held.data.paths[0]], options=PredictOptions())
    np.testing.assert_allclose(run.results[0].probs, b.predict_proba(held.data.X[:1]), atol=1e-5)
    assert run.results[0].spans_s.tolist() == [[0.0, 0.5]]

    res = runner.invoke(app, ["predict", str(out), str(tiny["data"] / "chirp"), "--format", "csv"])
    assert res.exit_code == 0, res.output
    noisy_run(runner, out, held, tmp_path)
    _default_windows_are_pooled(out, tmp_path)


def _default_windows_are_pooled(model, tmp_path):
    """predict's default for stats-mlp: 2-s windows every 1 s, max-pooled with their overlapping neighbours."""
    from animalsnd.pooling import pool_windows
    from animalsnd.predict import PredictOptions, predict

    wav = tmp_path / "long.wav"
    parts = [np.tile(clip(c, 9), 3) for c in ("chirp", "clicks", "burst", "chirp")]  # 1.5 s of each
    sf.write(wav, np.concatenate(parts), SR)
    default = predict(model, [wav])
    raw = predict(model, [wav], options=PredictOptions(pool="none"))
    assert default.options.pool == "max" and default.model_pool == "max" and raw.options.pool == "none"
    assert default.results[0].spans_s.tolist() == [[0, 2], [1, 3], [2, 4], [3, 5], [4, 6]]
    np.testing.assert_allclose(default.results[0].probs, pool_windows(raw.results[0].spans_s, raw.results[0].probs))
    assert not np.allclose(default.results[0].probs, raw.results[0].probs)  # the classes change along the file
    with pytest.raises(ConfigError, match="--pool 'median' must be one of none, max, mean"):
        PredictOptions(pool="median")


def test_cv_folds_are_deterministic(tiny):
    from animalsnd.train import TrainConfig, train

    cfg = TrainConfig.for_model("stats-mlp", epochs=3, batch_size=8)
    a = train(tiny["cache"], None, config=cfg, cv=True)
    b = train(tiny["cache"], None, config=cfg, cv=True)
    assert [f.metrics["accuracy"] for f in a.folds] == [f.metrics["accuracy"] for f in b.folds]
    assert [f.y_pred.tolist() for f in a.folds] == [f.y_pred.tolist() for f in b.folds]


def test_noisy_copies_of_training_clips_only_join_the_training_data(tiny, tmp_path):
    """``--augmented``: the set's copies are re-rendered and described; only those of training clips are used."""
    import shutil

    from animalsnd.augment.store import build_augmented
    from animalsnd.augment.vectors import copy_signal, copy_vectors
    from animalsnd.cache import load_features
    from animalsnd.train import TrainConfig, load_augmented_for, train_fold

    cache = tmp_path / "cache"
    shutil.copytree(tiny["cache"], cache)
    noise = tmp_path / "noise"
    noise.mkdir()
    sf.write(noise / "hiss.wav", 0.1 * np.random.default_rng(0).standard_normal(SR), SR)
    build_augmented(cache, noise, per_class=3, name="n3", jobs=1)
    store = D.store_dir(cache)
    copies = copy_vectors(cache, "n3", store=store, compute=D.describe, sr=D.SPEC["sr"], jobs=1)
    assert copies.X.shape == (9, D.DIM) and len(set(copies.source_shas)) == 9
    recipe = next(csv_rows(cache / "augment" / "n3" / "manifest.csv"))
    y = copy_signal(recipe, sr=D.SPEC["sr"], noise_root=str(noise), cache_sr=SR)
    np.testing.assert_allclose(copies.X[0], D.describe(y), atol=1e-5)  # the copy, exactly as recorded
    fs = load_features(cache)
    aug = load_augmented_for(cache, "n3", classes=fs.classes, shape=fs.cfg.shape)
    res = train_fold(fs, config=TrainConfig.for_model("stats-mlp", epochs=2, batch_size=8), test_fold=0,
                     cache_dir=cache, augmented=aug)
    train_shas = {s for s, f in zip(fs.shas, fs.folds) if f != 0}
    assert res.n_augmented == sum(s in train_shas for s in copies.source_shas) > 0
    assert res.n_augmented < len(copies.source_shas)  # copies of fold-0 clips stay out


def csv_rows(path):
    import csv

    with open(path, newline="") as f:
        yield from csv.DictReader(f)


def test_bad_options_and_sets_are_one_line(runner, tiny, tmp_path):
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--out", str(tmp_path / "m"),
                              "--augmented", "nosuchset"])
    assert res.exit_code == 1 and "no augmented set 'nosuchset'" in res.output
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--out", str(tmp_path / "m"),
                              "--model-option", "width=3", *FAST])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == (
        "Error: model 'stats-mlp' has no option(s) width; available: dropout, hidden, l2, noise")


def test_a_bundle_with_another_descriptor_spec_is_refused(runner, tiny, tmp_path):
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "bundle.json").read_text())
    meta["input"]["spec"]["n_mels"] = 32
    (out / "bundle.json").write_text(json.dumps(meta))
    res = runner.invoke(app, ["eval", str(out)])
    assert res.exit_code == 1 and "retrain the model" in res.output.strip().splitlines()[-1]
    from animalsnd.predict import load_predictor

    with pytest.raises(BundleError, match="trained on descriptors"):
        load_predictor(out)


def test_compare_runs_stats_mlp_on_descriptors(tiny):
    from animalsnd.compare import compare

    res = compare(tiny["cache"], variants="stats-mlp", folds=1, epochs=3, jobs=1)
    (rec,) = res.runs["stats-mlp"]
    assert rec["model"] == "stats-mlp" and rec["epochs_run"] == 3 and rec["n_val"] == 0
    assert rec["n_test"] == 6 and rec["noisy"] == {}


def test_shots_keep_that_many_training_clips_per_class(runner, tiny, tmp_path, monkeypatch):
    import animalsnd.fitting as F
    import animalsnd.train as T
    from animalsnd.families import stats_mlp as stats_head
    from animalsnd.fitting import select_shots

    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "stats-mlp", "--out", str(out),
                              "--test-fold", "1", "--jobs", "1", "--shots", "2", *FAST])
    assert res.exit_code == 0, res.output
    assert "2 shots per class" in " ".join(res.output.split())
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["train"]["shots"] == 2 and meta["training"]["n_train"] == 2 * len(meta["classes"])

    # the labelled clips are protonet's for the same seed and fold; --shots 0 keeps them all
    fs = stats_head.descriptor_set_for(tiny["cache"], jobs=1)
    config = T.TrainConfig.for_model("stats-mlp", shots=2, epochs=1, seed=3)
    split = T.checked_split(fs, config, 0)
    picked = split.train[select_shots(fs.y[split.train], 2, seed=3 * 1000 + 0)]
    assert np.bincount(fs.y[picked]).tolist() == [2, 2, 2]
    seen = {}

    def stop(model, config, X, y, *args, **kwargs):
        seen["X"] = X
        raise RuntimeError("stop")

    monkeypatch.setattr(F, "fit", stop)
    with pytest.raises(RuntimeError, match="stop"):
        stats_head.train_fold(fs, config=config, test_fold=0)
    np.testing.assert_array_equal(seen["X"], fs.X[picked])
    with pytest.raises(RuntimeError, match="stop"):
        stats_head.train_fold(fs, config=T.TrainConfig.for_model("stats-mlp", epochs=1, seed=3), test_fold=0)
    assert len(seen["X"]) == len(split.train)
