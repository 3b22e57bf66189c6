"""compare: variant registry, runs on the same folds and seeds, the resumable run store."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest_train import SR, make_data

import animalsnd.compare as cmp
from animalsnd.compare import (
    DEFAULT_VARIANTS,
    VARIANTS,
    Variant,
    compare,
    parse_folds,
    register_variant,
    resolve_variants,
)
from animalsnd.errors import ConfigError, DatasetError

# 48 frames x 24 bands: wide enough for the default SpecAugment masks (40 x 16)
FEATURES = ["--sr", "8000", "--n-mels", "24", "--n-fft", "256", "--hop-length", "128", "--frames", "48"]
FAST = dict(batch_size=8)
SUMMARY = {"accuracy", "macro_f1", "weighted_f1"}

_memo: dict = {}


def write_noise(folder, *, seed: int = 0, n: int = 2):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        sf.write(folder / f"n{i}.wav", (0.1 * rng.standard_normal(SR // 2 + 700 * i)).astype(np.float32), SR)
    return folder


def make_compare_cache(root):
    """Imbalanced 3-class data (8/5/3 clips), 3 folds, and two noise folders."""
    from animalsnd.cache import prepare
    from animalsnd.config import FeatureConfig

    data = root / "data"
    for label, n in (("chirp", 8), ("clicks", 5), ("burst", 3)):
        make_data(data, (label,), n=n)
    cfg = FeatureConfig(sr=SR, n_mels=24, n_fft=256, hop_length=128, frames=48)
    prepare(data, root / "cache", cfg=cfg, folds=3, seed=0, jobs=1)
    return {"cache": root / "cache", "noise": write_noise(root / "noise"),
            "noise2": write_noise(root / "noise2", seed=5, n=1), "data": data}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A fresh copy of the compare cache per test module."""
    if "base" not in _memo:
        _memo["base"] = make_compare_cache(tmp_path_factory.mktemp("compare-base"))
    root = tmp_path_factory.mktemp("compare")
    base = _memo["base"]
    shutil.copytree(base["cache"], root / "cache")
    return {**base, "cache": root / "cache"}


@pytest.fixture(scope="module")
def first(setup):
    """baseline, simple-noise, enhanced on folds 0-1, one seed, 1 epoch, rain-like noise at 10 and 0 dB."""
    seen = []
    res = compare(setup["cache"], variants="baseline,simple-noise,enhanced", noise_dir=setup["noise"],
                  folds=2, seeds=1, epochs=1, jobs=1, eval_noise=setup["noise"], eval_snr=[10, 0],
                  train_options=FAST, on_run=seen.append)
    return res, seen


# ------------------------------------------------------------------ registry
def test_default_variants_are_registered_with_their_recipes():
    assert len(DEFAULT_VARIANTS) == 8 and all(n in VARIANTS for n in DEFAULT_VARIANTS)
    assert [v.name for v in resolve_variants(None)] == list(DEFAULT_VARIANTS)
    assert (VARIANTS["baseline"].model, VARIANTS["baseline"].augment) == ("cnn1d", None)
    assert (VARIANTS["simple-noise"].model, VARIANTS["simple-noise"].augment) == ("cnn1d", "simple")
    assert (VARIANTS["enhanced"].model, VARIANTS["enhanced"].augment) == ("cnn1d-enhanced", "calibrated")
    assert VARIANTS["enhanced-no-noise"].augment is None
    assert VARIANTS["enhanced-no-specaugment"].overrides == {"spec_augment": False}
    assert VARIANTS["enhanced-no-class-weights"].overrides == {"class_weights": False}


def test_model_names_are_variants_and_unknown_names_list_what_exists(monkeypatch):
    v = resolve_variants("cnn1d, baseline")
    assert [(x.name, x.model) for x in v] == [("cnn1d", "cnn1d"), ("baseline", "cnn1d")]
    with pytest.raises(ConfigError) as e:
        resolve_variants("baseline,protonet-x")
    msg = str(e.value)
    assert msg.startswith("unknown variant(s) protonet-x; available: baseline, simple-noise, ")
    assert "enhanced-no-class-weights" in msg and "cnn1d-enhanced" in msg
    with pytest.raises(ConfigError, match="named twice: baseline"):
        resolve_variants("baseline,baseline")
    # a model added to the model registry becomes a variant when named
    import animalsnd.models

    monkeypatch.setattr(animalsnd.models, "MODEL_NAMES", (*animalsnd.models.MODEL_NAMES, "protonet-x"))
    assert resolve_variants("protonet-x")[0].model == "protonet-x"
    assert "protonet-x" in cmp.available_variants()


