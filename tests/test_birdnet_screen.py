"""birdnet-head's one-view screen: columns, fitting, the bundle file, and predict with and without it."""

import io
import json

import numpy as np
import pytest
from test_background import bg_cache  # noqa: F401  (fixture)
from test_birdnet_head import HEAD_FAST, needs_model

from animalsnd.backbones import birdnet
from animalsnd.cli import app
from animalsnd.families import birdnet_screen as S

E, W = birdnet.EMBED_DIM, birdnet.FEATURE_DIM


@pytest.mark.parametrize("pool", birdnet.POOL_METHODS)
def test_first_view_columns_and_one_segment_pooling_match_birdnet_pool(pool, rng):
    seg = rng.standard_normal((3, W)).astype(np.float32)  # three segments, both views
    pooled = np.stack([birdnet.pool(seg[i:i + 1], method=pool) for i in range(3)])
    cols = S.view1_columns(pool, pooled.shape[1])
    assert len(cols) == pooled.shape[1] // 2
    screen = S.Screen(mean=np.zeros(len(cols)), scale=np.ones(len(cols)), coef=np.zeros((2, len(cols))),
                      intercept=np.zeros(2), background=0, tau=0.5, pool=pool)
    np.testing.assert_array_equal(screen.pooled(seg[:, :E]), pooled[:, cols])
    with pytest.raises(ValueError, match="no as-recorded view"):
        S.view1_columns(pool, 100)


def _set(rng, classes=("background", "cat", "dog"), per_class=12, folds=3, pool="meanmax"):
    """An EmbeddingSet whose classes differ in the first view; the second view is noise."""
    from animalsnd.embeddings import EmbeddingSet

    centres = 3.0 * rng.standard_normal((len(classes), E))
    windows, y = [], []
    for c in range(len(classes)):
        for _ in range(per_class):
            first = centres[c] + rng.standard_normal((2, E))
            windows.append(np.concatenate([first, rng.standard_normal((2, E))], axis=1).astype(np.float32))
            y.append(c)
    n = len(y)
    return EmbeddingSet(X=np.stack([birdnet.pool(w, method=pool) for w in windows]), y=np.array(y),
                        folds=np.arange(n) % folds, classes=list(classes), shas=[f"s{i}" for i in range(n)],
                        paths=["p"] * n, cfg=None, n_folds=folds, seed=0, fingerprint="f", windows=windows,
                        pool=pool), centres


def test_screen_is_fitted_on_held_out_training_folds_and_keeps_animals(rng):
    es, centres = _set(rng)
    train = np.flatnonzero(es.folds != 0)
    screen, report = S.fit_screen(es, train)
    assert S.FLOOR <= screen.tau <= S.CEILING and report["tau"] == round(screen.tau, 6)
    assert report["held_out_animal_clips"] == int(np.sum((es.y[train] != 0)))
    assert report["held_out_background_clips"] == int(np.sum((es.y[train] == 0)))
    first = np.stack([centres[c] + rng.standard_normal(E) for c in (0, 0, 1, 2)]).astype(np.float32)
    p = screen.proba(screen.pooled(first))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)
    assert screen.live(first).tolist() == [False, False, True, True]  # background screened, animals kept
    back = S.load_screen(io.BytesIO(screen.to_bytes()))
    np.testing.assert_array_equal(back.proba(back.pooled(first)), p)
    assert (back.tau, back.pool, back.background) == (screen.tau, "meanmax", 0)


def test_no_screen_without_a_background_class(rng):
    es, _ = _set(rng, classes=("bird", "cat", "dog"))
    assert S.fit_screen(es, np.flatnonzero(es.folds != 0)) is None


def test_an_unreadable_screen_is_one_line(tmp_path):
    from animalsnd.errors import BundleError

    bad = tmp_path / "screen.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(BundleError, match="screen.npz: unreadable screen"):
        S.load_screen(bad)


class _CountingEmbedder:
    """Stands in for BirdNET: a view's 'embedding' is a function of the window and the speed."""

    def __init__(self):
        self.calls = {}

    def features(self, windows, *, speeds=birdnet.SPEEDS):
        for s in speeds:
            self.calls[s] = self.calls.get(s, 0) + len(windows)
        return np.concatenate([np.tile(windows[:, :1] * s, (1, E)) for s in speeds], axis=1).astype(np.float32)


