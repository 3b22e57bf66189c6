"""Tiny data and trained models shared by the train/eval/bundle tests.

Import the fixtures into a test module (``from conftest_train import ...``).
Expensive artefacts are built once per test process and reused read-only.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 8000
CLIP_S = 0.5
CLASSES = ("chirp", "clicks", "burst")
TINY_FEATURES = dict(sr=SR, n_mels=16, n_fft=256, hop_length=128, frames=32)
TINY_PREPARE = ["--sr", "8000", "--n-mels", "16", "--n-fft", "256", "--hop-length", "128",
                "--frames", "32"]
# a few seconds per model on 2 cores
FAST = dict(epochs=2, batch_size=8, time_width=4, freq_width=3)
FAST_CLI = ["--epochs", "2", "--batch-size", "8", "--time-width", "4", "--freq-width", "3"]

_memo: dict[str, object] = {}


def clip(label: str, i: int, *, sr: int = SR) -> np.ndarray:
    """A 0.5 s clip whose time-frequency pattern depends on its class."""
    rng = np.random.default_rng([zlib.crc32(label.encode()), i])
    t = np.arange(int(CLIP_S * sr)) / sr
    noise = 0.02 * rng.standard_normal(t.size)
    if label == "chirp":  # rising sweep
        f0 = 300 + 40 * i
        y = np.sin(2 * np.pi * (f0 * t + (2500 - f0) * t**2 / (2 * CLIP_S)))
    elif label == "clicks":  # pulse train
        y = np.zeros_like(t)
        period = int(sr * (0.04 + 0.004 * i))
        y[::period] = 1.0
        y = np.convolve(y, np.hanning(32), mode="same")
    elif label == "burst":  # tone in the first half only
        y = np.sin(2 * np.pi * (800 + 50 * i) * t) * (t < CLIP_S / 2)
    else:  # anything else: white noise
        y = rng.standard_normal(t.size) * 0.3
    return (0.5 * y + noise).astype(np.float32)


def make_data(root: Path, classes=CLASSES, *, n: int = 8) -> Path:
    """``root/<class>/<class>_<i>.wav``, ``n`` clips per class."""
    for label in classes:
        d = root / label
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            sf.write(d / f"{label}_{i}.wav", clip(label, i), SR, subtype="PCM_16")
    return root


def make_cache(root: Path, *, folds: int = 4, seed: int = 0) -> tuple[Path, Path]:
    from animalsnd.cache import prepare
    from animalsnd.config import FeatureConfig

    data = make_data(root / "data")
    cache = root / "cache"
    prepare(data, cache, cfg=FeatureConfig(**TINY_FEATURES), folds=folds, seed=seed, jobs=1)
    return data, cache


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict:
    """``{"data": raw folder, "cache": prepared cache}`` (3 classes x 8, 4 folds)."""
    if "tiny" not in _memo:
        data, cache = make_cache(tmp_path_factory.mktemp("tiny"))
        _memo["tiny"] = {"data": data, "cache": cache}
    return _memo["tiny"]


@pytest.fixture(scope="session")
def tiny_features(tiny):
    from animalsnd.cache import load_features

    if "fs" not in _memo:
        _memo["fs"] = load_features(tiny["cache"])
    return _memo["fs"]


@pytest.fixture(scope="session")
def trained(tiny, tmp_path_factory) -> Path:
    """A cnn1d-enhanced bundle trained on folds 1-3, fold 0 held out."""
    if "trained" not in _memo:
        from animalsnd.train import TrainConfig, train

        out = tmp_path_factory.mktemp("model") / "m"
        train(tiny["cache"], out, config=TrainConfig.for_model("cnn1d-enhanced", **FAST), test_fold=0)
        _memo["trained"] = out
    return _memo["trained"]


@pytest.fixture(scope="session")
def trained_cv(tiny, tmp_path_factory) -> Path:
    """A 4-fold cnn1d CV run (MODEL_DIR/fold-0..3), 2 epochs per fold."""
    if "trained_cv" not in _memo:
        from animalsnd.train import TrainConfig, train

        out = tmp_path_factory.mktemp("cv") / "m"
        train(tiny["cache"], out, config=TrainConfig.for_model("cnn1d", **FAST), cv=True)
        _memo["trained_cv"] = out
    return _memo["trained_cv"]


def noisy_run(runner, out, held, tmp_path):
    """``eval --noise`` on a vector bundle: its own inputs of the noisy clips, nearer the clean ones at a high SNR."""
    import json

    from animalsnd.bundle import load_bundle
    from animalsnd.cli import app
    from animalsnd.families import noisy_inputs

    noise = tmp_path / "noise"
    noise.mkdir()
    sf.write(noise / "hiss.wav", (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32), SR)
    b = load_bundle(out)
    X0, snr = noisy_inputs(held.data.paths, b, noise, snr_db=0, seed=1, jobs=1, return_snr=True)
    assert X0.shape == held.data.X.shape and np.all(np.abs(snr) <= 0.5)
    X40 = noisy_inputs(held.data.paths, b, noise, snr_db=40, seed=1, jobs=1)
    assert np.abs(X40 - held.data.X).mean() < np.abs(X0 - held.data.X).mean() / 3
    # the same noise whatever the number of workers (up to BLAS rounding)
    again = noisy_inputs(held.data.paths, b, noise, snr_db=0, seed=1, jobs=2)
    np.testing.assert_allclose(X0, again, rtol=1e-4, atol=1e-4)
    res = runner.invoke(app, ["eval", str(out), "--noise", str(noise), "--snr", "40,0",
                              "--json", str(tmp_path / "noisy.json")])
    assert res.exit_code == 0, res.output
    snr = json.loads((tmp_path / "noisy.json").read_text())["snr"]
    assert set(snr) == {"clean", "40", "0"} and snr["clean"]["accuracy"] == held.result.metrics["accuracy"]
