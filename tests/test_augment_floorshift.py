import numpy as np
import pytest

from animalsnd.augment.floorshift import FloorShift
from animalsnd.config import FeatureConfig
from animalsnd.errors import ConfigError
from animalsnd.features import logmel


def _features(rng, batch=16, frames=40, n_mels=32):
    x = np.maximum(rng.normal(0.5, 1.0, size=(batch, frames, n_mels)), 0).astype(np.float32)
    return x


def test_floor_shift_lowers_each_band_by_at_most_max_db(rng):
    x = _features(rng)
    aug = FloorShift(max_db=20.0, p=1.0)
    out = aug.apply_batch(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == x.dtype and (out >= 0).all()
    drop = x - out
    assert (drop >= -1e-6).all() and drop.max() <= 2.0 + 1e-6  # 20 dB = 2 units of 10 dB
    # one rise per example and band, the same in every frame (a steady background)
    for i in range(len(x)):
        for band in range(x.shape[2]):
            high = x[i, :, band] > 2.0
            if high.sum() > 1:
                assert np.ptp(drop[i, high, band]) < 1e-5
    assert (drop.reshape(len(x), -1).max(axis=1) > 0).all()  # p=1: every example is raised
    assert not np.shares_memory(out, x)


def test_floor_shift_p_and_determinism(rng):
    x = _features(rng)
    assert np.array_equal(FloorShift(max_db=30.0, p=0.0).apply_batch(x, np.random.default_rng(0)), x)
    a = FloorShift(max_db=30.0).apply_batch(x, np.random.default_rng(5))
    b = FloorShift(max_db=30.0).apply_batch(x, np.random.default_rng(5))
    assert np.array_equal(a, b)
    changed = (a != x).reshape(len(x), -1).any(axis=1)
    assert 0 < changed.sum() < len(x)  # p=0.5 over 16 examples
    one = FloorShift(max_db=30.0, p=1.0)
    params = one.randomize(x[0], 3)
    assert params["shift"].shape == (x.shape[2],) and (params["shift"] >= 0).all()
    assert np.array_equal(one.apply(x[0]), np.maximum(x[0] - params["shift"], 0))
    assert np.array_equal(one(x[0], 3), one.apply(x[0]))


def test_floor_shift_imitates_a_steady_noise_on_floor_features(rng):
    """A steady noise above a clip's background hides what lies below it: about max(x - d, 0)."""
    cfg = FeatureConfig(sr=8000, n_mels=32, n_fft=256, hop_length=128, frames=200, norm="floor")
    t = np.arange(8000 * 3) / 8000
    on = np.sin(2 * np.pi * 1.5 * t) > 0.5  # the call sounds a third of the time
    call = np.sin(2 * np.pi * 1500 * t) * on
    quiet = 1e-4 * rng.standard_normal(t.size)
    noise = 0.02 * rng.standard_normal(t.size)
    clean = logmel((call + quiet).astype(np.float32), cfg=cfg, pad=False)
    noisy = logmel((call + quiet + noise).astype(np.float32), cfg=cfg, pad=False)
    # frames whose whole window lies in the call, or outside it
    share = np.convolve(on.astype(float), np.ones(cfg.n_fft) / cfg.n_fft, mode="same")
    share = np.pad(share, cfg.n_fft // 2)[cfg.n_fft // 2 + np.arange(len(clean)) * cfg.hop_length]
    frames_on, frames_off = share > 0.999, share < 0.001
    band = int(clean.max(axis=0).argmax())  # the call's band
    rise = float(np.median(clean[frames_on, band] - noisy[frames_on, band]))
    assert 1.0 < rise < clean[:, band].max()  # the noise raised the floor by more than 10 dB, not over the call
    simulated = np.maximum(clean[:, band] - rise, 0)
    assert np.abs(simulated - noisy[:, band])[frames_on].max() < 0.1  # within 1 dB wherever the call sounds
    assert noisy[frames_off, band].mean() < 0.2 and simulated[frames_off].max() == 0  # the rest near 0


@pytest.mark.parametrize("kwargs, msg", [
    (dict(max_db=0.0), "max_db=0.0 must be > 0"),
    (dict(max_db=float("nan")), "max_db=nan must be a finite number"),
    (dict(max_db=10.0, p=1.5), "p=1.5 must be in 0..1"),
])
def test_floor_shift_validation(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        FloorShift(**kwargs)
