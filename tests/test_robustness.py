import numpy as np
import pytest
import soundfile as sf

from animalsnd.cache import load_features, prepare
from animalsnd.config import FeatureConfig
from animalsnd.errors import AudioError, ConfigError, DatasetError
from animalsnd.robustness import noisy_features, noisy_vectors
from audiogen import make_dataset

TINY = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)
SR = 8000


@pytest.fixture
def clips(tmp_path):
    data = make_dataset(tmp_path / "data", {"a": 300.0, "b": 1500.0}, n=3, sr=SR, seconds=0.6)
    prepare(data, tmp_path / "cache", cfg=TINY, folds=3, jobs=1)
    return load_features(tmp_path / "cache")


@pytest.fixture
def noise(tmp_path):
    d = tmp_path / "noise"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        sf.write(d / f"n{i}.wav", (0.1 * rng.standard_normal(1500 + 500 * i)).astype(np.float32), SR)
    return d


@pytest.mark.parametrize("snr", [0.0, 12.5])
def test_realised_snr_matches(clips, noise, snr):
    X, realised = noisy_features(clips.paths, TINY, noise, snr_db=snr, jobs=1, return_snr=True)
    assert X.shape == (6, 32, 16) and X.dtype == np.float32
    assert np.all(np.abs(realised - snr) <= 0.5)


def test_deterministic_and_louder_noise_moves_features_further(clips, noise):
    a = noisy_features(clips.paths, TINY, noise, snr_db=5, seed=7, jobs=1)
    b = noisy_features(clips.paths, TINY, noise, snr_db=5, seed=7, jobs=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, noisy_features(clips.paths, TINY, noise, snr_db=5, seed=8, jobs=1))
    far = np.abs(a - clips.X).mean()
    near = np.abs(noisy_features(clips.paths, TINY, noise, snr_db=40, seed=7, jobs=1) - clips.X).mean()
    assert near < far


def test_bad_input(clips, noise, tmp_path):
    with pytest.raises(ConfigError, match="snr_db=nan must be a finite number"):
        noisy_features(clips.paths, TINY, noise, snr_db=float("nan"))
    with pytest.raises(DatasetError, match="noise folder does not exist"):
        noisy_features(clips.paths, TINY, tmp_path / "nope", snr_db=5)
    missing = str(tmp_path / "gone.wav")
    with pytest.raises(AudioError) as e:
        noisy_features([*clips.paths[:2], missing], TINY, noise, snr_db=5, jobs=1)
    assert str(e.value).startswith(f"1 of 3 evaluation clips could not be read (first: {missing}: cannot read")


def test_noisy_vectors_are_the_model_inputs_of_noisy_clips(clips, noise):
    from animalsnd import descriptors as D
    from animalsnd import families

    stats = families.wave_input("stats", TINY)
    assert stats.sr == D.SPEC["sr"] and stats == families.wave_input("stats", TINY)  # hashable, comparable
    X, snr = noisy_vectors(clips.paths, stats, noise, snr_db=5, seed=2, jobs=1, return_snr=True)
    assert X.shape == (6, D.DIM) and np.all(np.abs(snr - 5) <= 0.5)
    clean = np.stack([D.describe_file(p) for p in clips.paths])
    near = noisy_vectors(clips.paths, stats, noise, snr_db=40, seed=2, jobs=1)
    assert np.abs(near - clean).mean() < np.abs(X - clean).mean()
    assert noisy_vectors([], stats, noise, snr_db=5).shape == (0, 0)
    with pytest.raises(ConfigError, match="pool='median' must be one of"):
        families.wave_input("birdnet", TINY, "median")
    with pytest.raises(ConfigError, match="unknown input kind 'mfcc'"):
        families.wave_input("mfcc", TINY)
