"""Mixup: convex combinations of example pairs and their labels."""

import numpy as np
import pytest

from animalsnd.augment.mixup import Mixup
from animalsnd.errors import ConfigError


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def batch(rng, b=16, n_classes=3):
    x = rng.standard_normal((b, 20, 8)).astype(np.float32)
    y = np.eye(n_classes, dtype=np.float32)[rng.integers(n_classes, size=b)]
    return x, y


def test_convex_combination(rng):
    x, y = batch(rng)
    x0, y0 = x.copy(), y.copy()
    mix = Mixup(0.4)
    xm, ym = mix.apply_batch(x, y, rng)
    lam, perm = mix.params["lam"], mix.params["perm"]
    assert lam.shape == (16,) and np.all((lam >= 0) & (lam <= 1))
    assert sorted(perm.tolist()) == list(range(16))
    assert xm.shape == x.shape and xm.dtype == x.dtype
    assert ym.shape == y.shape and ym.dtype == y.dtype
    # Labels stay probability vectors.
    np.testing.assert_allclose(ym.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(ym >= 0) and np.all(ym <= 1 + 1e-6)
    # Each mixed example lies between its two sources, element-wise.
    lo, hi = np.minimum(x, x[perm]), np.maximum(x, x[perm])
    assert np.all(xm >= lo - 1e-5) and np.all(xm <= hi + 1e-5)
    w = lam[:, None, None]
    np.testing.assert_allclose(xm, w * x + (1 - w) * x[perm], atol=1e-5)
    np.testing.assert_allclose(ym, lam[:, None] * y + (1 - lam[:, None]) * y[perm], atol=1e-6)
    assert np.array_equal(x, x0) and np.array_equal(y, y0), "input mutated"


def test_lambda_drawn_per_example(rng):
    x, y = batch(rng, b=64)
    mix = Mixup(1.0)
    mix.apply_batch(x, y, rng)
    lam = mix.params["lam"]
    assert len(np.unique(lam)) == 64
    assert 0.35 < lam.mean() < 0.65  # Beta(1, 1) is uniform


def test_small_alpha_stays_near_the_originals(rng):
    mix = Mixup(0.05)
    mix.randomize(2000, rng)
    lam = mix.params["lam"]
    assert np.mean(np.minimum(lam, 1 - lam) < 0.1) > 0.7


def test_determinism(rng):
    x, y = batch(rng)
    a = Mixup(0.2).apply_batch(x, y, np.random.default_rng(5))
    b = Mixup(0.2).apply_batch(x, y, np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_apply_reuses_params(rng):
    x, y = batch(rng)
    mix = Mixup(0.3)
    mix.randomize(len(x), rng)
    first = mix.apply(x, y)
    second = mix.apply(x, y)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_integer_labels_become_float(rng):
    x, _ = batch(rng, b=4)
    y = np.eye(2, dtype=np.int64)[[0, 1, 1, 0]]
    _, ym = Mixup(0.5).apply_batch(x, y, rng)
    assert ym.dtype == np.float32
    np.testing.assert_allclose(ym.sum(axis=1), 1.0, atol=1e-6)


def test_batch_of_one_is_unchanged(rng):
    x, y = batch(rng, b=1)
    xm, ym = Mixup(0.4).apply_batch(x, y, rng)
    np.testing.assert_allclose(xm, x, atol=1e-6)
    np.testing.assert_allclose(ym, y, atol=1e-6)


@pytest.mark.parametrize("alpha", [0, 0.0, -1.0, float("nan"), float("inf"), "0.2", None, True])
def test_bad_alpha(alpha):
    with pytest.raises(ConfigError, match="alpha="):
        Mixup(alpha)


def test_shape_errors(rng):
    x, y = batch(rng, b=8)
    mix = Mixup(0.2)
    with pytest.raises(ValueError, match="y_onehot"):
        mix.apply_batch(x, y[:7], rng)
    with pytest.raises(ValueError, match="y_onehot"):
        mix.apply_batch(x, y[:, 0], rng)
    with pytest.raises(RuntimeError, match="randomize"):
        Mixup(0.2).apply(x, y)
    with pytest.raises(ValueError, match="batch_size"):
        mix.randomize(0, rng)
