from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animalsnd.audio import load
from animalsnd.cache import compute_features
from animalsnd.config import FeatureConfig
from animalsnd.errors import BundleError, ConfigError
from animalsnd.features import fit_frames
from animalsnd.families.logmel_runtime import Predictor
from animalsnd.predict import (
    PredictOptions,
    WindowFeatures,
    WindowPlan,
    collect_inputs,
    detections,
    predict,
    scan,
    window_features,
)
from animalsnd.synth import long_recording

TINY = FeatureConfig(sr=8000, n_mels=32, n_fft=256, hop_length=128, frames=64)
ODD = FeatureConfig(sr=16000, n_mels=40, n_fft=400, hop_length=160, frames=100)  # n_fft/2 > hop


class FakeBundle:
    """Stands in for animalsnd.bundle.Bundle: a fixed function of the features."""

    def __init__(self, cfg, classes=("a", "b"), path=Path("."), weights=None):
        self.cfg, self.classes, self.path, self.model = cfg, list(classes), Path(path), object()
        self.calls = 0
        self.w = weights

    def predict_proba(self, X, *, batch_size=64):
        self.calls += 1
        assert X.shape[1:] == self.cfg.shape and len(X) <= batch_size
        z = X.mean(axis=(1, 2))[:, None] * np.arange(1, len(self.classes) + 1)
        if self.w is not None:
            z = z * self.w
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _signal(rng, sr, seconds):
    t = np.arange(int(sr * seconds)) / sr
    bursts = (np.sin(2 * np.pi * 0.7 * t) > 0.6) * np.sin(2 * np.pi * 440 * t * (1 + 0.3 * t / t[-1]))
    return (0.3 * bursts + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


# ------------------------------------------------------------------ features
@pytest.mark.parametrize("cfg, seconds, window_s, hop_s", [
    (FeatureConfig(), 40.0, None, None),       # 16 s windows, 8 s hop, a short tail window
    (TINY, 5.3, None, 0.3),
    (TINY, 5.3, 0.7, 0.25),                    # windows shorter than the model input
    (ODD, 3.1, 0.9, 0.5),                      # two edge frames on the left
    (FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32, norm="clip"), 5.3, None, 0.3),
    (FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32, norm="pcen"), 5.3, None, 0.3),
    (FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32, norm="floor"), 5.3, None, 0.3),
])
def test_window_features_equal_prepare(tmp_path, rng, cfg, seconds, window_s, hop_s):
    """Each window's input is what `prepare` computes for a clip of exactly that audio."""
    y = _signal(rng, cfg.sr, seconds)
    plan = WindowPlan.from_seconds(cfg, window_s=window_s, hop_s=hop_s)
    spans, X = window_features(y, plan)
    assert [tuple(s) for s in spans] == plan.spans(y.size)
    assert spans[-1][1] == y.size and X.shape == (len(spans), *cfg.shape)
    worst = 0.0
    for i, (s, e) in enumerate(spans):
        clip = tmp_path / f"clip{i}.wav"
        sf.write(clip, y[s:e], cfg.sr, subtype="FLOAT")
        ref, _ = compute_features(str(clip), cfg=cfg)  # prepare's worker
        worst = max(worst, float(np.abs(fit_frames(ref, frames=cfg.frames) - X[i]).max()))
    assert worst < 2e-4  # float32 rounding of the shared FFT/Mel product only


def test_block_size_does_not_change_features(rng):
    y = _signal(rng, TINY.sr, 7.0)
    plan = WindowPlan.from_seconds(TINY, window_s=0.9, hop_s=0.4)
    _, whole = window_features(y, plan)
    for block in (1, 97, 1000, 5000):
        wf, got = WindowFeatures(plan), []
        for i in range(0, y.size, block):
            got += wf.push(y[i:i + block], last=i + block >= y.size)
        # same frames; only BLAS blocking of the Mel product may round differently
        np.testing.assert_allclose(np.stack([x for *_, x in got]), whole, atol=1e-5)


def test_plan_defaults_rounding_and_errors():
    cfg = FeatureConfig()
    plan = WindowPlan.from_seconds(cfg)
    assert (plan.window, plan.hop) == (256000, 128000)  # 16 s, 8 s
    assert WindowPlan.from_seconds(cfg, hop_s=1.0).hop == 31 * 512  # nearest feature hop
    assert WindowPlan.from_seconds(cfg, hop_s=0.001).hop == 512
    for kw, msg in [({"window_s": 0}, "--window 0 must be"), ({"window_s": 30.0}, "longer than the model"),
                    ({"window_s": 0.01}, "shorter than one FFT"), ({"hop_s": -1.0}, "--hop -1.0")]:
        with pytest.raises(ConfigError, match=msg):
            WindowPlan.from_seconds(cfg, **kw)


