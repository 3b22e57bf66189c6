"""Recording chains (animalsnd.chains) and their evaluation (eval --chain)."""

import json

import numpy as np
import pytest

from animalsnd.audit import effective_bandwidth
from animalsnd.chains import CHAINS, DEFAULT_CHAINS, Chain, parse_chains, render
from animalsnd.errors import ConfigError
from conftest_train import tiny, trained, trained_cv  # noqa: F401  (fixtures)


def _wideband(sr=44100, seconds=1.0):
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    y = 0.2 * np.sin(2 * np.pi * 700 * t) + 0.05 * rng.standard_normal(t.size)  # noise fills the band
    return y.astype(np.float32)


@pytest.mark.parametrize("name, rate", [("8k", 8000), ("11k", 11025), ("22k", 22050)])
def test_a_chain_keeps_only_its_own_band(name, rate):
    y = _wideband()
    z = render(y, 44100, CHAINS[name], out_sr=44100)
    assert z.shape == y.shape and z.dtype == np.float32
    assert effective_bandwidth(z, 44100) <= rate / 2 + 50
    assert effective_bandwidth(z, 44100) >= 0.8 * rate / 2


def test_lowpass_floor_and_codecs():
    y = _wideband()
    assert effective_bandwidth(render(y, 44100, CHAINS["44k-lowpass"], out_sr=44100), 44100) < 5100
    narrow = render(y, 44100, CHAINS["8k"], out_sr=44100)
    full = render(narrow, 44100, CHAINS["44k-full"], out_sr=44100, seed=1, index=3)
    def high(x):  # energy above 6 kHz
        return float(np.sum(np.abs(np.fft.rfft(x))[6000:] ** 2))

    assert high(full) > 1e3 * high(narrow)  # the recorder's self-noise fills its band
    np.testing.assert_array_equal(full, render(narrow, 44100, CHAINS["44k-full"], out_sr=44100, seed=1, index=3))
    assert not np.array_equal(full, render(narrow, 44100, CHAINS["44k-full"], out_sr=44100, seed=1, index=4))
    for codec in ("mp3", "ogg"):
        z = render(y, 44100, CHAINS[codec], out_sr=16000)
        assert z.size == 16000
        tone = np.abs(np.fft.rfft(z))[700]  # 1 s at 16 kHz: bin k is k Hz
        assert tone > 0.5 * np.abs(np.fft.rfft(render(y, 44100, Chain(44100), out_sr=16000)))[700]
    assert "MP3" in CHAINS["mp3"].describe() and "8 kHz" in CHAINS["8k"].describe()


def test_parse_chains():
    assert parse_chains(None) == list(DEFAULT_CHAINS) == parse_chains("default")
    assert parse_chains("all") == list(CHAINS)
    assert parse_chains(" 8k, mp3 ") == ["8k", "mp3"]
    with pytest.raises(ConfigError, match="unknown chain"):
        parse_chains("8k,tape")
    with pytest.raises(ConfigError, match="more than once"):
        parse_chains("8k,8k")


def test_eval_chain_cli(trained, runner, tmp_path):
    from animalsnd.cli import app

    out = tmp_path / "m.json"
    res = runner.invoke(app, ["eval", str(trained), "--chain", "8k,mp3", "--json", str(out), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Recording chains" in res.output and "largest loss against clean" in res.output
    chain = json.loads(out.read_text())["chain"]
    assert set(chain) == {"clean", "8k", "mp3", "worst_drop"}
    for name in ("8k", "mp3"):
        assert 0.0 <= chain[name]["accuracy"] <= 1.0
    assert chain["worst_drop"] == pytest.approx(max(chain["clean"]["accuracy"] - chain[c]["accuracy"]
                                                    for c in ("8k", "mp3")))
    res = runner.invoke(app, ["eval", str(trained), "--chain", "tape"])
    assert res.exit_code == 1 and "unknown chain" in res.output


def test_chain_inputs_equal_the_training_features_for_an_identity_chain(trained, tiny):
    """A chain at the clip's own rate changes nothing: the inputs are the cached features."""
    from animalsnd.bundle import load_bundle
    from animalsnd.cache import load_features
    from animalsnd.chain_eval import chain_inputs
    from animalsnd.chains import CHAINS as REGISTRY

    b = load_bundle(trained)
    fs = load_features(tiny["cache"])
    REGISTRY["same"] = Chain(b.cfg.sr)
    try:
        X = chain_inputs(fs.paths[:4], b, "same", jobs=1)
    finally:
        del REGISTRY["same"]
    np.testing.assert_allclose(X, fs.X[:4], atol=1e-4)


def test_duration_chains_put_the_clip_in_a_longer_recording():
    sr = 16000
    t = np.arange(sr) / sr
    y = (0.3 * np.sin(2 * np.pi * 500 * t + 0.5)).astype(np.float32)  # no zero sample
    z = render(y, sr, Chain(sr, pad_s=5.0), out_sr=sr, seed=0, index=3)
    assert z.size == 5 * sr
    start = int(np.flatnonzero(np.abs(z) > 1e-6)[0])
    np.testing.assert_allclose(z[start:start + sr], y, atol=1e-6)
    assert not np.any(z[:start]) and not np.any(z[start + sr:])
    again = render(y, sr, Chain(sr, pad_s=5.0), out_sr=sr, seed=0, index=3)
    np.testing.assert_array_equal(z, again)  # the offset is seeded per clip
    long = render(y, 44100, CHAINS["long"], out_sr=sr, seed=0, index=0)
    assert long.size == 12 * sr and np.all(long != 0)  # the noise floor covers the whole recording
    longer = np.tile(y, 6)
    assert render(longer, sr, Chain(sr, pad_s=5.0), out_sr=sr).size == longer.size  # already longer: as it is
    assert "in a 12-s recording" in CHAINS["long"].describe()


def test_eval_chain_scores_without_the_clips_that_do_not_render(trained, monkeypatch):
    """A clip that cannot be rendered is one line in ``problems``; the chain is scored on the rest."""
    from animalsnd import chain_eval
    from animalsnd.bundle import load_bundle
    from animalsnd.errors import AudioError
    from animalsnd.evaluate import evaluate, evaluate_arrays

    report = evaluate(trained, jobs=1)
    data = report.runs[0].data
    paths = list(data.paths)
    real = chain_eval._chain_one

    def flaky(path, index, chain_name, spec, seed):
        return f"{path}: cannot be read" if index == 0 else real(path, index, chain_name, spec, seed)

    monkeypatch.setattr(chain_eval, "_chain_one", flaky)
    rep = chain_eval.evaluate_chains(report, ["8k"], jobs=1)
    assert len(rep.problems) == 1
    assert f"1 of {len(paths)} clips" in rep.problems[0] and str(paths[0]) in rep.problems[0]
    monkeypatch.setattr(chain_eval, "_chain_one", real)
    b = load_bundle(trained)
    want = evaluate_arrays(b, chain_eval.chain_inputs(paths[1:], b, "8k", jobs=1), np.asarray(data.y)[1:])
    assert rep.scores["8k"][0]["accuracy"] == pytest.approx(want.metrics["accuracy"])
    monkeypatch.setattr(chain_eval, "_chain_one", lambda *a: "x.wav: unreadable")
    with pytest.raises(AudioError, match="no evaluation clip could be rendered through chain '8k'"):
        chain_eval.evaluate_chains(report, ["8k"], jobs=1)
