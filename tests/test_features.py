import numpy as np
import pytest

from animalsnd.config import FeatureConfig
from animalsnd.errors import ConfigError
from animalsnd.features import fit_frames, logmel, normalise


def test_shape_dtype_and_band_normalisation(rng):
    cfg = FeatureConfig()
    y = rng.standard_normal(16000 * 20).astype(np.float32) * 0.1
    x = logmel(y, cfg=cfg)
    assert x.shape == (500, 128) and x.dtype == np.float32
    assert np.allclose(x.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(x.std(axis=0), 1, atol=1e-3)


def test_short_clip_is_zero_padded_after_normalisation(rng):
    cfg = FeatureConfig()
    y = rng.standard_normal(16000 * 2).astype(np.float32)
    x = logmel(y, cfg=cfg)
    t = 1 + 16000 * 2 // 512
    assert np.all(x[t:] == 0)
    assert np.allclose(x[:t].mean(axis=0), 0, atol=1e-4)
    assert logmel(y, cfg=cfg, pad=False).shape == (t, 128)


def test_level_invariance(rng):
    cfg = FeatureConfig(n_mels=32, frames=64)
    y = rng.standard_normal(16000).astype(np.float32) * 0.01
    assert np.allclose(logmel(y, cfg=cfg), logmel(10 * y, cfg=cfg), atol=1e-3)


def test_tone_energy_in_right_band():
    cfg = FeatureConfig(frames=32)
    t = np.arange(16000) / 16000
    y = (0.5 * np.sin(2 * np.pi * 4000 * t)).astype(np.float32)
    import librosa

    S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=512, n_mels=128)
    band = int(np.argmax(S.mean(axis=1)))
    mel_hz = librosa.mel_frequencies(n_mels=128, fmax=8000)
    assert abs(mel_hz[band] - 4000) < 150
    assert logmel(y, cfg=cfg).shape == (32, 128)


def test_constant_band_does_not_divide_by_zero():
    db = np.zeros((10, 4))
    db[:, 0] = np.arange(10)
    z = normalise(db, frames=None)
    assert np.isfinite(z).all() and np.all(z[:, 1:] == 0)


def test_fit_frames_crops_start():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    assert np.array_equal(fit_frames(x, frames=3), x[:3])
    assert fit_frames(x, frames=12).shape == (12, 2)


def test_config_validation_and_hash():
    with pytest.raises(ConfigError, match="hop_length=0"):
        FeatureConfig(hop_length=0)
    with pytest.raises(ConfigError, match="fmax"):
        FeatureConfig(fmax=9000.0)
    a, b = FeatureConfig(), FeatureConfig(n_mels=64)
    assert a.hash() != b.hash() and a.hash() == FeatureConfig().hash()
    assert FeatureConfig.from_dict(b.to_dict()) == b
    with pytest.raises(ConfigError, match="unknown feature options: bogus"):
        FeatureConfig.from_dict({"bogus": 1})


def test_clip_norm_keeps_the_relative_level_of_the_bands():
    cfg = FeatureConfig(norm="clip")
    t = np.arange(16000 * 3) / 16000
    y = (0.5 * np.sin(2 * np.pi * 500 * t) + 0.005 * np.sin(2 * np.pi * 4000 * t)).astype(np.float32)
    x = logmel(y, cfg=cfg, pad=False)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3  # over the whole clip
    band_means = x.mean(axis=0)
    from librosa import mel_frequencies

    bands = mel_frequencies(cfg.n_mels + 2, fmax=8000.0)[1:-1]
    loud, quiet = int(np.argmin(abs(bands - 500))), int(np.argmin(abs(bands - 4000)))
    assert band_means[loud] > band_means[quiet] + 1.0  # 40 dB apart; per-band z-norm would make both 0
    band = logmel(y, cfg=FeatureConfig(), pad=False).mean(axis=0)
    assert abs(band[loud] - band[quiet]) < 1e-4


def test_norm_option_is_validated_and_keeps_the_default_hash():
    assert "norm" not in FeatureConfig().to_dict()  # caches made before the option keep their hash
    clip = FeatureConfig(norm="clip")
    assert clip.to_dict()["norm"] == "clip" and clip.hash() != FeatureConfig().hash()
    assert FeatureConfig.from_dict(clip.to_dict()) == clip
    with pytest.raises(ConfigError, match="norm='global' must be one of: band, clip, pcen, floor"):
        FeatureConfig(norm="global")


def _tone_over_noise(rng, noise_std: float) -> np.ndarray:
    """4 s of steady broadband noise with a 1 kHz tone from 2.0 to 2.5 s (16 kHz)."""
    t = np.arange(16000 * 4) / 16000
    call = np.sin(2 * np.pi * 1000 * t) * ((t > 2.0) & (t < 2.5))
    return (noise_std * rng.standard_normal(t.size) + call).astype(np.float32)


def _tone_band_and_times(cfg: FeatureConfig, n_frames: int) -> tuple[int, np.ndarray]:
    """The Mel band of the 1 kHz tone, and each frame's time in seconds."""
    from librosa import mel_frequencies

    band = int(np.argmin(abs(mel_frequencies(cfg.n_mels + 2, fmax=8000.0)[1:-1] - 1000)))
    return band, np.arange(n_frames) * cfg.hop_length / cfg.sr


def test_pcen_norm_suppresses_a_steady_background(rng):
    cfg = FeatureConfig(norm="pcen")
    y = _tone_over_noise(rng, 0.05)
    x = logmel(y, cfg=cfg, pad=False)
    assert x.shape[1] == cfg.n_mels and np.isfinite(x).all()
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    band, frames = _tone_band_and_times(cfg, x.shape[0])
    during = x[(frames > 2.1) & (frames < 2.4), band].mean()
    before = x[(frames > 1.0) & (frames < 1.8), band].mean()
    assert during > before + 1.0  # the call stands out of the adapted background in its band
    quiet = logmel(0.1 * y, cfg=cfg, pad=False)
    assert np.abs(quiet - x).max() < 0.5  # roughly level-invariant (the gain is 0.98, not 1)


def test_floor_norm_keeps_only_what_rises_above_each_bands_background(rng):
    cfg = FeatureConfig(norm="floor")
    y = _tone_over_noise(rng, 0.01)
    x = logmel(y, cfg=cfg, pad=False)
    assert x.shape[1] == cfg.n_mels and np.isfinite(x).all() and x.min() == 0.0
    band, frames = _tone_band_and_times(cfg, x.shape[0])
    during = x[(frames > 2.1) & (frames < 2.4), band]
    assert during.min() > 3.0  # the tone is 30+ dB above the hiss in its band (units of 10 dB)
    background = x[(frames < 1.8) | (frames > 2.7)]
    assert float((background > 0).mean()) < 0.5 and float(background.mean()) < 0.1  # the hiss is mostly gone
    # the median in each band is subtracted, so the recording level does not matter
    quiet = logmel(0.1 * y, cfg=cfg, pad=False)
    assert np.abs(quiet - x).max() < 1e-3
    # padding adds frames at the background level, 0
    padded = logmel(y, cfg=cfg)
    assert padded.shape == cfg.shape and not padded[x.shape[0]:].any()