def test_spans_short_clip_and_tail():
    plan = WindowPlan(TINY, window=8000, hop=4096)
    assert plan.spans(3000) == [(0, 3000)]            # shorter than a window: one row
    assert plan.spans(8000) == [(0, 8000)]
    assert plan.spans(8100) == [(0, 8000), (4096, 8100)]
    assert plan.spans(12200) == [(0, 8000), (4096, 12096), (8192, 12200)]
    assert WindowPlan(TINY, window=1000, hop=3072).spans(3200) == [(0, 1000)]  # tail < n_fft dropped


# ------------------------------------------------------------------ streaming files
def test_scan_streams_a_long_stereo_file(tmp_path, rng):
    sr = 44100
    y = _signal(rng, sr, 9.0)
    path = tmp_path / "long stéreo.wav"
    sf.write(path, np.stack([y, 0.5 * y], axis=1), sr, subtype="FLOAT")
    bundle = FakeBundle(TINY)
    plan = WindowPlan.from_seconds(TINY, hop_s=0.5)
    seen = []
    spans, probs, duration = scan(path, bundle, plan, batch_size=4, block_frames=20000,
                                  on_seconds=seen.append)
    assert duration == pytest.approx(9.0, abs=1e-3) and seen[-1] == pytest.approx(duration)
    assert len(seen) > 10 and seen == sorted(seen)  # one report per block
    ref, _ = load(path, sr=TINY.sr)  # whole-file decoding
    ref_spans, X = window_features(ref, plan)
    np.testing.assert_allclose(spans, ref_spans / TINY.sr)
    np.testing.assert_allclose(probs, bundle.predict_proba(X, batch_size=len(X)), atol=1e-5)
    assert bundle.calls > len(spans) // 4  # batches of at most 4


# ------------------------------------------------------------------ rows
def test_detection_rules():
    spans = np.array([[0, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]], float)
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.55, 0.45], [0.3, 0.7], [0.2, 0.8], [0.85, 0.15]])
    rows = detections("f.wav", spans, p, ["cat", "dog"])
    assert [r.label for r in rows] == ["cat", "cat", "cat", "dog", "dog", "cat"]
    assert rows[0].top == (("cat", 0.9),)
    rows = detections("f.wav", spans, p, ["cat", "dog"], min_confidence=0.6)
    assert [(r.start_s, r.label) for r in rows] == [(0, "cat"), (1, "cat"), (3, "dog"), (4, "dog"), (5, "cat")]
    rows = detections("f.wav", spans, p, ["cat", "dog"], unknown_below=0.6, merge=True, top_k=2)
    # overlapping detections meet at the middle of their overlap
    assert [(r.start_s, r.end_s, r.label) for r in rows] == [
        (0, 2.5, "cat"), (2.5, 3.5, "unknown"), (3.5, 5.5, "dog"), (5.5, 7, "cat")]
    assert rows[0].confidence == 0.9 and rows[0].top == (("cat", 0.9), ("dog", 0.1))
    assert rows[1].confidence == 0.55  # unknown keeps its top probability
    # a dropped window breaks a run
    rows = detections("f.wav", spans, p, ["cat", "dog"], min_confidence=0.6, merge=True)
    assert [(r.start_s, r.end_s) for r in rows] == [(0, 3), (3, 5.5), (5.5, 7)]


class BandBundle:
    """A transparent 'model' for synthetic calls: bird (2.5-6.5 kHz) vs frog (80-1500 Hz) vs noise.

    Score of a band group = the largest (over frames) mean z-score of its
    Mel bands; a call lifts its group in the frames it occupies. Nothing is
    tuned per window, so misplaced or misaligned windows would show.
    """

    classes = ["bird", "frog", "noise"]

    def __init__(self, cfg):
        import librosa

        self.cfg, self.path, self.model = cfg, Path("."), object()
        f = librosa.mel_frequencies(n_mels=cfg.n_mels + 2, fmax=cfg.sr / 2)[1:-1]
        self.high, self.low = (f >= 2500) & (f <= 6500), (f >= 80) & (f <= 1500)

    def predict_proba(self, X, *, batch_size=64):
        s = np.stack([X[:, :, self.high].mean(-1).max(-1), X[:, :, self.low].mean(-1).max(-1),
                      np.ones(len(X))], axis=1) * 8
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def test_long_recording_detections_land_on_the_calls(tmp_path):
    cfg = FeatureConfig()
    y, truth = long_recording(3, duration_s=60.0, calls=[("frog", 6.0), ("bird", 19.0),
                                                          ("frog", 33.5), ("bird", 47.0)])
    path = tmp_path / "field recording.flac"
    sf.write(path, y, cfg.sr, subtype="PCM_24")
    opts = PredictOptions(window_s=4.0, hop_s=1.0, merge=True)
    run = predict(tmp_path, [path], options=opts, predictor=Predictor([BandBundle(cfg)]))
    hop = run.plan.hop / cfg.sr
    found = [d for d in run.rows if d.label != "noise"]
    assert len(found) == len(truth) == 4
    for d, (kind, start, end) in zip(found, truth):
        assert d.label == kind
        assert d.start_s <= start and d.end_s >= end  # the detection covers the call
        assert abs((d.start_s + d.end_s) / 2 - (start + end) / 2) <= hop  # centred within one hop
        assert d.end_s - d.start_s <= (end - start) + 2 * (opts.window_s + hop)


