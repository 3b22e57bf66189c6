"""BirdNET's own classes: matching class names to its labels, and birdnet-head adding their scores."""

import numpy as np
import pytest

from animalsnd.backbones import birdnet
from animalsnd.errors import ConfigError

needs_model = pytest.mark.skipif(
    not birdnet.is_available(), reason='BirdNET extra not installed (pip install -e ".[birdnet]")'
)
NAMES = ("Dog_Dog", "Turdus merula_Eurasian Blackbird", "Tympanuchus cupido_Greater Prairie-Chicken",
         "Lithobates catesbeianus_American Bullfrog")


def test_a_class_matches_a_label_by_scientific_common_or_whole_name():
    from animalsnd.backbones.birdnet_labels import match

    got = match(["dog", "Turdus_merula", "EURASIAN  blackbird", "Dog_Dog", "frog", "chicken", "cat", "background"],
                NAMES)
    assert got == {"dog": (0, "Dog_Dog"), "Turdus_merula": (1, NAMES[1]), "EURASIAN  blackbird": (1, NAMES[1]),
                   "Dog_Dog": (0, "Dog_Dog")}


def test_the_term_is_added_to_a_linear_heads_logits():
    from animalsnd.families.birdnet_head import build_head
    from animalsnd.families.vector_head import add_logit_terms

    rng = np.random.default_rng(0)
    mean, var = rng.standard_normal(6), rng.random(6) + 0.5
    model = build_head(6, 3, mean=mean, variance=var)
    X = rng.standard_normal((5, 6)).astype(np.float32)
    before = np.log(np.asarray(model(X, training=False), np.float64))
    A, c = rng.standard_normal((6, 3)), rng.standard_normal(3)
    add_logit_terms(model, A, c, mean=mean, variance=var)
    after = np.log(np.asarray(model(X, training=False), np.float64))
    shift = after - before - (X @ A + c)  # log-softmax: the same constant in every column of a row
    np.testing.assert_allclose(shift - shift[:, :1], 0.0, atol=1e-4)
    assert np.abs(X @ A + c).max() > 1  # the term is not negligible


@needs_model
def test_real_labels_and_scores():
    from animalsnd.backbones.birdnet_labels import class_layer, labels, match

    assert len(labels()) == 6522
    m = match(["dog", "cat", "frog", "Siren"])
    assert [v[1] for v in m.values()] == ["Dog_Dog", "Siren_Siren"]
    w, b = class_layer([m["dog"][0]])
    assert w.shape == (1, birdnet.EMBED_DIM) and b.shape == (1,) and np.isfinite(w).all() and np.abs(w).max() > 0


@needs_model
def test_known_class_terms_are_birdnets_standardised_scores():
    from animalsnd.backbones.birdnet_labels import class_layer, match
    from animalsnd.families.birdnet_head import known_class_terms

    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 2 * birdnet.FEATURE_DIM))
    classes = ["cat", "dog", "frog"]
    A, c, meta = known_class_terms(classes, X, 0.5)
    w, b = class_layer([match(["dog"])["dog"][0]])
    score = X[:, :birdnet.EMBED_DIM] @ w[0] + b[0]
    term = X @ A + c
    np.testing.assert_allclose(term[:, 1], 0.5 * (score - score.mean()) / score.std(), atol=1e-6)
    assert not term[:, [0, 2]].any()  # cat and frog are no BirdNET class
    assert meta["known_classes"]["classes"]["dog"]["label"] == "Dog_Dog" and meta["known_classes"]["weight"] == 0.5
    assert known_class_terms(classes, X, 0) is None and known_class_terms(["cat", "frog"], X, 1.0) is None
    # the default: in the logits (KNOWN) for a clip classifier; with the "no animal" class
    # (KNOWN_BACKGROUND) only recorded, for naming clips (animalsnd.families.birdnet_naming)
    from animalsnd.families.birdnet_head import KNOWN, KNOWN_BACKGROUND

    auto = known_class_terms(["cat", "dog"], X, None)
    assert KNOWN > 0 and auto[2]["known_classes"]["weight"] == KNOWN and "scope" not in auto[2]["known_classes"]
    A_bg, c_bg, meta_bg = known_class_terms(["cat", "dog", "background"], X, None)
    assert A_bg is None and c_bg is None and meta_bg["known_classes"]["scope"] == "clips"
    assert meta_bg["known_classes"]["weight"] == KNOWN_BACKGROUND > 0
    assert meta_bg["known_classes"]["classes"] == meta["known_classes"]["classes"]  # "background" is never matched
    with pytest.raises(ConfigError, match="known=-1 must be a number from 0"):
        known_class_terms(classes, X, -1)


@needs_model
def test_a_trained_head_carries_the_term_and_known_0_turns_it_off(tmp_path):
    from animalsnd.bundle import load_bundle
    from animalsnd.config import FeatureConfig
    from animalsnd.embeddings import EmbeddingSet
    from animalsnd.families.birdnet_head import known_class_terms, train_fold
    from animalsnd.train import TrainConfig

    rng = np.random.default_rng(2)
    windows = [rng.standard_normal((1 + i % 2, birdnet.FEATURE_DIM)).astype(np.float32) for i in range(24)]
    y = np.arange(24) % 3
    es = EmbeddingSet(X=np.stack([birdnet.pool(w, method="meanmax") for w in windows]), y=y,
                      folds=np.arange(24) // 3 % 4, classes=["a", "dog", "c"], shas=[f"s{i}" for i in range(24)],
                      paths=[f"p{i}" for i in range(24)], cfg=FeatureConfig(), n_folds=4, seed=0, fingerprint="f",
                      windows=windows, pool="meanmax")
    probs = {}
    for k in (0, 1.0, None):
        cfg = TrainConfig.for_model("birdnet-head", epochs=3, model_options={} if k is None else {"known": k})
        res = train_fold(es, config=cfg, test_fold=0, out_dir=tmp_path / f"k{k}")
        bundle = load_bundle(res.model_dir)
        assert ("known_classes" in bundle.meta) == (k != 0)
        probs[k] = np.log(bundle.predict_proba(es.X.astype(np.float32)).astype(np.float64))
    train = es.folds != 0
    for k in (1.0, None):  # None: the default weight for a model without the background class
        A, c, _ = known_class_terms(es.classes, es.X[train], k)
        shift = probs[k] - probs[0] - (es.X @ A + c)
        np.testing.assert_allclose(shift - shift[:, :1], 0.0, atol=2e-3)


def test_train_names_the_classes_that_carry_birdnets_score(tmp_path):
    import json

    from animalsnd.cli.train import _known_classes

    (tmp_path / "bundle.json").write_text(json.dumps(
        {"known_classes": {"weight": 1.0, "classes": {"dog": {"label": "Dog_Dog"}}}}))
    assert _known_classes(tmp_path) == "dog (Dog_Dog)"
    (tmp_path / "bundle.json").write_text(json.dumps(
        {"known_classes": {"weight": 3.0, "classes": {"dog": {"label": "Dog_Dog"}}, "scope": "clips"}}))
    assert _known_classes(tmp_path) == ("dog (Dog_Dog) when the model names a clip (eval, predict --per-file; "
                                        "not window by window)")
    (tmp_path / "bundle.json").write_text(json.dumps({"classes": ["a"]}))
    assert _known_classes(tmp_path) == "" and _known_classes(tmp_path / "missing") == ""
