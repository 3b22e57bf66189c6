"""SNR-calibrated noise mixing: the SNR is checked by measuring the result."""

import math

import numpy as np
import pytest

from animalsnd.augment.noise import (
    NoiseMixer,
    active_rms,
    calculate_desired_noise_rms,
    noise_segment,
    parse_snr_list,
    parse_snr_range,
    realised_snr,
    rms,
)
from animalsnd.errors import AudioError, ConfigError

SR = 16000


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def db(ratio: float) -> float:
    return 20.0 * math.log10(ratio)


def tone(seconds=1.0, freq=440.0, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(seconds=0.2, f0=2000.0, f1=6000.0, amp=0.5):
    """A short frequency sweep with 10 ms fades, like a bird call."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    env = np.ones(n)
    fade = int(0.01 * SR)
    env[:fade] = np.linspace(0, 1, fade)
    env[-fade:] = np.linspace(1, 0, fade)
    return (amp * env * np.sin(phase)).astype(np.float32)


def padded_call(call, ratio=10):
    """``call`` in the middle of ``ratio`` times its length of silence."""
    pad = ratio * call.size // 2
    return np.concatenate([np.zeros(pad, np.float32), call, np.zeros(pad, np.float32)])


def signals(rng):
    return {
        "tone": tone(),
        "padded_chirp": padded_call(chirp()),
        "noisy_burst": np.concatenate(
            [
                0.001 * rng.standard_normal(SR // 2),
                0.4 * rng.standard_normal(SR // 4),
                0.001 * rng.standard_normal(SR // 2),
            ]
        ).astype(np.float32),
    }


def noises(rng):
    t = np.arange(SR // 10) / SR
    return {
        # 0.1 s: much shorter than every clip, so it loops.
        "short_white": (0.2 * rng.standard_normal(SR // 10)).astype(np.float32),
        "short_hum": (0.1 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
        "long_brown": np.cumsum(0.01 * rng.standard_normal(5 * SR)).astype(np.float32),
    }


# --- levels -----------------------------------------------------------------


def test_rms_of_known_signals():
    assert rms(np.zeros(10)) == 0.0
    assert rms(np.array([], dtype=np.float32)) == 0.0
    assert rms(np.full(100, -0.5)) == pytest.approx(0.5)
    assert rms(tone(amp=1.0)) == pytest.approx(1 / math.sqrt(2), rel=1e-4)


def test_active_rms_measures_the_call_not_the_silence():
    call = chirp()
    clip = padded_call(call, ratio=10)
    assert clip.size == 11 * call.size
    assert abs(db(active_rms(clip, sr=SR) / rms(call))) < 1.0
    # The whole-clip level is diluted by the silence: about -10.4 dB.
    assert db(rms(clip) / rms(call)) == pytest.approx(db(1 / math.sqrt(11)), abs=0.1)
    assert db(rms(clip) / rms(call)) < -9.0


def test_active_rms_ignores_a_low_noise_floor(rng):
    call = chirp()
    clip = padded_call(call, ratio=10) + (1e-4 * rng.standard_normal(11 * call.size))
    assert abs(db(active_rms(clip, sr=SR) / rms(call))) < 1.0


def test_active_rms_of_steady_signal_equals_rms():
    x = tone()
    assert active_rms(x, sr=SR) == pytest.approx(rms(x), rel=1e-3)


def test_active_rms_fallbacks():
    assert active_rms(np.zeros(SR, np.float32), sr=SR) == 0.0
    assert active_rms(np.array([], np.float32), sr=SR) == 0.0
    short = np.array([0.1, -0.2, 0.3], np.float32)  # shorter than one frame
    assert active_rms(short, sr=SR) == pytest.approx(rms(short))


def test_active_rms_validates_options():
    with pytest.raises(ConfigError, match="sr=0"):
        active_rms(tone(), sr=0)
    with pytest.raises(ConfigError, match="frame_s=-1"):
        active_rms(tone(), sr=SR, frame_s=-1)
    with pytest.raises(ConfigError, match="threshold_db=10"):
        active_rms(tone(), sr=SR, threshold_db=10)


def test_calculate_desired_noise_rms():
    assert calculate_desired_noise_rms(1.0, 20.0) == pytest.approx(0.1)
    assert calculate_desired_noise_rms(0.5, 0.0) == pytest.approx(0.5)
    assert calculate_desired_noise_rms(1.0, -20.0) == pytest.approx(10.0)
    assert db(0.3 / calculate_desired_noise_rms(0.3, 13.7)) == pytest.approx(13.7)


# --- looping ----------------------------------------------------------------


def test_noise_segment_loops():
    noise = np.arange(5, dtype=np.float32)
    seg = noise_segment(noise, length=12, offset=3)
    assert seg.tolist() == [3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert noise_segment(noise, length=3, offset=1).tolist() == [1, 2, 3]
    assert noise_segment(noise, length=4, offset=8).tolist() == [3, 4, 0, 1]
    assert noise_segment(noise, length=0, offset=2).size == 0
    assert seg.dtype == np.float32


def test_noise_segment_is_a_copy():
    noise = np.arange(10, dtype=np.float32)
    seg = noise_segment(noise, length=3, offset=0)
    seg[:] = -1
    assert noise[:3].tolist() == [0, 1, 2]


def test_noise_segment_validation():
    with pytest.raises(ConfigError, match="empty"):
        noise_segment(np.array([], np.float32), length=3, offset=0)
    with pytest.raises(ConfigError, match="length=-1"):
        noise_segment(np.ones(3), length=-1, offset=0)


def test_mixer_loops_short_noise_into_long_clip(rng):
    noise = (0.2 * rng.standard_normal(1000)).astype(np.float32)
    clip = tone(seconds=0.5)
    mixer = NoiseMixer([noise], snr_db=10.0, reference="whole", sr=SR)
    mixed = mixer(clip, rng)
    added = (mixed.astype(np.float64) - clip) / mixer.params["gain"]
    seg = noise_segment(noise, length=clip.size, offset=mixer.params["offset"])
    expected = seg * (mixer.params["noise_rms"] / rms(seg))
    np.testing.assert_allclose(added, expected, atol=1e-6)
    # The added noise repeats with the noise's period.
    np.testing.assert_allclose(added[: clip.size - 1000], added[1000:], atol=1e-6)


# --- the SNR, measured ------------------------------------------------------


@pytest.mark.parametrize("reference", ["active", "whole"])
def test_realised_snr_matches_target(rng, reference):
    sigs = signals(rng)
    noise_dict = noises(rng)
    mixer_noises = list(noise_dict.values())
    names = list(noise_dict)
    for name, clean in sigs.items():
        for target in rng.uniform(0.0, 30.0, size=8):
            mixer = NoiseMixer(
                mixer_noises, snr_db=(target, target), reference=reference,
                sr=SR, noise_names=names,
            )
            mixed = mixer(clean, rng)
            assert mixed.dtype == clean.dtype and mixed.shape == clean.shape
            assert np.max(np.abs(mixed)) <= 1.0
            gain = mixer.params["gain"]
            got = realised_snr(clean * gain, mixed, sr=SR, reference=reference)
            assert abs(got - target) < 0.01, (name, mixer.params, got, target)


def test_realised_snr_random_range(rng):
    clean = padded_call(chirp())
    mixer = NoiseMixer(list(noises(rng).values()), snr_db=(0.0, 30.0), sr=SR)
    seen = []
    for _ in range(20):
        mixed = mixer(clean, rng)
        snr = mixer.params["snr_db"]
        assert 0.0 <= snr <= 30.0
        got = realised_snr(clean * mixer.params["gain"], mixed, sr=SR)
        assert abs(got - snr) < 0.01
        seen.append(snr)
    assert np.ptp(seen) > 10  # really drawn across the range


def test_whole_reference_under_noises_a_padded_call(rng):
    """The naive baseline adds ~10 dB less noise to a call padded 10x."""
    clean = padded_call(chirp())
    noise = [(0.1 * rng.standard_normal(SR)).astype(np.float32)]
    whole = NoiseMixer(noise, snr_db=10.0, reference="whole", sr=SR)
    mixed = whole(clean, 0)
    over_call = realised_snr(clean, mixed, sr=SR, reference="active")
    assert over_call == pytest.approx(10.0 + 10 * math.log10(11), abs=1.0)


def test_clipping_scales_the_mix_and_keeps_the_snr(rng):
    clean = tone(amp=0.95)
    noise = [rng.standard_normal(SR).astype(np.float32)]
    mixer = NoiseMixer(noise, snr_db=0.0, sr=SR)
    mixed = mixer(clean, rng)
    gain = mixer.params["gain"]
    assert 0 < gain < 1
    assert np.max(np.abs(mixed)) <= 1.0
    assert np.max(np.abs(mixed)) == pytest.approx(1.0, abs=1e-6)
    assert realised_snr(clean * gain, mixed, sr=SR) == pytest.approx(0.0, abs=0.01)


def test_no_clipping_gain_is_one(rng):
    mixer = NoiseMixer([0.1 * rng.standard_normal(SR)], snr_db=20.0, sr=SR)
    mixer(tone(amp=0.1), rng)
    assert mixer.params["gain"] == 1.0


def test_silent_clip_is_returned_unchanged(rng):
    mixer = NoiseMixer([rng.standard_normal(SR)], sr=SR)
    clip = np.zeros(SR, np.float32)
    out = mixer(clip, rng)
    assert np.array_equal(out, clip) and out is not clip


def test_noise_with_digital_silence_never_gives_a_silent_segment(rng):
    noise = np.zeros(20000, np.float32)
    noise[-50:] = rng.standard_normal(50)
    clip = tone(seconds=0.05)
    mixer = NoiseMixer([noise], snr_db=10.0, sr=SR)
    for seed in range(30):
        mixed = mixer(clip, seed)
        got = realised_snr(clip * mixer.params["gain"], mixed, sr=SR)
        assert got == pytest.approx(10.0, abs=0.01)


def test_input_not_modified(rng):
    clip = tone()
    noise = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    clip0, noise0 = clip.copy(), noise.copy()
    NoiseMixer([noise], sr=SR)(clip, rng)
    assert np.array_equal(clip, clip0) and np.array_equal(noise, noise0)


# --- randomize / apply ------------------------------------------------------


def test_params_recorded(rng):
    ns = noises(rng)
    mixer = NoiseMixer(list(ns.values()), snr_db=(5, 15), sr=SR, noise_names=list(ns))
    p = mixer.randomize(tone(), rng)
    assert p is mixer.params
    assert set(p) == {"snr_db", "noise_index", "noise_name", "offset"}
    assert 5 <= p["snr_db"] <= 15
    assert p["noise_name"] == list(ns)[p["noise_index"]]
    assert 0 <= p["offset"] < len(mixer.noises[p["noise_index"]])
    mixer.apply(tone())
    assert {"gain", "noise_rms"} <= set(mixer.params)


def test_default_noise_names(rng):
    mixer = NoiseMixer([rng.standard_normal(100), rng.standard_normal(100)])
    assert mixer.noise_names == ["noise_0", "noise_1"]


def test_apply_uses_only_recorded_params(rng):
    mixer = NoiseMixer(list(noises(rng).values()), snr_db=(0, 30), sr=SR)
    clip = tone()
    mixer.randomize(clip, rng)
    a = mixer.apply(clip)
    b = mixer.apply(clip)
    assert np.array_equal(a, b)


def test_determinism():
    ns = list(noises(np.random.default_rng(0)).values())
    clip = padded_call(chirp())
    m1 = NoiseMixer(ns, snr_db=(0, 30), sr=SR)
    m2 = NoiseMixer(ns, snr_db=(0, 30), sr=SR)
    out1 = m1(clip, np.random.default_rng(42))
    out2 = m2(clip, np.random.default_rng(42))
    assert m1.params == m2.params
    assert np.array_equal(out1, out2)
    m2(clip, np.random.default_rng(43))
    assert m1.params != m2.params


def test_apply_before_randomize():
    with pytest.raises(RuntimeError, match="randomize"):
        NoiseMixer([np.ones(10)]).apply(tone())


def test_bad_clip(rng):
    mixer = NoiseMixer([rng.standard_normal(100)])
    with pytest.raises(AudioError, match="mono"):
        mixer(np.zeros((2, 100), np.float32), rng)


# --- validation -------------------------------------------------------------


def test_validation_errors(rng):
    good = [rng.standard_normal(100)]
    with pytest.raises(ConfigError, match="noises is empty"):
        NoiseMixer([])
    with pytest.raises(ConfigError, match="'noise_0' is silent"):
        NoiseMixer([np.zeros(100, np.float32)])
    with pytest.raises(ConfigError, match="'rain.wav' is silent"):
        NoiseMixer([good[0], np.zeros(100)], noise_names=["wind.wav", "rain.wav"])
    with pytest.raises(ConfigError, match="'noise_0' is empty"):
        NoiseMixer([np.array([], np.float32)])
    with pytest.raises(ConfigError, match="mono"):
        NoiseMixer([np.ones((2, 100))])
    with pytest.raises(ConfigError, match="NaN"):
        NoiseMixer([np.array([0.1, np.nan])])
    with pytest.raises(ConfigError, match=r"inverted"):
        NoiseMixer(good, snr_db=(20.0, 10.0))
    with pytest.raises(ConfigError, match="finite"):
        NoiseMixer(good, snr_db=(float("nan"), 10.0))
    with pytest.raises(ConfigError, match="finite"):
        NoiseMixer(good, snr_db=(0.0, float("inf")))
    with pytest.raises(ConfigError, match="snr_db"):
        NoiseMixer(good, snr_db=(1, 2, 3))
    with pytest.raises(ConfigError, match="reference='peak'"):
        NoiseMixer(good, reference="peak")
    with pytest.raises(ConfigError, match="2 names for 1 noises"):
        NoiseMixer(good, noise_names=["a", "b"])
    with pytest.raises(ConfigError, match="sr=-5"):
        NoiseMixer(good, sr=-5)
    with pytest.raises(ConfigError, match="reference='peak'"):
        realised_snr(tone(), tone(), sr=SR, reference="peak")


# --- option parsing ---------------------------------------------------------


def test_parse_snr_range():
    assert parse_snr_range("10:20") == (10.0, 20.0)
    assert parse_snr_range("5") == (5.0, 5.0)
    assert parse_snr_range(" -5 : 2.5 ") == (-5.0, 2.5)
    assert parse_snr_range("7:7") == (7.0, 7.0)


@pytest.mark.parametrize("text", ["20:10", "a:b", "", "1:2:3", ":5", "5:", "inf", "nan:1"])
def test_parse_snr_range_errors(text):
    with pytest.raises(ConfigError) as info:
        parse_snr_range(text)
    assert repr(text) in str(info.value)


def test_parse_snr_list():
    assert parse_snr_list("20,10,5,0") == [20.0, 10.0, 5.0, 0.0]
    assert parse_snr_list(" 3 ") == [3.0]
    assert parse_snr_list("-5, 0,5") == [-5.0, 0.0, 5.0]


@pytest.mark.parametrize("text", ["", "20,,10", "20,x", "1,inf", ","])
def test_parse_snr_list_errors(text):
    with pytest.raises(ConfigError) as info:
        parse_snr_list(text)
    assert repr(text) in str(info.value)