# ------------------------------------------------------------------ predictor and runs
def test_predictor_averages_folds_and_checks_them(tmp_path):
    a = FakeBundle(TINY, weights=np.array([1.0, 2.0]))
    b = FakeBundle(TINY, weights=np.array([3.0, -1.0]))
    X = np.random.default_rng(0).standard_normal((5, *TINY.shape)).astype(np.float32) + 0.5
    mean = Predictor([a, b]).predict_proba(X)
    np.testing.assert_allclose(mean, (a.predict_proba(X) + b.predict_proba(X)) / 2, rtol=1e-6)
    with pytest.raises(BundleError, match="classes or feature config differ"):
        Predictor([a, FakeBundle(TINY, classes=("a", "c"))])
    with pytest.raises(BundleError, match="no model.tflite"):
        Predictor([a], runtime="tflite")
    with pytest.raises(BundleError, match="do not match the model input"):
        Predictor([a]).predict_proba(X[:, :10])


def test_predict_skips_bad_inputs_and_keeps_order(tmp_path, rng):
    d = tmp_path / "in put"
    d.mkdir()
    for name, secs in [("b.wav", 1.5), ("a.wav", 0.8)]:
        sf.write(d / name, _signal(rng, 8000, secs), 8000)
    (d / "bad.wav").write_text("not audio")
    sf.write(d / "tiny.wav", _signal(rng, 8000, 0.01), 8000)  # shorter than one FFT frame
    (d / "sub").mkdir()
    sf.write(d / "sub" / "c.flac", _signal(rng, 8000, 1.0), 8000)
    (tmp_path / "empty").mkdir()
    ticks = []
    run = predict(tmp_path, [d, tmp_path / "missing.wav", tmp_path / "empty"],
                  predictor=Predictor([FakeBundle(TINY)]), progress=lambda a, b: ticks.append((a, b)))
    assert [r.path.name for r in run.results] == ["a.wav", "b.wav", "bad.wav", "tiny.wav", "missing.wav", "empty"]
    assert [r.path.name for r in run.processed] == ["a.wav", "b.wav"]
    reasons = {r.path.name: r.error for r in run.skipped}
    assert "not a readable audio file" in reasons["bad.wav"]
    assert "too short" in reasons["tiny.wav"]
    assert reasons["missing.wav"] == "does not exist"
    assert reasons["empty"].startswith("no audio files in folder")
    assert len([d for d in run.rows if d.file.endswith("a.wav")]) == 1  # clip <= window: one row
    assert [(d.start_s, d.end_s) for d in run.rows if d.file.endswith("b.wav")] == [(0.0, 1.024), (0.512, 1.5)]
    assert ticks[-1][0] == pytest.approx(ticks[-1][1]) and ticks[-1][1] == pytest.approx(2.31, abs=0.01)
    run = predict(tmp_path, [d], recursive=True, predictor=Predictor([FakeBundle(TINY)]))
    assert [r.path.name for r in run.processed] == ["a.wav", "b.wav", "c.flac"]


def test_collect_inputs_ignores_hidden(tmp_path):
    (tmp_path / ".hidden").mkdir()
    sf.write(tmp_path / ".hidden" / "x.wav", np.zeros(100, np.float32), 8000)
    sf.write(tmp_path / ".y.wav", np.zeros(100, np.float32), 8000)
    sf.write(tmp_path / "Z.WAV", np.zeros(100, np.float32), 8000)
    got = collect_inputs([tmp_path], recursive=True)
    assert [p.name for p, _ in got] == ["Z.WAV"]


def test_options_are_validated():
    for kw, msg in [({"min_confidence": 1.5}, "--min-confidence 1.5"), ({"top_k": 0}, "--top-k 0"),
                    ({"unknown_below": -0.1}, "--unknown-below -0.1"), ({"batch_size": 0}, "--batch-size 0")]:
        with pytest.raises(ConfigError, match=msg):
            PredictOptions(**kw)
    with pytest.raises(ConfigError, match="--jobs 0"):
        predict(".", ["x.wav"], jobs=0, predictor=Predictor([FakeBundle(TINY)]))
