"""The analysis cut-off: measured bandwidth, the chosen cut-off, and every model input band-limited by it."""

import numpy as np
import pytest
import soundfile as sf

from animalsnd import audit
from animalsnd.audio import band_limit
from animalsnd.errors import ConfigError


def _tones(sr: int, freqs, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (sum(np.sin(2 * np.pi * f * t) for f in freqs) * 0.2).astype(np.float32)


def _level_at(y: np.ndarray, sr: int, f: float) -> float:
    spec = np.abs(np.fft.rfft(y))
    return float(spec[np.argmin(np.abs(np.fft.rfftfreq(y.size, 1 / sr) - f))] / spec.max())


def test_band_limit_removes_only_what_lies_above_the_cutoff():
    y = _tones(48000, [1000, 6000])
    z = band_limit(y, 48000, 3750)
    assert _level_at(z, 48000, 1000) > 0.99
    assert _level_at(z, 48000, 6000) < 1e-6
    assert band_limit(y, 48000, None) is y  # no cut-off: untouched
    batch = band_limit(np.stack([y, 0.5 * y]), 48000, 3750)  # window by window
    np.testing.assert_allclose(batch[1], 0.5 * z, atol=1e-6)


def test_effective_bandwidth_is_measured_not_read_from_the_header(tmp_path):
    import soxr

    narrow = soxr.resample(_tones(8000, [300, 1200, 3000]), 8000, 44100)  # an 8 kHz recording stored at 44.1 kHz
    wide = _tones(44100, [300, 1200, 3000, 9000, 15000])
    assert 3000 <= audit.effective_bandwidth(narrow, 44100) <= 4100
    assert audit.effective_bandwidth(wide, 44100) >= 15000
    sf.write(tmp_path / "n.wav", narrow, 44100)
    assert audit.file_bandwidth(str(tmp_path / "n.wav")) == pytest.approx(audit.effective_bandwidth(narrow, 44100))
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    assert audit.file_bandwidth(str(tmp_path / "bad.wav")) is None


def test_recommend_cutoff_follows_the_narrowest_chains():
    bw = [4000.0] * 10 + [20000.0] * 90  # a tenth of the clips come from an 8 kHz chain
    assert audit.recommend_cutoff(bw, sr=16000) == 3750.0
    assert audit.recommend_cutoff([8000.0] * 50, sr=16000) is None  # every clip fills the band: no cut-off
    assert audit.recommend_cutoff([None, 500.0], sr=16000) == audit.MIN_CUTOFF_HZ
    assert audit.recommend_cutoff([None], sr=16000) is None


@pytest.mark.parametrize("bad", ["900", "8001", "inf", "nan", "loud"])
def test_a_cutoff_outside_the_band_is_refused(bad):
    with pytest.raises(ConfigError, match="--cutoff"):
        audit.choose_cutoff(".", sr=16000, cutoff=bad)


def test_descriptors_ignore_everything_above_the_cutoff():
    from animalsnd import descriptors as D

    floor = 1e-3 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)  # a recording's noise floor
    fade = np.hanning(16000).astype(np.float32)  # no broadband click at the clip's edges
    low = _tones(16000, [500, 1500]) * fade + floor
    both = _tones(16000, [500, 1500, 6000]) * fade + floor
    full = np.abs(D.describe(low) - D.describe(both)).mean()
    cut = np.abs(D.describe(low, fmax=3750) - D.describe(both, fmax=3750)).mean()
    assert cut < 0.05 * full  # only window leakage of the 6 kHz tone below the cut-off is left
    assert D.spec(None) == D.SPEC and D.spec(3750)["fmax"] == 3750.0
    assert D.spec_hash(None) != D.spec_hash(3750)


def test_prepare_cli_measures_and_stores_the_cutoff(tmp_path, runner):
    import json

    import soxr

    from animalsnd.cli import app

    data = tmp_path / "data"
    for label, native, freqs in (("low", 8000, [400, 900]), ("high", 32000, [2000, 6000, 12000])):
        (data / label).mkdir(parents=True)
        for i in range(4):
            y = _tones(native, [f * (1 + 0.03 * i) for f in freqs], seconds=0.5)
            y += 1e-2 * np.random.default_rng(i).standard_normal(y.size).astype(np.float32)  # the chain's floor
            sf.write(data / label / f"{label}{i}.wav", y, native)
    args = ["prepare", str(data), "--cache", str(tmp_path / "c"), "--folds", "2", "--jobs", "1",
            "--n-mels", "32", "--frames", "20"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "analysis bandwidth: 0-3750 Hz" in res.output
    assert json.loads((tmp_path / "c" / "config.json").read_text())["feature"]["fmax"] == 3750.0
    res = runner.invoke(app, [*args[:3], str(tmp_path / "s"), *args[4:], "--preset", "study"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "s" / "config.json").read_text())["feature"]["fmax"] is None
    res = runner.invoke(app, [*args[:3], str(tmp_path / "x"), *args[4:], "--cutoff", "500"])
    assert res.exit_code == 1 and "--cutoff 500 must lie between" in res.output
    del soxr
