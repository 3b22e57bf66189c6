"""Tests for the model builders and losses (small inputs, CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from animalsnd.errors import ConfigError
from animalsnd.models import MODEL_NAMES, build_model, count_params, load_model

keras = pytest.importorskip("keras")

# Keras on NumPy 2 warns about ``__array__(copy=...)`` on every conversion.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SMALL = (64, 32)
N_CLASSES = 5

# Layers every model (or a given model) must expose by name.
COMMON_LAYERS = {"probs"}
MODEL_LAYERS = {
    "cnn1d": {"conv1", "conv2", "bn1", "bn2", "flatten", "dense"},
    "cnn1d-enhanced": {"conv1", "conv4", "gap", "gmp", "pool_concat", "dense"},
    "alexnet-mel": {"to_image", "conv1", "conv4", "gap", "dense"},
    "transformer-mel": {"to_image", "pad", "patch_embed", "tokens", "pos_embed",
                        "block1_mha", "token_pool"},
}


def _run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that can import this checkout."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def _batch(shape=SMALL, n=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype("float32")


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, animalsnd, animalsnd.models; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = _run_python(code)
    assert res.returncode == 0, res.stdout + res.stderr


def test_unknown_model_raises_config_error():
    with pytest.raises(ConfigError, match="unknown model 'resnet'.*cnn1d"):
        build_model("resnet", input_shape=SMALL, n_classes=N_CLASSES)


def test_unknown_option_and_bad_shape_raise_config_error():
    with pytest.raises(ConfigError, match="no option"):
        build_model("cnn1d", input_shape=SMALL, n_classes=N_CLASSES, depth=3)
    with pytest.raises(ConfigError, match="input_shape"):
        build_model("cnn1d", input_shape=(64,), n_classes=N_CLASSES)
    with pytest.raises(ConfigError, match="n_classes"):
        build_model("cnn1d", input_shape=SMALL, n_classes=1)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape_probabilities_and_names(name):
    model = build_model(name, input_shape=SMALL, n_classes=N_CLASSES)
    assert model.name == name
    assert tuple(model.input_shape) == (None, *SMALL)
    names = {layer.name for layer in model.layers}
    missing = (COMMON_LAYERS | MODEL_LAYERS[name]) - names
    assert not missing, missing
    probs = np.asarray(model(_batch(), training=False))
    assert probs.shape == (4, N_CLASSES)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert count_params(model) == model.count_params() > 0


def test_cnn1d_matches_study_spec():
    model = build_model("cnn1d", input_shape=(500, 128), n_classes=10)
    L = keras.layers
    spec = [
        (L.Conv1D, {"filters": 32, "kernel_size": (3,), "activation": "relu"}),
        (L.BatchNormalization, {}),
        (L.MaxPooling1D, {"pool_size": (2,)}),
        (L.Dropout, {"rate": 0.3}),
        (L.Conv1D, {"filters": 64, "kernel_size": (3,), "activation": "relu"}),
        (L.BatchNormalization, {}),
        (L.MaxPooling1D, {"pool_size": (2,)}),
        (L.Dropout, {"rate": 0.3}),
        (L.Flatten, {}),
        (L.Dense, {"units": 128, "activation": "relu"}),
        (L.Dropout, {"rate": 0.4}),
        (L.Dense, {"units": 10, "activation": "softmax"}),
    ]
    layers = [layer for layer in model.layers if not isinstance(layer, L.InputLayer)]
    assert len(layers) == len(spec)
    for layer, (cls, attrs) in zip(layers, spec):
        assert type(layer) is cls, (layer.name, type(layer))
        config = layer.get_config()
        for key, value in attrs.items():
            got = config[key]
            got = tuple(got) if isinstance(got, list) else got
            assert got == value, (layer.name, key, got, value)
    assert model.input_shape == (None, 500, 128)
    # 498 -> 249 -> 247 -> 123 frames x 64 filters into Dense(128).
    assert model.get_layer("flatten").output.shape[-1] == 123 * 64
    assert count_params(model) == 1_027_946


def test_alexnet_matches_spec_and_settles_batchnorm_fast():
    m = build_model("alexnet-mel", input_shape=(500, 128), n_classes=N_CLASSES)
    conv1 = m.get_layer("conv1")
    assert conv1.kernel_size == (11, 11) and conv1.strides == (2, 2) and conv1.filters == 64
    assert [m.get_layer(n).momentum for n in ("bn1", "bn2", "bn3")] == [0.9, 0.9, 0.9]
    assert m.get_layer("gap").output.shape[-1] == 96
    slow = build_model("alexnet-mel", input_shape=SMALL, n_classes=N_CLASSES, bn_momentum=0.99)
    assert slow.get_layer("bn1").momentum == 0.99


def test_transformer_tokens_at_real_shape():
    model = build_model("transformer-mel", input_shape=(500, 128), n_classes=10)
    assert tuple(model.get_layer("pad").output.shape[1:]) == (512, 128, 1)
    assert tuple(model.get_layer("tokens").output.shape[1:]) == (256, 64)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip(name, tmp_path):
    model = build_model(name, input_shape=SMALL, n_classes=N_CLASSES, seed=3)
    x = _batch(n=6, seed=1)
    before = np.asarray(model.predict(x, verbose=0))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path)
    assert loaded.name == name
    after = np.asarray(loaded.predict(x, verbose=0))
    np.testing.assert_array_equal(before, after)


def test_save_load_with_compiled_custom_loss(tmp_path):
    from animalsnd.models.losses import WeightedFocalCrossentropy, get_loss

    model = build_model("cnn1d-enhanced", input_shape=SMALL, n_classes=3)
    model.compile(
        optimizer="adam",
        loss=get_loss("class-balanced", class_counts=[20, 5, 1], label_smoothing=0.1),
    )
    x = _batch(n=8)
    y = np.array([0, 1, 2, 0, 0, 1, 2, 0])
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras", compile=True)
    assert isinstance(loaded.loss, WeightedFocalCrossentropy)
    assert loaded.loss.label_smoothing == pytest.approx(0.1)
    assert len(loaded.loss.class_weights) == 3
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    )


_DETERMINISM_SCRIPT = """
import numpy as np, tensorflow as tf
from animalsnd.models import build_model

