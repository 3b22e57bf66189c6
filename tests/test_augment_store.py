import csv
import shutil
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from animalsnd.augment.store import (
    MANIFEST_COLUMNS,
    build_augmented,
    list_augmented,
    load_augmented,
)
from animalsnd.cache import prepare, read_manifest
from animalsnd.config import FeatureConfig
from animalsnd.errors import ConfigError, DatasetError
from audiogen import make_dataset

TINY = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)
SR = 8000


def write_noise(folder, *, n=2, seconds=0.3, seed=0):
    """White and low-passed noise, shorter than the clips (so it loops)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        x = rng.standard_normal(int(SR * seconds))
        if i % 2:
            x = np.convolve(x, np.ones(8) / 8, mode="same")
        sf.write(folder / f"noise_{i}.wav", (0.2 * x / np.abs(x).max()).astype(np.float32), SR)
    return folder


def write_short_calls(folder, *, n=3, seed=1):
    """0.1 s calls followed by 0.5 s of a faint floor: active level >> whole-clip level."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        y = 1e-3 * rng.standard_normal(int(0.6 * SR))
        t = np.arange(int(0.1 * SR)) / SR
        y[: t.size] += 0.5 * np.sin(2 * np.pi * (1500 + 100 * i) * t)
        sf.write(folder / f"call_{i}.wav", y.astype(np.float32), SR)


@pytest.fixture
def cache(tmp_path):
    data = make_dataset(tmp_path / "data", {"a": 300.0}, n=6, sr=SR, seconds=0.6)
    write_short_calls(data / "b")
    prepare(data, tmp_path / "cache", cfg=TINY, folds=3, jobs=1)
    return tmp_path / "cache"


@pytest.fixture
def noise(tmp_path):
    return write_noise(tmp_path / "noise")


