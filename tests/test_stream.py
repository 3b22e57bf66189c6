import numpy as np
import pytest
import soundfile as sf
import soxr

from animalsnd.audio import load
from animalsnd.errors import AudioError, ConfigError
from animalsnd.stream import decode, iter_blocks, prefetch, probe
from audiogen import write_bad_files


def _noise_tone(rng, sr, seconds, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * 997 * t)[:, None] + 0.05 * rng.standard_normal((t.size, channels))
    return y.astype(np.float32) if channels > 1 else y[:, 0].astype(np.float32)


@pytest.mark.parametrize("sr, channels", [(44100, 1), (11127, 2), (48000, 2), (16000, 1)])
def test_blocks_equal_whole_file(tmp_path, rng, sr, channels):
    x = _noise_tone(rng, sr, 2.5, channels)
    path = tmp_path / f"x_{sr}_{channels}.wav"
    sf.write(path, x, sr, subtype="FLOAT")
    block = 7919  # a prime: the file spans many uneven blocks
    parts = list(iter_blocks(path, sr=16000, block_frames=block))
    assert len(parts) >= x.shape[0] // block
    assert all(p.dtype == np.float32 and p.ndim == 1 for p in parts)
    y = np.concatenate(parts)
    mono = x.mean(axis=1, dtype=np.float32) if channels > 1 else x
    whole = soxr.resample(mono, sr, 16000, quality="HQ") if sr != 16000 else mono
    assert y.shape == whole.shape
    np.testing.assert_allclose(y, whole, atol=1e-6)
    ref, _ = load(path, sr=16000)  # the loader prepare uses
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_exact_multiple_of_block_and_single_block(tmp_path, rng):
    path = tmp_path / "x.wav"
    sf.write(path, _noise_tone(rng, 22050, 1.0)[:22000], 22050)
    a = decode(path, sr=16000, block_frames=1100)  # 20 full blocks, then an empty last one
    b = decode(path, sr=16000, block_frames=1 << 20)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_bad_files_raise_audio_error(tmp_path):
    expected = write_bad_files(tmp_path)
    for name in ["empty.wav", "text.wav", "zero.wav", "nan.wav", "truncated.wav"]:
        with pytest.raises(AudioError) as err:
            list(iter_blocks(tmp_path / name, sr=16000))
        assert str(err.value).startswith(str(tmp_path / name))
        assert expected[name] in str(err.value)
    with pytest.raises(AudioError, match="cannot read"):
        probe(tmp_path / "missing.wav")


def test_bad_block_size(tmp_path, rng):
    path = tmp_path / "x.wav"
    sf.write(path, _noise_tone(rng, 16000, 0.5), 16000)
    with pytest.raises(ConfigError, match="block_frames=0"):
        list(iter_blocks(path, sr=16000, block_frames=0))


def test_prefetch_keeps_order_and_forwards_errors(tmp_path, rng):
    path = tmp_path / "x.wav"
    sf.write(path, _noise_tone(rng, 22050, 2.0), 22050)
    assert np.array_equal(np.concatenate(list(prefetch(iter_blocks(path, sr=16000, block_frames=999)))),
                          decode(path, sr=16000, block_frames=999))

    def failing():
        yield 1
        raise AudioError("boom")

    it = prefetch(failing())
    assert next(it) == 1
    with pytest.raises(AudioError, match="boom"):
        next(it)
    closed = []

    def endless():
        try:
            while True:
                yield 0
        finally:
            closed.append(True)

    it = prefetch(endless(), depth=1)
    next(it)
    it.close()  # stops the producer thread and closes the source
    assert closed == [True]
