import numpy as np
import pytest

from animalsnd.augment.codec import CODECS, Codec, available_codecs, codec_round_trip
from animalsnd.errors import ConfigError

SR = 16000


def _snr_db(y, z):
    return 10 * np.log10(np.sum(y.astype(np.float64) ** 2) / np.sum((z - y).astype(np.float64) ** 2))


def _tone(amp=0.5):
    t = np.arange(SR) / SR
    return (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("codec, lo, hi", [("ulaw", 30, 45), ("alaw", 30, 45), ("pcm8", 35, 55)])
def test_8_bit_encodings_add_their_quantisation_noise(codec, lo, hi):
    y = _tone()
    z = codec_round_trip(y, SR, codec)
    assert z.shape == y.shape and z.dtype == np.float32
    assert lo < _snr_db(y, z) < hi  # ~38 dB for the companded codes, ~6 dB x 8 bits for PCM


def test_mu_law_keeps_its_snr_on_quiet_clips_and_8_bit_pcm_does_not():
    loud, quiet = _tone(0.5), _tone(0.005)
    assert abs(_snr_db(quiet, codec_round_trip(quiet, SR, "ulaw")) - _snr_db(loud, codec_round_trip(loud, SR, "ulaw"))) < 8
    assert _snr_db(quiet, codec_round_trip(quiet, SR, "pcm8")) < _snr_db(loud, codec_round_trip(loud, SR, "pcm8")) - 30


def test_lossy_codecs_keep_the_tone_and_the_length():
    y = _tone()
    for codec in set(available_codecs()) & {"ogg", "mp3"}:
        z = codec_round_trip(y, SR, codec, 0.9)
        assert z.shape == y.shape
        spec = np.abs(np.fft.rfft(z))
        assert spec[440] > 0.7 * np.abs(np.fft.rfft(y))[440]
        assert 0 < np.abs(z - y).max()
    loud = 2 * y  # above full scale: scaled for the encoder and back
    assert np.abs(codec_round_trip(loud, SR, "ulaw")).max() > 0.95


def test_randomize_draws_a_codec_and_apply_uses_it():
    aug = Codec(["ulaw", "pcm8"])
    assert {aug.randomize(np.random.default_rng(s))["codec"] for s in range(30)} == {"ulaw", "pcm8"}
    y = _tone()
    aug.params = {"codec": "ulaw", "quality": None}
    np.testing.assert_array_equal(aug.apply(y, sr=SR), codec_round_trip(y, SR, "ulaw"))
    assert "ogg" in available_codecs() and set(available_codecs()) <= set(CODECS)
    with pytest.raises(ConfigError, match="choose one or more"):
        Codec(["tape"])
    with pytest.raises(ConfigError, match="quality"):
        Codec(["ogg"], quality=(0.5, 2))


def test_a_long_clip_round_trips_through_ogg_without_crashing():
    """libsndfile 1.2's Vorbis encoder crashed the process on one write of about a minute
    of audio (e.g. a 2-min background clip under ``eval --chain``); run it in a child process
    so a crash fails this test, not the session."""
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from animalsnd.augment.codec import codec_round_trip\n"
            "y = (0.1 * np.random.default_rng(0).standard_normal(44100 * 70)).astype(np.float32)\n"
            "z = codec_round_trip(y, 44100, 'ogg')\n"
            "assert z.shape == y.shape and np.isfinite(z).all()\n"
            "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-500:]
