import numpy as np
import pytest

from animalsnd.augment.eq import Equalizer, eq_response, equalize
from animalsnd.errors import ConfigError

SR = 16000


def _tone_db(y, freq):
    """Level (dB) of the bin at ``freq`` of a 1 s clip."""
    return 20 * np.log10(np.abs(np.fft.rfft(y))[int(freq)])


def _tones(freqs, seconds=1.0):
    t = np.arange(int(SR * seconds)) / SR
    return sum(0.1 * np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)


def test_low_cut_is_3_db_down_at_its_corner_and_12_db_per_octave_below():
    y = _tones([100, 200, 400, 4000])
    z = equalize(y, SR, lowcut_hz=400.0, shelf_hz=2000.0, shelf_db=0.0)
    assert _tone_db(z, 400) - _tone_db(y, 400) == pytest.approx(-3.0, abs=0.1)
    assert _tone_db(z, 200) - _tone_db(y, 200) == pytest.approx(-12.3, abs=0.3)
    assert _tone_db(z, 100) - _tone_db(y, 100) == pytest.approx(-24.1, abs=0.3)
    assert abs(_tone_db(z, 4000) - _tone_db(y, 4000)) < 0.01


@pytest.mark.parametrize("shelf_db", [-6.0, 6.0])
def test_high_shelf_moves_the_highs_by_its_gain_and_leaves_the_lows(shelf_db):
    y = _tones([150, 2000, 7000])
    z = equalize(y, SR, lowcut_hz=None, shelf_hz=1000.0, shelf_db=shelf_db)
    assert _tone_db(z, 7000) - _tone_db(y, 7000) == pytest.approx(shelf_db * 49 / 50, abs=0.05)
    assert _tone_db(z, 2000) - _tone_db(y, 2000) == pytest.approx(shelf_db * 0.8, abs=0.05)
    assert abs(_tone_db(z, 150) - _tone_db(y, 150)) < 0.15


def test_response_and_randomize(rng):
    assert eq_response(np.array([0.0, 1e4]), lowcut_hz=300.0, shelf_hz=1e3, shelf_db=0.0)[0] < 1e-6
    aug = Equalizer(lowcut_hz=(100, 500), shelf_db=(-6, 6))
    draws = [aug.randomize(np.random.default_rng(s)) for s in range(50)]
    assert all(100 <= d["lowcut_hz"] <= 500 and -6 <= d["shelf_db"] <= 6 and 1000 <= d["shelf_hz"] <= 3000
               for d in draws)
    y = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    aug.params = draws[0]
    np.testing.assert_array_equal(aug.apply(y, sr=SR), equalize(y, SR, **draws[0]))
    off = Equalizer(p=0.0)
    off.randomize(np.random.default_rng(0))
    np.testing.assert_array_equal(off.apply(y, sr=SR), y)


def test_bad_ranges_are_refused():
    with pytest.raises(ConfigError, match="lowcut_hz"):
        Equalizer(lowcut_hz=(500, 100))
    with pytest.raises(ConfigError, match="shelf_db"):
        Equalizer(shelf_db=(0, 60))
    with pytest.raises(ConfigError, match="shelf_hz"):
        Equalizer(shelf_hz="loud")
