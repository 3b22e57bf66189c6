import numpy as np
import pytest

from animalsnd.augment.lowpass import LowPass, low_pass
from animalsnd.errors import ConfigError

SR = 16000


def _band(y, lo, hi):
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_nothing_above_the_corner_and_the_band_below_80_percent_kept(rng):
    y = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    z = low_pass(y, SR, 3400.0)
    assert z.shape == y.shape and z.dtype == np.float32
    assert _band(z, 3400, SR / 2) < 1e-6 * _band(y, 3400, SR / 2)
    assert _band(z, 50, 0.8 * 3400) == pytest.approx(_band(y, 50, 0.8 * 3400), rel=1e-4)
    assert 0.2 < _band(z, 0.8 * 3400, 3400) / _band(y, 0.8 * 3400, 3400) < 0.8  # the taper


def test_randomize_and_apply(rng):
    aug = LowPass(corner_hz=(2500, 8000))
    draws = [aug.randomize(np.random.default_rng(s))["corner_hz"] for s in range(40)]
    assert all(2500 <= d <= 8000 for d in draws) and np.median(draws) < 5250  # log-uniform: median ~4.5 kHz
    y = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    aug.params = {"corner_hz": 3000.0}
    np.testing.assert_array_equal(aug.apply(y, sr=SR), low_pass(y, SR, 3000.0))
    off = LowPass(p=0.0)
    np.testing.assert_array_equal(off(y, sr=SR, rng=np.random.default_rng(0)), y)
    with pytest.raises(ConfigError, match="corner_hz"):
        LowPass(corner_hz=(50, 8000))