tf.config.experimental.enable_op_determinism()
x = np.random.default_rng(5).standard_normal((16, 64, 32)).astype("float32")
y = np.arange(16) % 5

def run(seed):
    model = build_model("cnn1d", input_shape=(64, 32), n_classes=5, seed=seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=4, shuffle=True, verbose=0)
    return model.get_weights()

first, second, other = run(7), run(7), run(8)
assert len(first) == len(second)
for a, b in zip(first, second):
    np.testing.assert_array_equal(a, b)
assert not np.array_equal(first[0], other[0])
print("deterministic")
"""


@pytest.mark.slow
def test_same_seed_same_weights_after_fit():
    # A subprocess, because op determinism cannot be switched off again and
    # would otherwise leak into the other tests of the session.
    res = _run_python(_DETERMINISM_SCRIPT)
    assert res.returncode == 0 and "deterministic" in res.stdout, res.stderr[-3000:]


# --------------------------------------------------------------------- losses


def test_class_balanced_weights():
    from animalsnd.models.losses import class_balanced_weights

    w = class_balanced_weights([100, 10, 1], beta=0.999)
    assert w.shape == (3,) and w.dtype == np.float32
    assert w.sum() == pytest.approx(3.0)
    assert w[0] < w[1] < w[2]
    # beta = 0: every class counts once -> equal weights
    np.testing.assert_allclose(class_balanced_weights([100, 10, 1], beta=0.0), 1.0)
    # explicit formula
    n = np.array([50.0, 5.0])
    ref = (1 - 0.99) / (1 - 0.99**n)
    np.testing.assert_allclose(
        class_balanced_weights(n, beta=0.99), ref / ref.sum() * 2, rtol=1e-6
    )
    # empty class is treated as one example
    assert np.isfinite(class_balanced_weights([10, 0])).all()
    with pytest.raises(ConfigError):
        class_balanced_weights([10, -1])
    with pytest.raises(ConfigError):
        class_balanced_weights([10, 1], beta=1.0)


def test_losses_match_keras_references():
    from animalsnd.models.losses import focal_loss, get_loss

    y = np.array([0, 1, 2])
    onehot = np.eye(3, dtype="float32")[y]
    p = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8]], "float32")

    ce_ref = float(keras.losses.CategoricalCrossentropy()(onehot, p))
    ls_ref = float(keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(onehot, p))
    fl_ref = float(keras.losses.CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0)(onehot, p))

    ce = get_loss("ce")
    assert float(ce(y, p)) == pytest.approx(ce_ref, rel=1e-5)        # integer labels
    assert float(ce(onehot, p)) == pytest.approx(ce_ref, rel=1e-5)   # one-hot labels
    assert float(ce(y[:, None], p)) == pytest.approx(ce_ref, rel=1e-5)
    assert float(get_loss("ce", label_smoothing=0.1)(y, p)) == pytest.approx(ls_ref, rel=1e-5)
    assert float(focal_loss(2.0, 0.25)(y, p)) == pytest.approx(fl_ref, rel=1e-5)
    assert float(get_loss("focal")(y, p)) == pytest.approx(fl_ref / 0.25, rel=1e-5)

    counts = [100, 10, 1]
    from animalsnd.models.losses import class_balanced_weights

    w = class_balanced_weights(counts)
    per_sample = -np.log(p[np.arange(3), y])
    expected = float(np.mean(per_sample * w[y]))
    cb = get_loss("class-balanced", class_counts=counts)
    assert float(cb(y, p)) == pytest.approx(expected, rel=1e-5)
    # per-class alpha for the focal loss
    fa = focal_loss(0.0, list(w))
    assert float(fa(y, p)) == pytest.approx(expected, rel=1e-5)


def test_loss_errors_and_serialisation():
    from animalsnd.models.losses import get_loss

    with pytest.raises(ConfigError, match="unknown loss"):
        get_loss("hinge")
    with pytest.raises(ConfigError, match="class counts"):
        get_loss("class-balanced")
    loss = get_loss("class-balanced", class_counts=[3, 7], label_smoothing=0.05)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss)
    assert again.get_config() == loss.get_config()