def test_the_second_view_is_computed_only_for_live_segments():
    from animalsnd.families.birdnet_workers import banded_features

    windows = np.zeros((4, 8), np.float32)
    windows[:, 0] = [1.0, -1.0, 2.0, -2.0]
    # a screen that calls background whatever has a negative first column
    screen = S.Screen(mean=np.zeros(2 * E), scale=np.ones(2 * E), coef=np.zeros((2, 2 * E)),
                      intercept=np.zeros(2), background=0, tau=0.5, pool="meanmax")
    screen.coef[1, 0] = 10.0
    emb = _CountingEmbedder()
    got = banded_features(emb, windows, None, [screen])
    assert emb.calls == {1.0: 4, 2.0: 2}
    assert np.isnan(got[[1, 3], E:]).all() and not np.isnan(got[[0, 2]]).any()
    full = banded_features(_CountingEmbedder(), windows, None)
    np.testing.assert_array_equal(got[[0, 2]], full[[0, 2]])
    np.testing.assert_array_equal(got[:, :E], full[:, :E])


def test_bundle_files_are_owned_and_checked(tmp_path):
    from animalsnd.bundle import load_bundle, save_bundle
    from animalsnd.config import FeatureConfig
    from animalsnd.errors import BundleError
    from animalsnd.families.birdnet_head import build_head

    model = build_head(8, 3, mean=np.zeros(8), variance=np.ones(8))
    save_bundle(tmp_path / "m", model=model, classes=["a", "b", "c"], cfg=FeatureConfig(),
                input_meta={"kind": "birdnet", "backbone": "x", "pool": "mean", "dim": 8,
                            "feature": FeatureConfig().to_dict()}, files={"side.npz": b"123"})
    b = load_bundle(tmp_path / "m")
    assert b.owned_file("side.npz").read_bytes() == b"123"
    (tmp_path / "m" / "side.npz").write_bytes(b"456")
    with pytest.raises(BundleError, match="does not match the sha256"):
        b.owned_file("side.npz")
    with pytest.raises(ValueError, match="reserved"):
        save_bundle(tmp_path / "n", model=model, classes=["a", "b", "c"], cfg=FeatureConfig(),
                    files={"model.keras": b""})


def train_head(runner, cache, out):
    """A birdnet-head bundle trained fast on ``cache``'s folds but 0: ``(folder, bundle.json)``."""
    res = runner.invoke(app, ["train", str(cache), "--model", "birdnet-head", "--out", str(out),
                              "--test-fold", "0", "--jobs", "1", *HEAD_FAST])
    assert res.exit_code == 0, res.output
    return out, json.loads((out / "bundle.json").read_text())


@needs_model
def test_predict_with_the_screen_reports_a_subset_and_the_same_live_windows(bg_cache, tmp_path, runner):
    import soundfile as sf

    from animalsnd.predict import PredictOptions, predict
    from animalsnd.synth import long_recording

    out, meta = train_head(runner, bg_cache, tmp_path / "m")
    assert S.SCREEN_FILE in meta["file_sha256"] and meta["screen"]["file"] == S.SCREEN_FILE
    assert S.FLOOR <= meta["screen"]["tau"] <= S.CEILING
    y, _ = long_recording(3, sr=16000, duration_s=30.0)
    sf.write(tmp_path / "rec.wav", y, 16000)
    on = predict(out, [tmp_path / "rec.wav"], options=PredictOptions(calibrated=False))
    off = predict(out, [tmp_path / "rec.wav"], options=PredictOptions(calibrated=False, screen=False))
    assert on.screened and not off.screened
    (a,), (b,) = on.processed, off.processed
    assert a.views[0] == b.views[0] == 10 and b.views[1] == 10 and a.views[1] <= 10
    animal = a.probs.argmax(axis=1) != 0  # a screened window's best class is background: these had both views
    np.testing.assert_allclose(a.probs[animal], b.probs[animal], atol=1e-6)
    assert {(d.start_s, d.label) for d in a.rows} <= {(d.start_s, d.label) for d in b.rows}
    res = runner.invoke(app, ["predict", str(out), str(tmp_path / "rec.wav"), "--no-calibration"])
    assert res.exit_code == 0, res.output
    assert "double-speed view on" in " ".join(res.output.split())
