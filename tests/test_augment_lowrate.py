import numpy as np
import pytest

from animalsnd.augment.lowrate import LowRate, through_rate
from animalsnd.errors import ConfigError

SR = 44100


def _white(rng, seconds=1.0):
    return (0.1 * rng.standard_normal(int(SR * seconds))).astype(np.float32)


def _band_power(y, lo, hi):
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050])
def test_nothing_survives_above_the_lower_rates_nyquist(rng, rate):
    y = _white(rng)
    z = through_rate(y, SR, rate)
    assert z.shape == y.shape and z.dtype == np.float32
    above = _band_power(z, rate / 2 + 200, SR / 2) / _band_power(y, rate / 2 + 200, SR / 2)
    below = _band_power(z, 100, 0.8 * rate / 2) / _band_power(y, 100, 0.8 * rate / 2)
    assert above < 1e-4  # more than 40 dB down above the new Nyquist frequency
    assert 0.95 < below < 1.05  # the band below it is kept


def test_a_rate_at_or_above_the_clip_rate_changes_nothing(rng):
    y = _white(rng, 0.2)
    np.testing.assert_array_equal(through_rate(y, 16000, 22050), y)


def test_randomize_draws_from_the_rates_and_apply_uses_the_draw(rng):
    aug = LowRate((8000, 11025))
    drawn = {aug.randomize(np.random.default_rng(s))["rate"] for s in range(30)}
    assert drawn == {8000, 11025}
    y = _white(rng, 0.3)
    aug.params = {"rate": 8000}
    np.testing.assert_array_equal(aug.apply(y, sr=SR), through_rate(y, SR, 8000))
    off = LowRate(p=0.0)
    assert off.randomize(np.random.default_rng(0)) == {"rate": None}
    np.testing.assert_array_equal(off.apply(y, sr=SR), y)


def test_bad_rates_are_refused():
    with pytest.raises(ConfigError, match="rates="):
        LowRate(())
    with pytest.raises(ConfigError, match="rates="):
        LowRate((500,))
    with pytest.raises(ConfigError, match="p="):
        LowRate(p=1.5)
    with pytest.raises(RuntimeError):
        LowRate().apply(np.zeros(10, np.float32), sr=SR)
