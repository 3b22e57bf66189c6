"""SpecAugment: exactly the recorded regions are masked, nothing else."""

import time

import numpy as np
import pytest

from animalsnd.augment.specaugment import MAX_MASKS, SpecAugment
from animalsnd.errors import ConfigError

MASK = 7.5  # a value z-normalised features never take here


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def features(rng, frames=120, n_mels=32):
    # Values in (-3, 3) so MASK is unambiguous.
    return np.clip(rng.standard_normal((frames, n_mels)), -3, 3).astype(np.float32)


def expected_mask(shape, time, freq):
    m = np.zeros(shape, bool)
    for s, w in time:
        m[s : s + w, :] = True
    for s, w in freq:
        m[:, s : s + w] = True
    return m


def test_masks_exactly_the_recorded_regions(rng):
    sa = SpecAugment(time_masks=3, time_width=20, freq_masks=2, freq_width=8, mask_value=MASK)
    for _ in range(50):
        x = features(rng)
        x0 = x.copy()
        out = sa(x, rng)
        p = sa.params
        assert p["shape"] == x.shape
        assert len(p["time"]) == 3 and len(p["freq"]) == 2
        for s, w in p["time"]:
            assert 0 <= w <= 20 and 0 <= s and s + w <= x.shape[0]
        for s, w in p["freq"]:
            assert 0 <= w <= 8 and 0 <= s and s + w <= x.shape[1]
        m = expected_mask(x.shape, p["time"], p["freq"])
        assert np.all(out[m] == MASK)
        assert np.array_equal(out[~m], x[~m])
        assert np.array_equal(x, x0), "input mutated"
        assert out.dtype == x.dtype and out.shape == x.shape


def test_default_mask_value_is_zero(rng):
    x = features(rng, frames=200, n_mels=64)
    sa = SpecAugment()
    out = sa(x, rng)
    m = expected_mask(x.shape, sa.params["time"], sa.params["freq"])
    assert np.all(out[m] == 0.0)
    assert np.array_equal(out[~m], x[~m])


def test_widths_cover_the_whole_range(rng):
    sa = SpecAugment(time_masks=1, time_width=4, freq_masks=1, freq_width=3)
    tw, fw = set(), set()
    for _ in range(300):
        sa.randomize(np.zeros((10, 6)), rng)
        tw.add(sa.params["time"][0][1])
        fw.add(sa.params["freq"][0][1])
    assert tw == {0, 1, 2, 3, 4}
    assert fw == {0, 1, 2, 3}


def test_zero_masks_is_identity_copy(rng):
    x = features(rng)
    sa = SpecAugment(time_masks=0, freq_masks=0)
    out = sa(x, rng)
    assert np.array_equal(out, x) and out is not x
    outb = sa.apply_batch(x[None], rng)
    assert np.array_equal(outb[0], x)


def test_apply_reuses_params(rng):
    x = features(rng)
    sa = SpecAugment(time_width=30, freq_width=10, mask_value=MASK)
    sa.randomize(x, rng)
    assert np.array_equal(sa.apply(x), sa.apply(x))


def test_determinism(rng):
    x = features(rng)
    a, b = SpecAugment(mask_value=MASK), SpecAugment(mask_value=MASK)
    oa = a(x, np.random.default_rng(7))
    ob = b(x, np.random.default_rng(7))
    assert a.params == b.params and np.array_equal(oa, ob)
    xb = np.stack([x] * 4)
    assert np.array_equal(
        a.apply_batch(xb, np.random.default_rng(3)), b.apply_batch(xb, np.random.default_rng(3))
    )


def test_batch_of_one_matches_single(rng):
    x = features(rng)
    sa = SpecAugment(time_width=30, freq_width=10, mask_value=MASK)
    single = sa(x, np.random.default_rng(11))
    batch = sa.apply_batch(x[None], np.random.default_rng(11))
    assert np.array_equal(single, batch[0])


def test_apply_batch_masks_recorded_regions_per_example(rng):
    b, frames, n_mels = 16, 120, 32
    x = np.stack([features(rng, frames, n_mels) for _ in range(b)])
    x0 = x.copy()
    sa = SpecAugment(time_masks=2, time_width=25, freq_masks=2, freq_width=10, mask_value=MASK)
    out = sa.apply_batch(x, rng)
    bp = sa.batch_params
    assert bp["time_starts"].shape == (b, 2) and bp["freq_widths"].shape == (b, 2)
    masks = []
    for i in range(b):
        time = list(zip(bp["time_starts"][i], bp["time_widths"][i]))
        freq = list(zip(bp["freq_starts"][i], bp["freq_widths"][i]))
        for s, w in time:
            assert 0 <= w <= 25 and s + w <= frames
        for s, w in freq:
            assert 0 <= w <= 10 and s + w <= n_mels
        m = expected_mask((frames, n_mels), time, freq)
        assert np.all(out[i][m] == MASK)
        assert np.array_equal(out[i][~m], x[i][~m])
        masks.append(m)
    # Independent draws: the examples are not all masked alike.
    assert len({m.tobytes() for m in masks}) > b // 2
    assert np.array_equal(x, x0), "input mutated"
    assert out.dtype == x.dtype


def test_apply_batch_is_cheap(rng):
    x = rng.standard_normal((32, 500, 128)).astype(np.float32)
    sa = SpecAugment()
    sa.apply_batch(x, rng)
    t0 = time.perf_counter()
    for _ in range(5):
        sa.apply_batch(x, rng)
    assert (time.perf_counter() - t0) / 5 < 0.25


def test_validation():
    for kw, text in [
        ({"time_masks": -1}, "time_masks=-1"),
        ({"freq_masks": MAX_MASKS + 1}, f"freq_masks={MAX_MASKS + 1}"),
        ({"time_masks": 1.5}, "time_masks=1.5"),
        ({"time_masks": True}, "time_masks=True"),
        ({"time_width": -3}, "time_width=-3"),
        ({"freq_width": 2.0}, "freq_width=2.0"),
        ({"mask_value": float("nan")}, "mask_value=nan"),
        ({"mask_value": "0"}, "mask_value='0'"),
    ]:
        with pytest.raises(ConfigError, match=text):
            SpecAugment(**kw)


def test_width_must_be_smaller_than_axis(rng):
    with pytest.raises(ConfigError, match=r"time_width=40 .*frames \(40\)"):
        SpecAugment(time_width=40)(np.zeros((40, 64)), rng)
    with pytest.raises(ConfigError, match=r"freq_width=16 .*n_mels \(16\)"):
        SpecAugment(freq_width=16).apply_batch(np.zeros((2, 100, 16)), rng)
    # Irrelevant when that mask kind is disabled.
    SpecAugment(time_masks=0, time_width=40)(np.zeros((10, 64)), rng)


def test_shape_errors(rng):
    sa = SpecAugment()
    with pytest.raises(ValueError, match="2-D"):
        sa(np.zeros((2, 100, 64)), rng)
    with pytest.raises(ValueError, match="3-D"):
        sa.apply_batch(np.zeros((100, 64)), rng)
    sa.randomize(np.zeros((100, 64)), rng)
    with pytest.raises(ValueError, match="differs"):
        sa.apply(np.zeros((90, 64)))
    with pytest.raises(RuntimeError, match="randomize"):
        SpecAugment().apply(np.zeros((100, 64)))
