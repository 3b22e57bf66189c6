import numpy as np
import pytest

from animalsnd.augment.room import Room, reverberate, room_response
from animalsnd.errors import ConfigError

SR = 16000


def test_the_tail_decays_60_db_in_rt60_and_sits_wet_db_below_the_direct_path():
    ir = room_response(SR, rt60_s=0.3, wet_db=-10.0, ir_seed=3)
    assert ir[0] == 1.0 and ir.size == int(0.3 * SR)
    tail = ir[1:]
    assert 10 * np.log10(np.sum(tail**2)) == pytest.approx(-10.0, abs=1e-6)
    # energy in 20 ms windows falls 60 dB per rt60: fit the slope
    w = int(0.02 * SR)
    e = np.array([np.sum(tail[i:i + w] ** 2) for i in range(0, tail.size - w, w)])
    t = np.arange(e.size) * 0.02
    slope = np.polyfit(t, 10 * np.log10(e), 1)[0]
    assert slope == pytest.approx(-60 / 0.3, rel=0.15)


def test_reverberate_keeps_length_and_adds_the_tail_after_an_impulse():
    y = np.zeros(SR, np.float32)
    y[100] = 0.5
    z = reverberate(y, SR, rt60_s=0.2, wet_db=-6.0, ir_seed=1)
    assert z.shape == y.shape and z[100] == pytest.approx(0.5)
    assert np.abs(z[:100]).max() < 1e-12 and np.abs(z[200:1000]).max() > 1e-3  # causal: nothing before the sound
    np.testing.assert_array_equal(z, reverberate(y, SR, rt60_s=0.2, wet_db=-6.0, ir_seed=1))


def test_randomize_and_validation(rng):
    aug = Room(rt60_s=(0.1, 0.2), wet_db=(-12, -6))
    draws = [aug.randomize(np.random.default_rng(s)) for s in range(20)]
    assert all(0.1 <= d["rt60_s"] <= 0.2 and -12 <= d["wet_db"] <= -6 for d in draws)
    assert len({d["ir_seed"] for d in draws}) == 20
    y = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    aug.params = draws[0]
    np.testing.assert_array_equal(aug.apply(y, sr=SR), reverberate(y, SR, **draws[0]))
    with pytest.raises(ConfigError, match="rt60_s"):
        Room(rt60_s=(0, 1))
    with pytest.raises(ConfigError, match="p="):
        Room(p=-0.1)
