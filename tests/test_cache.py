import json
import shutil

import numpy as np
import pytest

from animalsnd.cache import load_features, prepare, read_manifest
from animalsnd.config import FeatureConfig
from animalsnd.errors import DatasetError
from audiogen import make_dataset, write_bad_files

TINY = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)


@pytest.fixture
def data(tmp_path):
    root = make_dataset(tmp_path / "data", {"low": 300.0, "mid": 900.0, "high": 2500.0}, n=6, sr=8000)
    shutil.copy(root / "low" / "low_00.wav", root / "low" / "copy_of_low_00.wav")
    return root


def test_prepare_writes_manifest_config_and_features(data, tmp_path):
    cache = tmp_path / "cache"
    res = prepare(data, cache, cfg=TINY, folds=3, seed=0, jobs=1)
    rows = read_manifest(cache)
    assert len(rows) == 19 and all(r["status"] == "ok" for r in rows)
    for col in ["path", "label", "sha256", "duration_s", "sample_rate", "channels", "fold",
                "duplicate_of", "status", "error"]:
        assert col in rows[0]
    dup = next(r for r in rows if r["duplicate_of"])
    orig = next(r for r in rows if r["relpath"] == dup["duplicate_of"])
    assert dup["fold"] == orig["fold"] and dup["sha256"] == orig["sha256"]
    conf = json.loads((cache / "config.json").read_text())
    assert FeatureConfig.from_dict(conf["feature"]) == TINY and conf["folds"] == 3
    assert res.computed == 18 and res.reused == 0
    fs = load_features(cache)
    assert fs.X.shape == (18, 32, 16) and fs.classes == ["high", "low", "mid"]
    assert sorted(set(fs.folds.tolist())) == [0, 1, 2]


def test_rerun_recomputes_nothing_and_changed_config_recomputes(data, tmp_path):
    cache = tmp_path / "cache"
    prepare(data, cache, cfg=TINY, folds=3, jobs=1)
    before = {p: p.stat().st_mtime_ns for p in (cache / "features").rglob("*.npz")}
    again = prepare(data, cache, cfg=TINY, folds=3, jobs=1)
    assert again.computed == 0 and again.reused == 18
    assert before == {p: p.stat().st_mtime_ns for p in (cache / "features").rglob("*.npz")}
    other = prepare(data, cache, cfg=FeatureConfig(**{**TINY.to_dict(), "n_mels": 8}), folds=3, jobs=1)
    assert other.computed == 18
    assert load_features(cache).X.shape[2] == 8


def test_interrupted_run_resumes(data, tmp_path):
    cache = tmp_path / "cache"
    prepare(data, cache, cfg=TINY, folds=3, jobs=1)
    npz = sorted((cache / "features").rglob("*.npz"))
    for p in npz[:7]:
        p.unlink()
    (cache / "manifest.csv").unlink()
    res = prepare(data, cache, cfg=TINY, folds=3, jobs=1)
    assert res.computed == 7 and res.reused == 11


def test_parallel_equals_sequential(data, tmp_path):
    a = prepare(data, tmp_path / "a", cfg=TINY, folds=3, jobs=1)
    b = prepare(data, tmp_path / "b", cfg=TINY, folds=3, jobs=2)
    assert [r["fold"] for r in a.rows] == [r["fold"] for r in b.rows]
    fa, fb = load_features(tmp_path / "a"), load_features(tmp_path / "b")
    assert np.array_equal(fa.X, fb.X)


def test_bad_files_are_listed_and_the_rest_cached(data, tmp_path):
    expected = write_bad_files(data / "mid")
    res = prepare(data, tmp_path / "cache", cfg=TINY, folds=3, jobs=2)
    failed = {r["relpath"].split("/")[-1]: r["error"] for r in res.failed}
    assert set(failed) == set(expected)
    for name, word in expected.items():
        assert word in failed[name]
    assert all(r["fold"] == -1 for r in res.failed)
    assert len(load_features(tmp_path / "cache")) == 18
    assert res.computed == 18 and res.reused == 0  # the failed files are counted as failed, not computed
    again = prepare(data, tmp_path / "cache", cfg=TINY, folds=3, jobs=1)
    assert (again.computed, again.reused, len(again.failed)) == (0, 18, len(expected))


def test_small_class_reported_and_left_out(data, tmp_path):
    for p in sorted((data / "high").iterdir())[1:]:
        p.unlink()
    res = prepare(data, tmp_path / "cache", cfg=TINY, folds=3, jobs=1, min_per_class=2)
    assert res.low_classes == {"high": 1}
    assert res.classes == ["low", "mid"]


def test_fewer_than_two_classes_is_an_error(tmp_path):
    root = make_dataset(tmp_path / "data", {"only": 300.0}, n=6, sr=8000)
    with pytest.raises(DatasetError, match="need at least two classes"):
        prepare(root, tmp_path / "cache", cfg=TINY, folds=3, jobs=1)


def test_not_a_cache(tmp_path):
    with pytest.raises(DatasetError, match="not a feature cache"):
        load_features(tmp_path)
