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
    for name in ["a.WAV", "b.Flac", ".hidden.wav", "c.txt", "d.m4a", "e.RF64"]:
        (tmp_path / name).write_bytes(b"x")
    found = sorted(p.name for p in tmp_path.iterdir() if is_audio_file(p))
    assert found == ["a.WAV", "b.Flac", "d.m4a", "e.RF64"]


def test_undecodable_audio_says_how_to_convert(tmp_path):
    """A phone's .m4a is listed with the audio (not left out unseen) and fails with one line
    naming the file and what to do; an unknown binary keeps libsndfile's reason."""
    (tmp_path / "call.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    with pytest.raises(AudioError) as err:
        load(tmp_path / "call.m4a")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'call.m4a'}: .m4a audio cannot be decoded"), msg
    assert "convert it to WAV or FLAC" in msg and "\n" not in msg
    (tmp_path / "junk.wav").write_bytes(bytes(200))
    with pytest.raises(AudioError, match="not a readable audio file"):
        load(tmp_path / "junk.wav")


def test_a_long_field_recording_format_is_read(tmp_path):
    import soundfile as sf

    y = tone(440, seconds=0.5, sr=16000)
    sf.write(tmp_path / "site.rf64", y, 16000, format="RF64", subtype="PCM_16")
    got, info = load(tmp_path / "site.rf64", sr=16000)
    assert info.sample_rate == 16000 and got.shape == y.shape
