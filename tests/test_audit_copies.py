"""What a model hears of the clips and their copies (animalsnd.audit_copies)."""

import shutil

import numpy as np
import pytest
import soundfile as sf

from animalsnd.audit_copies import LEVEL_PROPERTIES, heard_properties, training_shortcut
from animalsnd.cache import prepare
from animalsnd.config import FeatureConfig
from animalsnd.errors import DatasetError

SR = 8000
TINY = FeatureConfig(sr=SR, n_mels=16, n_fft=256, hop_length=128, frames=32)


@pytest.fixture
def level_cache(tmp_path):
    """Two classes told apart by their peak level alone: 'loud' at -1 dBFS, 'soft' at -20 dBFS."""
    rng = np.random.default_rng(0)
    for label, peak in (("loud", 10 ** (-1 / 20)), ("soft", 0.1)):
        d = tmp_path / "data" / label
        d.mkdir(parents=True)
        for i in range(12):
            y = rng.standard_normal(int(0.5 * SR)) * np.hanning(int(0.5 * SR))
            sf.write(d / f"{label}{i}.wav", (peak * y / np.abs(y).max()).astype(np.float32), SR)
    noise = tmp_path / "noise"
    noise.mkdir()
    sf.write(noise / "hiss.wav", 0.05 * rng.standard_normal(SR), SR)
    prepare(tmp_path / "data", tmp_path / "cache", cfg=TINY, folds=3, jobs=1)
    return tmp_path / "cache", noise


def test_the_peak_names_the_class_until_chain_copies_draw_a_random_level(level_cache):
    from animalsnd.augment.store import build_augmented

    cache, noise = level_cache
    clean = heard_properties(cache, jobs=1)
    assert len(clean) == 24 and not any(c["copy"] for c in clean)
    peaks = {lab: np.median([c["peak_dbfs"] for c in clean if c["label"] == lab]) for lab in ("loud", "soft")}
    assert peaks["loud"] == pytest.approx(-1.0, abs=0.6) and peaks["soft"] == pytest.approx(-20.0, abs=0.6)
    build_augmented(cache, noise, snr=(20, 30), per_class=24, name="plain", jobs=1)
    build_augmented(cache, noise, snr=(20, 30), per_class=24, name="chain", jobs=1, chain="random")
    plain = training_shortcut(cache, "plain", props=LEVEL_PROPERTIES, jobs=1)
    chain = training_shortcut(cache, "chain", props=LEVEL_PROPERTIES, jobs=1)
    assert plain["clean"].balanced_accuracy > 0.95  # the level gives the class away
    assert plain["copies"].balanced_accuracy > 0.9  # noise copies keep each clip's level
    assert chain["copies"].balanced_accuracy < 0.75  # a random peak level per copy does not
    assert chain["clean+copies"].balanced_accuracy < plain["clean+copies"].balanced_accuracy - 0.15
    with pytest.raises(DatasetError, match="no augmented set 'nope'"):
        heard_properties(cache, "nope")
