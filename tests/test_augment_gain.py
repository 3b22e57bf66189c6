import numpy as np
import pytest

from animalsnd.augment.gain import PeakGain, apply_gain, peak_dbfs, soft_clip
from animalsnd.augment.noise import rms
from animalsnd.errors import ConfigError


def _clip(rng, peak=0.25):
    y = rng.standard_normal(8000)
    return (peak * y / np.abs(y).max()).astype(np.float32)


def test_gain_changes_rms_by_the_drawn_db_and_lands_on_the_drawn_peak(rng):
    y = _clip(rng)
    aug = PeakGain(peak_dbfs=(-24, -1))
    for s in range(20):
        z = aug(y, rng=np.random.default_rng(s))
        p = aug.params
        assert -24 <= p["peak_dbfs"] <= -1
        assert 20 * np.log10(rms(z) / rms(y)) == pytest.approx(p["gain_db"], abs=1e-3)
        assert peak_dbfs(z) == pytest.approx(p["peak_dbfs"], abs=1e-3)


def test_above_full_scale_the_clip_is_soft_clipped(rng):
    y = _clip(rng, peak=0.9)
    z = apply_gain(y, 12.0)
    assert np.abs(z).max() <= 1.0 and np.mean(np.abs(z) > 0.99) > 0.01  # driven into saturation
    small = np.abs(y * 10 ** (12 / 20)) <= 0.8
    np.testing.assert_allclose(z[small], (y * 10 ** (12 / 20))[small], rtol=1e-5)  # linear under the knee
    x = np.linspace(-3, 3, 601)
    out = soft_clip(x, knee=0.8)
    assert np.all(np.diff(out) > 0) and np.abs(out).max() < 1.0  # monotonic, never full scale
    assert np.abs(np.diff(out, 2)).max() < 1e-3  # smooth: no corner at the knee


def test_p_and_silence_and_validation(rng):
    y = _clip(rng)
    off = PeakGain(p=0.0)
    np.testing.assert_array_equal(off(y, rng=np.random.default_rng(0)), y)
    assert off.params == {"peak_dbfs": None, "gain_db": None}
    silent = np.zeros(100, np.float32)
    np.testing.assert_array_equal(PeakGain()(silent, rng=np.random.default_rng(0)), silent)
    with pytest.raises(ConfigError, match="peak_dbfs"):
        PeakGain(peak_dbfs=(-10, 40))
    with pytest.raises(ConfigError, match="knee"):
        PeakGain(knee=1.0)
    with pytest.raises(RuntimeError):
        PeakGain().apply(y)
