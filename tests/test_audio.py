import numpy as np
import pytest

from animalsnd.audio import is_audio_file, load
from animalsnd.errors import AudioError
from audiogen import ENCODINGS, mp3_in_wav, tone, write_bad_files, write_encoding


@pytest.mark.parametrize("name,fmt,subtype,sr,channels", ENCODINGS)
def test_every_encoding_decodes_to_mono_16k(tmp_path, name, fmt, subtype, sr, channels):
    path = write_encoding(tmp_path, name, fmt, subtype, sr, channels, freq=440.0)
    y, info = load(path, sr=16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert info.sample_rate == sr and info.channels == channels
    assert abs(y.size - 16000) < 16000 * 0.08  # one second, codec padding aside
    spec = np.abs(np.fft.rfft(y[2000:14000]))
    peak_hz = np.argmax(spec) * 16000 / 12000
    assert abs(peak_hz - 440) < 5, f"{name}: dominant frequency {peak_hz} Hz"


def test_mp3_inside_wav(tmp_path):
    path = mp3_in_wav(tmp_path / "mp3.wav", tone(sr=22050), 22050)
    y, info = load(path, sr=16000)
    assert info.subtype == "MPEG_LAYER_III"
    assert y.size > 15000 and np.max(np.abs(y)) > 0.1


def test_resampling_keeps_level(tmp_path):
    path = write_encoding(tmp_path, "a.wav", "WAV", "FLOAT", 44100, 1, freq=1000.0)
    y, _ = load(path, sr=16000)
    rms = np.sqrt(np.mean(y[1000:-1000] ** 2))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.01)


def test_bad_files_raise_named_errors(tmp_path):
    expected = write_bad_files(tmp_path)
    for name, word in expected.items():
        with pytest.raises(AudioError) as err:
            load(tmp_path / name, sr=16000, min_samples=1024)
        msg = str(err.value)
        assert msg.startswith(str(tmp_path / name) + ":"), msg
        assert word in msg, msg
        assert "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="cannot read"):
        load(tmp_path / "nope.wav")


def test_is_audio_file(tmp_path):
    for name in ["a.WAV", "b.Flac", ".hidden.wav", "c.txt"]:
        (tmp_path / name).write_bytes(b"x")
    found = sorted(p.name for p in tmp_path.iterdir() if is_audio_file(p))
    assert found == ["a.WAV", "b.Flac"]