def test_registered_variant_is_resolvable(monkeypatch):
    monkeypatch.setitem(VARIANTS, "fast-lr", Variant("fast-lr", "cnn1d", {"lr": 0.01}, None, "test"))
    assert resolve_variants("fast-lr")[0].overrides == {"lr": 0.01}
    with pytest.raises(ConfigError, match="augment='loud'"):
        register_variant(Variant("loud", "cnn1d", {}, "loud"))


def test_run_key_ignores_options_left_at_their_default():
    from animalsnd.compare import _KEY_FIELDS, key_config
    from animalsnd.train import TrainConfig

    c = TrainConfig.for_model("cnn1d", seed=1)
    assert set(key_config(c)) == set(_KEY_FIELDS)
    assert key_config(c)["seed"] == 1


def test_run_key_changes_with_a_model_revision_only(monkeypatch):
    from animalsnd import train as T
    from animalsnd.compare import key_config, run_key

    v = resolve_variants("baseline")[0]
    conf = key_config(T.TrainConfig.for_model("cnn1d"))
    args = dict(fold=0, feature_hash="f", fingerprint="d", augmented_key=None)
    k1 = run_key(v, conf, **args)
    monkeypatch.setitem(T.MODEL_REVISIONS, "cnn1d", 1)  # revision 1: the key of before revisions existed
    assert run_key(v, conf, **args) == k1
    monkeypatch.setitem(T.MODEL_REVISIONS, "cnn1d", 2)
    k2 = run_key(v, conf, **args)
    assert k2 != k1
    assert run_key(v, conf, **args) == k2
    assert T.model_revision("alexnet-mel") == 2 and T.model_revision("transformer-mel") == 1


def test_parse_folds():
    assert parse_folds("all", 5) == [0, 1, 2, 3, 4]
    assert parse_folds(None, 3) == [0, 1, 2]
    assert parse_folds("2", 5) == [0, 1]
    for bad in ("0", "6", "some"):
        with pytest.raises(ConfigError, match=f"--folds {bad!r} must be"):
            parse_folds(bad, 5)


# ------------------------------------------------------------------ runs
def test_summary_schema_and_run_records(first, setup):
    res, _ = first
    s = json.loads(json.dumps(res.summary()))  # JSON-ready
    assert list(s["variants"]) == ["baseline", "simple-noise", "enhanced"]
    assert s["folds"] == [0, 1] and s["seeds"] == [0] and s["eval_snr"] == ["10", "0"]
    for name, v in s["variants"].items():
        assert v["n_runs"] == 2 and v["missing_runs"] == 0
        for k in (*SUMMARY, "gap", "train_seconds", "infer_ms_per_clip"):
            assert set(v[k]) == {"mean", "std"}
        assert 0 <= v["accuracy"]["mean"] <= 1 and v["accuracy"]["std"] >= 0
        assert v["gap"]["mean"] == pytest.approx(v["macro_f1"]["mean"] - v["weighted_f1"]["mean"])
        assert v["params"] > 0 and v["infer_ms_per_clip"]["mean"] > 0
        assert set(v["snr"]) == {"10", "0"} and set(v["snr"]["0"]) == SUMMARY
        assert set(v["per_class_f1"]) == {"burst", "chirp", "clicks"}
        for run in v["runs"]:
            assert run["variant"] == name and run["config"]["epochs"] == 1
            assert len(run["confusion"]) == 3 and set(run["per_class_f1"]) == set(v["per_class_f1"])
            assert sum(map(sum, run["confusion"])) == run["n_test"]
            assert set(run["noisy"]) == {"10", "0"}
    runs = s["variants"]
    assert all(r["n_augmented"] == 0 for r in runs["baseline"]["runs"])
    assert all(r["n_augmented"] > 0 for r in runs["simple-noise"]["runs"] + runs["enhanced"]["runs"])
    assert {r["augmented"] for r in runs["enhanced"]["runs"]} == {"calibrated"}
    assert {r["augmented"] for r in runs["simple-noise"]["runs"]} == {"simple"}
    assert len(list((setup["cache"] / "compare" / "runs").glob("*.json"))) == 6


