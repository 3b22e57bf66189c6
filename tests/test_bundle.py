import json

import numpy as np
import pytest

from animalsnd.bundle import (
    BUNDLE_FILE,
    MODEL_FILE,
    TFLITE_FILE,
    find_bundles,
    load_bundle,
    save_bundle,
)
from animalsnd.config import FeatureConfig
from animalsnd.errors import BundleError

CFG = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)
CLASSES = ["burst", "chirp", "clicks"]


@pytest.fixture(scope="module")
def model():
    from animalsnd.models import build_model

    return build_model("cnn1d-enhanced", input_shape=CFG.shape, n_classes=3, seed=1)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).standard_normal((5, *CFG.shape)).astype(np.float32)


def _save(path, model, **kw):
    return save_bundle(path, model=model, classes=CLASSES, cfg=CFG, train_options={"model": "x"},
                       fingerprint="abc", cache_dir=path.parent, test_fold=2,
                       test_shas=["s1", "s2"], metrics={"accuracy": 0.5}, history={"loss": [1.0]}, **kw)


def test_round_trip_gives_identical_predictions(tmp_path, model, X):
    _save(tmp_path / "m", model)
    b = load_bundle(tmp_path / "m")
    assert b.classes == CLASSES and b.cfg == CFG
    assert b.test_fold == 2 and b.test_shas == ["s1", "s2"] and b.cache_dir == tmp_path
    assert b._model is None  # lazy
    expected = np.asarray(model(X, training=False))
    got = b.predict_proba(X, batch_size=2)
    assert got.shape == (5, 3)
    # batches of 2 against one batch of 5: equal up to float32 rounding, which depends on the CPU
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    meta = json.loads((tmp_path / "m" / BUNDLE_FILE).read_text())
    assert meta["input"] == {"kind": "logmel", "feature": CFG.to_dict()}
    assert set(meta["versions"]) == {"animalsnd", "tensorflow", "keras"}
    assert meta["data"]["fingerprint"] == "abc" and meta["train"] == {"model": "x"}
    assert meta["metrics"] == {"accuracy": 0.5} and meta["history"] == {"loss": [1.0]}


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tflite_export_predicts_like_keras(tmp_path, model, X):
    from animalsnd.bundle import import_tensorflow

    _save(tmp_path / "m", model, export_tflite=True)
    path = tmp_path / "m" / TFLITE_FILE
    assert path.stat().st_size > 0
    tf = import_tensorflow()
    interp = tf.lite.Interpreter(model_path=str(path))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], [1, *CFG.shape])
    interp.allocate_tensors()
    expected = np.asarray(model(X, training=False))
    for i in range(len(X)):
        interp.set_tensor(inp["index"], X[i : i + 1])
        interp.invoke()
        np.testing.assert_allclose(interp.get_tensor(out["index"])[0], expected[i], atol=1e-4)


def test_wrong_feature_shape(tmp_path, model):
    _save(tmp_path / "m", model)
    with pytest.raises(BundleError, match=r"features of shape \(10, 16\) do not match the model input \(32, 16\)"):
        load_bundle(tmp_path / "m").predict_proba(np.zeros((1, 10, 16), np.float32))


def test_missing_and_corrupt_bundles(tmp_path, model):
    with pytest.raises(BundleError, match="model folder does not exist"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"not a model bundle \(no bundle.json\)"):
        load_bundle(tmp_path / "empty")
    _save(tmp_path / "m", model)
    (tmp_path / "m" / BUNDLE_FILE).write_text("{not json")
    with pytest.raises(BundleError, match="corrupt bundle"):
        load_bundle(tmp_path / "m")
    (tmp_path / "m" / BUNDLE_FILE).write_text(json.dumps({"format": 1, "classes": ["a", "b"]}))
    with pytest.raises(BundleError, match=r"corrupt bundle \(missing input\)"):
        load_bundle(tmp_path / "m")
    _save(tmp_path / "m2", model)
    (tmp_path / "m2" / MODEL_FILE).write_bytes(b"garbage")
    b = load_bundle(tmp_path / "m2")
    with pytest.raises(BundleError, match="does not match the sha256 in bundle.json"):
        b.predict_proba(np.zeros((1, *CFG.shape), np.float32))
    meta = json.loads((tmp_path / "m2" / BUNDLE_FILE).read_text())
    del meta["file_sha256"]  # a bundle saved before the hashes were recorded
    (tmp_path / "m2" / BUNDLE_FILE).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="cannot load model"):
        load_bundle(tmp_path / "m2").predict_proba(np.zeros((1, *CFG.shape), np.float32))
    (tmp_path / "m2" / MODEL_FILE).unlink()
    with pytest.raises(BundleError, match="missing model.keras"):
        load_bundle(tmp_path / "m2")


def test_find_bundles(tmp_path):
    for k in (10, 2, 0):
        d = tmp_path / "cv" / f"fold-{k}"
        d.mkdir(parents=True)
        (d / BUNDLE_FILE).write_text("{}")
    (tmp_path / "cv" / "fold-3").mkdir()  # incomplete: no bundle.json
    assert [p.name for p in find_bundles(tmp_path / "cv")] == ["fold-0", "fold-2", "fold-10"]
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / BUNDLE_FILE).write_text("{}")
    assert find_bundles(tmp_path / "one") == [tmp_path / "one"]
    with pytest.raises(BundleError, match="no bundle.json and no fold-"):
        find_bundles(tmp_path / "cv" / "fold-3")
    with pytest.raises(BundleError, match="does not exist"):
        find_bundles(tmp_path / "zzz")
