"""birdnet-head's context check: windows like the recording's quietest stretches are not reported."""

import io

import numpy as np
import pytest
from test_background import bg_cache  # noqa: F401  (fixture)
from test_birdnet_head import needs_model
from test_birdnet_screen import _set, train_head

from animalsnd.backbones import birdnet
from animalsnd.cli import app
from animalsnd.errors import BundleError
from animalsnd.families import birdnet_context as C
from animalsnd.predict.detections import detections

E = birdnet.EMBED_DIM


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _context(rng, centres):
    refs = np.concatenate([centres[c] + 0.1 * rng.standard_normal((6, E)) for c in range(len(centres))])
    labels = np.repeat(np.arange(len(centres)), 6)
    ctx = C.Context(mean=np.zeros(E, np.float32), scale=np.ones(E, np.float32), refs=np.zeros((0, E)),
                    labels=labels, n_classes=len(centres))
    return C.Context(mean=ctx.mean, scale=ctx.scale, refs=ctx.unit(refs), labels=labels, n_classes=len(centres))


def test_quiet_similarity_uses_the_quietest_other_segments_in_reach(rng):
    z = _unit(rng.standard_normal((12, 8)))
    energy = np.arange(12, dtype=float)  # segment 0 quietest
    got = C.quiet_similarity(z, energy, reach=20)
    for i in (0, 5, 11):
        others = [j for j in range(12) if j != i][: C.QUIET]  # the quietest others: the lowest indices
        assert got[i] == pytest.approx(max(float(z[j] @ z[i]) for j in others), abs=1e-6)
    short = C.quiet_similarity(z[: C.QUIET], energy[: C.QUIET], reach=20)
    assert np.isnan(short).all()  # fewer than QUIET others: not checked
    near = C.quiet_similarity(z, energy, reach=3)
    assert np.isnan(near[0]) and not np.isnan(near[5])  # 3 + 3 others in reach; segment 0 has 3


def test_noise_like_the_recordings_background_is_held_back_calls_are_kept(rng):
    centres = [3.0 * rng.standard_normal(E) for _ in range(3)]  # background, cat, dog
    ctx = _context(rng, centres)
    noise = 3.0 * rng.standard_normal(E)  # a noise no training clip sounds like
    n = 14
    first = np.stack([noise + 0.3 * rng.standard_normal(E) for _ in range(n)]).astype(np.float32)
    first[10] = centres[2] + 0.3 * rng.standard_normal(E)  # a dog call
    energy = np.zeros(n)
    energy[8:] = 6.0  # the last stretch louder: the noise flares up, and the call
    top = np.full(n, 2)  # the head calls every window dog
    top[:3] = 0  # and these background
    keep = C.context_keep([ctx], first, energy, top, background=0)
    assert keep[10]  # the call is more like dog than like the recording's quiet noise
    assert not keep[8] and not keep[13]  # the flaring noise is held back
    assert keep[:3].all()  # background is never held back (never reported anyway)
    both = C.context_keep([ctx, ctx], first, energy, top, background=0)
    np.testing.assert_array_equal(both, keep)  # the mean over identical bundles decides the same
    assert C.context_keep([ctx], first[:C.QUIET], energy[:C.QUIET], top[:C.QUIET], background=0).all()
    assert C.context_keep([], first, energy, top, background=0).all()


def test_fit_context_keeps_the_training_clips_first_view_and_round_trips(rng):
    es, _ = _set(rng)
    train = np.flatnonzero(es.folds != 0)
    ctx, report = C.fit_context(es, train)
    assert ctx.refs.shape == (len(train), E) and ctx.n_classes == 3
    np.testing.assert_allclose(np.linalg.norm(ctx.refs, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(ctx.labels, es.y[train])
    assert report == {"file": C.CONTEXT_FILE, "clips": len(train), "margin": C.MARGIN,
                      "quiet_segments": C.QUIET, "context_s": C.CONTEXT_S}
    back = C.load_context(io.BytesIO(ctx.to_bytes()))
    first = es.X[:4, :E]
    np.testing.assert_allclose(back.class_similarity(back.unit(first)), ctx.class_similarity(ctx.unit(first)),
                               atol=2e-3)  # references stored as float16


def test_an_unreadable_context_is_one_line(tmp_path):
    bad = tmp_path / "context.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="unreadable context") as exc:
        C.load_context(bad)
    assert "\n" not in str(exc.value)


def test_detections_drop_the_windows_not_kept():
    spans = np.array([[0, 3], [3, 6], [6, 9]], float)
    probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]])
    rows = detections("f", spans, probs, ["cat", "dog"], keep=np.array([True, False, True]))
    assert [r.start_s for r in rows] == [0.0, 6.0]
    assert len(detections("f", spans, probs, ["cat", "dog"])) == 3


@needs_model
def test_predict_with_the_context_check_reports_a_subset_with_the_same_scores(bg_cache, tmp_path, runner):
    import soundfile as sf

    from animalsnd.predict import PredictOptions, predict
    from animalsnd.synth import long_recording

    out, meta = train_head(runner, bg_cache, tmp_path / "m")
    assert C.CONTEXT_FILE in meta["file_sha256"] and meta["context"]["file"] == C.CONTEXT_FILE
    y, _ = long_recording(3, sr=16000, duration_s=46.0)  # a last 1-s window: mostly padding, dropped
    sf.write(tmp_path / "rec.wav", y, 16000)
    on = predict(out, [tmp_path / "rec.wav"], options=PredictOptions(calibrated=False))
    off = predict(out, [tmp_path / "rec.wav"], options=PredictOptions(calibrated=False, context=False))
    (a,), (b,) = on.processed, off.processed
    assert a.keep is not None and len(a.keep) == len(a.probs) and b.keep is None
    assert on.context_held == int((~a.keep).sum()) and off.context_held is None
    np.testing.assert_array_equal(a.probs, b.probs)  # the check never changes a score
    kept = {(d.start_s, d.label) for d in a.rows}
    assert kept <= {(d.start_s, d.label) for d in b.rows}
    held = {float(a.spans_s[i][0]) for i in np.flatnonzero(~a.keep)}
    assert not any(s in held for s, _ in kept)
    res = runner.invoke(app, ["predict", str(out), str(tmp_path / "rec.wav"), "--no-calibration", "--no-context"])
    assert res.exit_code == 0, res.output
    assert "held back" not in res.output
    # the recording's own animals: birdnet-head's default window by window (animalsnd.priors)
    plain = predict(out, [tmp_path / "rec.wav"], options=PredictOptions(calibrated=False, adapt=False))
    (c,) = plain.processed
    assert on.adapted == 1 and set(a.weights) == set(out_classes := on.classes) - {"background"}
    assert plain.adapted == 0 and c.weights is None and not np.allclose(a.probs, c.probs)
    bg = out_classes.index("background")
    np.testing.assert_allclose(a.probs[:, bg], c.probs[:, bg], rtol=1e-5)  # only which animal moves
    res = runner.invoke(app, ["predict", str(out), str(tmp_path / "rec.wav"), "--no-calibration", "--format", "csv"])
    assert res.exit_code == 0 and "animals weighted by their share of each recording's windows" in res.output
    per_file = predict(out, [tmp_path / "rec.wav"], options=PredictOptions(calibrated=False, per_file=True))
    assert per_file.context_held is None and per_file.processed[0].keep is None  # one row per file never reads it
    res = runner.invoke(app, ["predict", "--help"])
    assert "--no-context" in res.output