def test_every_variant_runs_on_the_same_folds_and_seeds(first):
    res, seen = first
    per_variant = {}
    for name, runs in res.runs.items():
        per_variant[name] = sorted((r["fold"], r["seed"], r["n_test"], r["n_train"], r["n_val"]) for r in runs)
    assert len({tuple(v) for v in per_variant.values()}) == 1
    assert [i.done for i in seen] == list(range(1, 7)) and all(not i.reused for i in seen)
    assert res.trained == 6 and res.reused == 0


def test_second_run_trains_nothing(first, setup):
    res, _ = first
    seen = []
    again = compare(setup["cache"], variants="baseline,simple-noise,enhanced", noise_dir=setup["noise"],
                    folds=2, seeds=1, epochs=1, jobs=1, eval_noise=setup["noise"], eval_snr=[10, 0],
                    train_options=FAST, on_run=seen.append)
    assert (again.trained, again.reused) == (0, 6)
    assert all(i.reused for i in seen)
    assert again.summary()["variants"] == res.summary()["variants"]


def test_changed_noise_reruns_only_the_noise_variants(first, setup):
    res = compare(setup["cache"], variants="baseline,simple-noise,enhanced", noise_dir=setup["noise2"],
                  folds=2, seeds=1, epochs=1, jobs=1, eval_noise=setup["noise"], eval_snr=[10, 0],
                  train_options=FAST)
    assert (res.trained, res.reused) == (4, 2)
    new_sets = {r["augmented"] for r in res.runs["enhanced"] + res.runs["simple-noise"]}
    assert all(n.startswith("compare-") for n in new_sets)
    # the sets built from the first noise are kept (and reused by name)
    from animalsnd.augment.store import list_augmented

    assert {"calibrated", "simple"} <= set(list_augmented(setup["cache"]))


def test_per_class_copies_get_their_own_set_and_runs(first, setup):
    res = compare(setup["cache"], variants="enhanced", noise_dir=setup["noise"], folds=1, seeds=1, epochs=1,
                  jobs=1, train_options=FAST, per_class=4)
    assert (res.trained, res.reused) == (1, 0)  # the default-balancing run of fold 0 is not reused
    assert {r["augmented"] for r in res.runs["enhanced"]} == {"calibrated-each-4"}
    aug = setup["cache"] / "augment" / "calibrated-each-4"
    assert json.loads((aug / "config.json").read_text())["per_class"] == 4
    assert (aug / "manifest.csv").read_text().count("\n") == 1 + 4 * 3  # 4 copies of each of the 3 classes
    rep = compare(setup["cache"], variants="enhanced", noise_dir=setup["noise"], folds=1, seeds=1, epochs=1,
                  jobs=1, train_options=FAST, per_class=4, report_only=True)
    assert rep.trained == 0 and rep.summary()["variants"]["enhanced"]["n_runs"] == 1
    with pytest.raises(ConfigError, match="--per-class 0 must be a positive integer"):
        compare(setup["cache"], variants="enhanced", noise_dir=setup["noise"], per_class=0)


def test_more_seeds_and_report_only(first, setup):
    res = compare(setup["cache"], variants="baseline", folds=2, seeds=2, epochs=1, jobs=1,
                  eval_noise=setup["noise"], eval_snr=[10, 0], train_options=FAST)
    assert (res.trained, res.reused) == (2, 2)
    assert sorted((r["fold"], r["seed"]) for r in res.runs["baseline"]) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    rep = compare(setup["cache"], variants="baseline,enhanced-no-noise", folds=2, seeds=3, epochs=1, jobs=1,
                  eval_noise=setup["noise"], eval_snr=[10, 0], train_options=FAST, report_only=True)
    assert rep.trained == 0 and rep.missing == {"baseline": 2, "enhanced-no-noise": 6}
    s = rep.summary()["variants"]
    assert s["baseline"]["n_runs"] == 4 and s["enhanced-no-noise"]["n_runs"] == 0
    assert s["enhanced-no-noise"]["accuracy"]["mean"] is None
    assert rep.notes == ["baseline: 2 of 6 runs not stored yet", "enhanced-no-noise: 6 of 6 runs not stored yet"]


