"""Random recording chains for training copies (animalsnd.augment.chain) and ``augment --chain``."""

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest_train import SR, tiny  # noqa: F401  (fixture)

from animalsnd.augment.chain import DEFAULT_P, RandomChain, apply_chain, describe_params, parse_chain
from animalsnd.augment.codec import codec_round_trip
from animalsnd.augment.gain import peak_dbfs
from animalsnd.audio import load
from animalsnd.audit import effective_bandwidth
from animalsnd.errors import ConfigError


def _wide(sr=16000, seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * 600 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def test_same_seed_same_chain_and_apply_repeats_the_draw():
    y = _wide()
    a, b = RandomChain(sr=16000), RandomChain(sr=16000)
    za, zb = a(y, np.random.default_rng(7)), b(y, np.random.default_rng(7))
    np.testing.assert_array_equal(za, zb)
    assert a.params == b.params and json.loads(json.dumps(a.params)) == a.params  # JSON-ready
    np.testing.assert_array_equal(a.apply(y), za)
    np.testing.assert_array_equal(apply_chain(y, 16000, json.dumps(a.params)), za)
    assert za.shape == y.shape and za.dtype == np.float32


def test_stages_follow_their_probabilities_and_do_what_they_record():
    y = _wide()
    chain = RandomChain(sr=16000)
    seen = {k: 0 for k in DEFAULT_P}
    for s in range(60):
        z = chain(y, np.random.default_rng(s))
        p = chain.params
        seen["room"] += p["room"]["rt60_s"] is not None
        seen["eq"] += p["eq"]["shelf_hz"] is not None
        seen["lowpass"] += p["lowpass"]["corner_hz"] is not None
        seen["gain"] += p["gain"]["gain_db"] is not None
        seen["rate"] += p["rate"]["rate"] is not None
        seen["codec"] += p["codec"]["codec"] is not None
        if p["rate"]["rate"] == 8000:
            assert effective_bandwidth(z, 16000) <= 4100  # nothing above the 8 kHz chain's Nyquist
        if p["lowpass"]["corner_hz"] and p["codec"]["codec"] is None and p["gain"]["peak_dbfs"] < -1:
            assert effective_bandwidth(z, 16000) <= p["lowpass"]["corner_hz"] + 50  # nor above the roll-off
        if p["codec"]["codec"] is None and p["rate"]["rate"] in (None, 16000, 22050) and p["gain"]["peak_dbfs"] < -1:
            assert peak_dbfs(z) == pytest.approx(p["gain"]["peak_dbfs"], abs=0.3)  # the drawn level
        assert describe_params(p)
    assert seen["gain"] == 60
    for k in ("room", "eq", "lowpass", "rate", "codec"):
        assert abs(seen[k] / 60 - DEFAULT_P[k]) < 0.25, (k, seen[k])
    off = RandomChain(sr=16000, p={k: 0.0 for k in DEFAULT_P})
    np.testing.assert_array_equal(off(y, np.random.default_rng(0)), y)
    assert describe_params(off.params) == "unchanged"


def test_a_chain_stored_before_a_stage_existed_renders_without_it():
    y = _wide()
    chain = RandomChain(sr=16000, p={"lowpass": 0.0})
    z = chain(y, np.random.default_rng(3))
    old = {k: v for k, v in chain.params.items() if k != "lowpass"}
    np.testing.assert_array_equal(apply_chain(y, 16000, old), z)


def test_options_are_validated():
    assert parse_chain("random") == "random" and parse_chain("none") is None and parse_chain(None) is None
    with pytest.raises(ConfigError, match="--chain 'tape'"):
        parse_chain("tape")
    with pytest.raises(ConfigError, match="unknown stage 'tape'"):
        RandomChain(sr=16000, p={"tape": 0.5})
    with pytest.raises(ConfigError, match="sr="):
        RandomChain(sr=0)
    with pytest.raises(RuntimeError):
        RandomChain(sr=16000).apply(_wide())


def test_eval_chains_use_the_same_stages():
    from animalsnd.chains import CHAINS, render

    y = _wide(sr=44100)
    phone = render(y, 44100, CHAINS["phone"], out_sr=8000)
    plain = render(y, 44100, CHAINS["8k"], out_sr=8000)
    low = (np.abs(np.fft.rfft(phone)[:100]) ** 2).sum() / (np.abs(np.fft.rfft(plain)[:100]) ** 2).sum()
    assert low < 0.1  # the low cut (what is left below 100 Hz is µ-law's quantisation noise)
    hot = render(y, 44100, CHAINS["hot"], out_sr=44100)
    assert np.abs(hot).max() <= 1.0 and peak_dbfs(render(y, 44100, CHAINS["quiet"], out_sr=44100)) < -29
    np.testing.assert_allclose(codec_round_trip(plain, 8000, "ulaw"), render(plain, 8000, CHAINS["8k"].__class__(
        8000, codec="ulaw"), out_sr=8000), atol=1e-6)


# ------------------------------------------------------------------ the augment store
def _noise(tmp_path):
    d = tmp_path / "noise"
    d.mkdir()
    sf.write(d / "hiss.wav", 0.1 * np.random.default_rng(0).standard_normal(SR), SR)
    return d


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_chain_copies_are_the_noise_copies_through_a_recorded_chain(tiny, tmp_path):
    from animalsnd.augment.store import build_augmented, load_augmented

    cache = tmp_path / "cache"
    shutil.copytree(tiny["cache"], cache)
    noise = _noise(tmp_path)
    build_augmented(cache, noise, per_class=3, name="plain", jobs=1, seed=4)
    res = build_augmented(cache, noise, per_class=3, name="chained", jobs=1, seed=4, chain="random")
    plain, chained = _rows(cache / "augment/plain/manifest.csv"), _rows(cache / "augment/chained/manifest.csv")
    assert len(chained) == len(res.rows) == 9
    for a, b in zip(plain, chained):  # the same source, noise, offset and SNR: only the chain differs
        assert {k: a[k] for k in ("source_sha256", "noise_file", "offset", "target_snr_db")} == \
               {k: b[k] for k in ("source_sha256", "noise_file", "offset", "target_snr_db")}
        assert a["chain"] == "" and set(json.loads(b["chain"])) == set(DEFAULT_P)
    assert not np.array_equal(load_augmented(cache, "plain").X, load_augmented(cache, "chained").X)
    again = build_augmented(cache, noise, per_class=3, name="chained", jobs=2, seed=4, chain="random")
    assert again.computed == 0 and again.reused == 9  # resumable; jobs does not matter
    shutil.rmtree(cache / "augment/chained")
    fresh = build_augmented(cache, noise, per_class=3, name="chained", jobs=2, seed=4, chain="random")
    assert [r["chain"] for r in fresh.rows] == [r["chain"] for r in chained]  # same seed, same chains
    assert json.loads((cache / "augment/chained/config.json").read_text())["chain"]["version"] == 2


def test_vector_models_re_render_the_chain_and_use_training_clips_only(tiny, tmp_path):
    """``train --augmented`` with a chain set: descriptors of each copy through its own chain,
    and only copies of the split's training clips join the training data."""
    from animalsnd import descriptors as D
    from animalsnd.augment.store import build_augmented
    from animalsnd.augment.vectors import copy_signal, copy_vectors
    from animalsnd.cache import load_features
    from animalsnd.train import TrainConfig, load_augmented_for, select_augmented, train_fold

    cache = tmp_path / "cache"
    shutil.copytree(tiny["cache"], cache)
    noise = _noise(tmp_path)
    build_augmented(cache, noise, per_class=3, name="ch3", jobs=1, chain="random")
    recipe = _rows(cache / "augment/ch3/manifest.csv")[0]
    y = copy_signal(recipe, sr=D.SPEC["sr"], noise_root=str(noise), cache_sr=SR)
    no_chain = copy_signal({**recipe, "chain": ""}, sr=D.SPEC["sr"], noise_root=str(noise), cache_sr=SR)
    np.testing.assert_allclose(y, apply_chain(no_chain, D.SPEC["sr"], recipe["chain"]), atol=1e-6)
    copies = copy_vectors(cache, "ch3", store=D.store_dir(cache), compute=D.describe, sr=D.SPEC["sr"], jobs=1)
    np.testing.assert_allclose(copies.X[0], D.describe(y), atol=1e-5)
    fs = load_features(cache)
    aug = load_augmented_for(cache, "ch3", classes=fs.classes, shape=fs.cfg.shape)
    train_shas = [s for s, f in zip(fs.shas, fs.folds) if f != 0]
    keep = select_augmented(aug.source_shas, train_shas)  # what the log-Mel models add
    assert 0 < keep.sum() < len(keep) and not set(np.array(aug.source_shas)[keep]) - set(train_shas)
    res = train_fold(fs, config=TrainConfig.for_model("stats-mlp", epochs=2, batch_size=8), test_fold=0,
                     cache_dir=cache, augmented=aug)
    test_shas = {s for s, f in zip(fs.shas, fs.folds) if f == 0}
    assert res.n_augmented == sum(s not in test_shas and s in set(train_shas) for s in copies.source_shas)
    assert res.n_augmented < len(copies.source_shas)  # copies of fold-0 clips stay out


def test_augment_chain_cli(tiny, tmp_path, runner):
    from animalsnd.cli import app

    cache = tmp_path / "cache"
    shutil.copytree(tiny["cache"], cache)
    noise = _noise(tmp_path)
    res = runner.invoke(app, ["augment", str(cache), "--noise", str(noise), "--per-class", "2", "--chain", "random",
                              "--name", "ch", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "then random recording chains" in " ".join(res.output.split())
    assert all(r["chain"] for r in _rows(cache / "augment/ch/manifest.csv"))
    bad = runner.invoke(app, ["augment", str(cache), "--noise", str(noise), "--chain", "tape"])
    assert bad.exit_code == 1 and bad.output.strip() == "Error: --chain 'tape' must be one of none, random"


def test_chain_only_copies_without_noise(tiny, tmp_path, runner):
    """``augment --chain random`` without ``--noise``: each copy is its clean clip through a random
    chain; the log-Mel copies and the vector models' re-rendered copies agree on it."""
    from animalsnd import descriptors as D
    from animalsnd.augment.store import build_augmented, load_augmented
    from animalsnd.augment.vectors import copy_signal, copy_vectors
    from animalsnd.cli import app

    cache = tmp_path / "cache"
    shutil.copytree(tiny["cache"], cache)
    res = runner.invoke(app, ["augment", str(cache), "--per-class", "2", "--chain", "random", "--name", "co",
                              "--jobs", "1"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "no noise, random recording chains only" in out and "chain-only copies" in out
    rows = _rows(cache / "augment/co/manifest.csv")
    assert rows and all(r["chain"] and r["noise_file"] == "" and float(r["target_snr_db"]) == float("inf")
                        for r in rows)
    assert load_augmented(cache, "co").X.shape[0] == len(rows)
    y, _ = load(rows[0]["source_path"], sr=D.SPEC["sr"])
    np.testing.assert_allclose(copy_signal(rows[0], sr=D.SPEC["sr"], noise_root="", cache_sr=SR),
                               apply_chain(y, D.SPEC["sr"], rows[0]["chain"]), atol=1e-6)
    copies = copy_vectors(cache, "co", store=D.store_dir(cache), compute=D.describe, sr=D.SPEC["sr"], jobs=1)
    assert copies.X.shape[0] == len(rows) and np.all(np.isfinite(copies.X))
    nothing = runner.invoke(app, ["augment", str(cache)])
    assert nothing.exit_code == 1 and "--noise DIR" in nothing.output and "--chain random" in nothing.output
    with pytest.raises(ConfigError):
        build_augmented(cache, None, per_class=2, name="x", jobs=1)