def read_rows(cache, name):
    with open(cache / "augment" / name / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_calibrated_manifest_snr_and_balance(cache, noise):
    res = build_augmented(cache, noise, jobs=1)
    assert res.name == "calibrated" and res.reference == "active" and res.snr_db == (10.0, 20.0)
    rows = read_rows(cache, "calibrated")
    assert list(rows[0]) == MANIFEST_COLUMNS
    # default: bring every class to the size of the largest (a: 6, b: 3 -> 3 copies of b)
    assert Counter(r["label"] for r in rows) == {"b": 3}
    assert res.computed == 3 and res.reused == 0 and res.warnings == []
    for r in rows:
        assert 10 <= float(r["target_snr_db"]) <= 20
        assert abs(float(r["realised_snr_db"]) - float(r["target_snr_db"])) <= 0.5
        assert r["noise_file"] in {"noise_0.wav", "noise_1.wav"}
        assert 0 <= int(r["offset"]) < int(0.3 * SR)
    summary = {s["label"]: s for s in res.per_class()}
    assert summary["a"]["sources"] + summary["a"]["copies"] == summary["b"]["sources"] + summary["b"]["copies"]


def test_calibrated_per_class_round_robin(cache, noise):
    build_augmented(cache, noise, per_class=9, jobs=1)
    rows = read_rows(cache, "calibrated")
    assert Counter(r["label"] for r in rows) == {"a": 9, "b": 9}
    per_source = Counter(r["source_sha256"] for r in rows)
    for label, n_src in [("a", 6), ("b", 3)]:
        uses = [per_source[s] for s in {r["source_sha256"] for r in rows if r["label"] == label}]
        assert len(uses) == n_src and max(uses) - min(uses) <= 1  # every clip used, evenly
    # minority clips get more copies each
    assert min(per_source[r["source_sha256"]] for r in rows if r["label"] == "b") > \
        max(per_source[r["source_sha256"]] for r in rows if r["label"] == "a")


def test_simple_follows_imbalance_with_the_same_total(cache, noise):
    res = build_augmented(cache, noise, mode="simple", per_class=9, jobs=1)
    assert res.name == "simple" and res.reference == "whole" and res.snr_db == (0.0, 20.0)
    rows = read_rows(cache, "simple")
    assert len(rows) == 18  # what calibrated would make: 9 per class x 2 classes
    # the 9 clips, shuffled and cycled twice regardless of class: still 2:1
    assert Counter(r["label"] for r in rows) == {"a": 12, "b": 6}
    assert set(Counter(r["source_sha256"] for r in rows).values()) == {2}
    for r in rows:
        assert 0 <= float(r["target_snr_db"]) <= 20
        assert abs(float(r["realised_snr_db"]) - float(r["target_snr_db"])) <= 0.5
        if r["label"] == "b":  # short calls: the whole-clip level understates the call
            assert float(r["active_snr_db"]) > float(r["realised_snr_db"]) + 5


def test_copies_tagged_with_source_fold_and_sha(cache, noise):
    build_augmented(cache, noise, per_class=4, jobs=1)
    src = {r["path"]: r for r in read_manifest(cache)}
    rows = read_rows(cache, "calibrated")
    assert {int(r["source_fold"]) for r in rows} == {0, 1, 2}
    for r in rows:
        s = src[r["source_path"]]
        assert (r["source_sha256"], int(r["source_fold"]), r["label"]) == (s["sha256"], int(s["fold"]), s["label"])
    aug = load_augmented(cache, "calibrated")
    assert aug.X.shape == (8, 32, 16) and aug.X.dtype == np.float32
    assert aug.source_shas == [r["source_sha256"] for r in rows]
    assert aug.source_folds.tolist() == [int(r["source_fold"]) for r in rows]
    assert aug.labels == [r["label"] for r in rows]
    assert np.allclose(aug.snr_db, [float(r["realised_snr_db"]) for r in rows])


def test_same_result_for_any_jobs(cache, noise):
    build_augmented(cache, noise, per_class=3, name="one", jobs=1)
    build_augmented(cache, noise, per_class=3, name="two", jobs=2)
    assert read_rows(cache, "one") == read_rows(cache, "two")
    assert np.array_equal(load_augmented(cache, "one").X, load_augmented(cache, "two").X)


def test_rerun_computes_nothing_and_changes_rebuild(cache, noise):
    build_augmented(cache, noise, jobs=1)
    out = cache / "augment" / "calibrated"
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    again = build_augmented(cache, noise, jobs=1)
    assert again.computed == 0 and again.reused == 3
    assert before == {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    first = read_rows(cache, "calibrated")
    reseeded = build_augmented(cache, noise, seed=1, jobs=1)
    assert reseeded.computed == 3 and read_rows(cache, "calibrated") != first
    assert build_augmented(cache, noise, seed=1, snr="5:6", jobs=1).computed == 3
    write_noise(noise, n=3)  # a new noise file: the folder's content changed
    assert build_augmented(cache, noise, seed=1, snr="5:6", jobs=1).computed == 3
    # an interrupted build resumes
    for p in sorted(out.glob("*.npz"))[:2]:
        p.unlink()
    (out / "manifest.csv").unlink()
    resumed = build_augmented(cache, noise, seed=1, snr="5:6", jobs=1)
    assert (resumed.computed, resumed.reused) == (2, 1)


def test_changed_feature_config_needs_a_rebuild(cache, noise, tmp_path):
    build_augmented(cache, noise, jobs=1)
    other = FeatureConfig(**{**TINY.to_dict(), "n_mels": 8})
    prepare(tmp_path / "data", cache, cfg=other, folds=3, jobs=1)
    with pytest.raises(DatasetError, match="built for other features"):
        load_augmented(cache, "calibrated")
    assert build_augmented(cache, noise, jobs=1).computed == 3
    assert load_augmented(cache, "calibrated").X.shape == (3, 32, 8)


def test_unknown_name_lists_available(cache, noise):
    with pytest.raises(DatasetError) as e:
        load_augmented(cache, "nope")
    assert str(e.value) == f"{cache}: no augmented set 'nope' (available: none; run `animalsnd augment` first)"
    build_augmented(cache, noise, jobs=1)
    build_augmented(cache, noise, mode="simple", name="base", jobs=1)
    assert list_augmented(cache) == ["base", "calibrated"]
    with pytest.raises(DatasetError) as e:
        load_augmented(cache, "nope")
    assert str(e.value) == f"{cache}: no augmented set 'nope' (available: base, calibrated)"


def test_unreadable_noise_is_skipped(cache, noise):
    (noise / "sub").mkdir()
    (noise / "sub" / "broken.wav").write_text("not audio")
    sf.write(noise / "sub" / "silent.flac", np.zeros(800, dtype=np.float32), SR)
    res = build_augmented(cache, noise, jobs=1)
    assert res.n_noises == 2 and len(res.rows) == 3
    assert [w.split(":")[0] for w in res.warnings] == ["noise sub/broken.wav", "noise sub/silent.flac"]
    assert all(w.endswith("; skipped") for w in res.warnings)


def test_missing_sources_are_reported(cache, noise, tmp_path):
    (tmp_path / "data" / "b" / "call_0.wav").unlink()
    res = build_augmented(cache, noise, jobs=1)
    assert len(res.rows) == 3 and {r["source_path"] for r in res.rows} == {
        str((tmp_path / "data" / "b" / f"call_{i}.wav").resolve()) for i in (1, 2)}
    (w,) = res.warnings
    assert w.startswith("1 of 9 source files are missing or changed since prepare and get no copies: ")
    assert "call_0.wav (missing)" in w
    shutil.rmtree(tmp_path / "data")
    with pytest.raises(DatasetError, match="source audio of all 9 clips is missing"):
        build_augmented(cache, noise, jobs=1)


def test_bad_options(cache, noise):
    for kwargs, msg in [
        ({"mode": "fancy"}, "mode='fancy' must be one of calibrated, simple"),
        ({"snr": "20:10"}, "SNR range '20:10' is inverted: low 20 > high 10"),
        ({"snr": "loud"}, "SNR range 'loud' must hold numbers, like 10:20 or 5"),
        ({"per_class": 0}, "per-class=0 must be a positive integer"),
        ({"name": "../x"}, "name='../x' must be 1-64 letters"),
        ({"jobs": 0}, "jobs=0 must be -1"),
    ]:
        with pytest.raises(ConfigError) as e:
            build_augmented(cache, noise, **kwargs)
        assert str(e.value).startswith(msg)


def test_background_snr_applies_to_background_copies_only(tmp_path, noise):
    data = make_dataset(tmp_path / "data", {"a": 300.0}, n=6, sr=SR, seconds=0.6)
    bg = make_dataset(tmp_path / "bg", {"hum": 120.0}, n=6, sr=SR, seconds=0.6)
    prepare(data, tmp_path / "cache", cfg=TINY, folds=3, jobs=1, background=bg)
    res = build_augmented(tmp_path / "cache", noise, per_class=4, snr="10:20", background_snr="-20:-10",
                          name="bgn", jobs=1)
    target = {}
    for r in res.rows:
        target.setdefault(r["label"], []).append(float(r["target_snr_db"]))
    assert sorted(target) == ["a", "background"]
    assert all(10 <= v <= 20 for v in target["a"])
    assert all(-20 <= v <= -10 for v in target["background"])
    same = build_augmented(tmp_path / "cache", noise, per_class=4, snr="10:20", background_snr="same", name="same",
                           jobs=1)
    assert all(10 <= float(r["target_snr_db"]) <= 20 for r in same.rows)
    default = build_augmented(tmp_path / "cache", noise, per_class=4, snr="10:20", name="default", jobs=1)
    assert all((-20 <= float(r["target_snr_db"]) <= 0) == (r["label"] == "background") for r in default.rows)
    with pytest.raises(ConfigError):
        build_augmented(tmp_path / "cache", noise, per_class=4, background_snr="5:1", name="bad", jobs=1)