def test_noisy_features_once_per_fold_and_snr(setup, monkeypatch):
    import animalsnd.robustness

    calls = []
    real = animalsnd.robustness.noisy_features

    def counting(paths, cfg, noise_dir, **kw):
        calls.append(kw["snr_db"])
        return real(paths, cfg, noise_dir, **kw)

    monkeypatch.setattr(animalsnd.robustness, "noisy_features", counting)
    res = compare(setup["cache"], variants="baseline,enhanced-no-noise", folds=1, seeds=2, epochs=2, jobs=1,
                  eval_noise=setup["noise"], eval_snr="10,0", train_options=FAST)
    assert res.trained == 4
    assert calls == [10.0, 0.0]  # once per SNR for fold 0, shared by 2 variants x 2 seeds


def test_interrupted_run_keeps_finished_runs(setup, monkeypatch):
    cache = setup["cache"]
    opts = dict(variants="baseline", folds=2, seeds=1, epochs=3, jobs=1, train_options=FAST)

    def stop(info):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compare(cache, on_run=stop, **opts)
    res = compare(cache, **opts)
    assert (res.trained, res.reused) == (1, 1)


# ------------------------------------------------------------------ errors
def test_bad_input(setup, tmp_path):
    cache = setup["cache"]
    with pytest.raises(ConfigError, match=r"^unknown variant\(s\) nope; available: baseline, "):
        compare(cache, variants="baseline,nope")
    with pytest.raises(ConfigError) as e:
        compare(cache, variants="baseline,enhanced,simple-noise")
    assert str(e.value) == ("variant(s) enhanced, simple-noise need --noise NOISE_DIR "
                            "(variants without noise: baseline)")
    with pytest.raises(ConfigError, match="--folds '7' must be between 1 and the cache's 3 folds"):
        compare(cache, variants="baseline", folds="7")
    with pytest.raises(ConfigError, match="--seeds 0 must be a positive integer"):
        compare(cache, variants="baseline", seeds=0)
    with pytest.raises(ConfigError, match="SNR list '10,x'"):
        compare(cache, variants="baseline", eval_noise=setup["noise"], eval_snr="10,x")
    with pytest.raises(DatasetError, match="no audio files in the noise folder"):
        compare(cache, variants="baseline", eval_noise=tmp_path)
    with pytest.raises(ConfigError, match="SpecAugment masks"):
        compare(cache, variants="enhanced-no-noise", train_options={"time_width": 60})
    with pytest.raises(DatasetError, match="not a feature cache"):
        compare(tmp_path, variants="baseline")


def test_cache_without_folds(tmp_path):
    from animalsnd.cache import prepare
    from animalsnd.config import FeatureConfig

    data = make_data(tmp_path / "data", ("chirp",), n=4)
    with pytest.raises(DatasetError):
        prepare(data, tmp_path / "cache", cfg=FeatureConfig(sr=SR, n_mels=16, n_fft=256, hop_length=128,
                                                             frames=32), jobs=1)
    with pytest.raises(DatasetError) as e:
        compare(tmp_path / "cache", variants="baseline")
    assert str(e.value) == (f"{tmp_path / 'cache'}: the cache has no cross-validation folds (it needs two or "
                            f"more usable classes; run `animalsnd prepare` again)")


def test_noisy_scores_of_a_vector_model_use_the_caches_cut_off(tmp_path, monkeypatch):
    """A band-limited cache's noisy test clips are band-limited too before they are described."""
    from animalsnd.cache import prepare
    from animalsnd.config import FeatureConfig
    from animalsnd.families import vector_head

    data = tmp_path / "data"
    for label in ("chirp", "clicks"):
        make_data(data, (label,), n=4)
    cfg = FeatureConfig(sr=SR, n_mels=24, n_fft=256, hop_length=128, frames=48, fmax=3000.0)
    prepare(data, tmp_path / "cache", cfg=cfg, folds=2, seed=0, jobs=1)
    seen = []
    original = vector_head.VectorFamily.noisy_inputs

    def spy(self, paths, noise_dir, **kw):
        vector_input = self.vector_input
        self.vector_input = lambda pool, fmax: (seen.append(fmax), vector_input(pool, fmax))[1]
        try:
            return original(self, paths, noise_dir, **kw)
        finally:
            del self.vector_input

    monkeypatch.setattr(vector_head.VectorFamily, "noisy_inputs", spy)
    compare(tmp_path / "cache", variants="stats-mlp", folds=1, seeds=1, epochs=1, jobs=1,
            eval_noise=write_noise(tmp_path / "noise"), eval_snr=[10])
    assert seen == [3000.0]
