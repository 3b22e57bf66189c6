"""Issue 17: prepare and the cache readers under small classes, broken entries and edited files."""

import csv
import errno
import json
import os
import stat

import numpy as np
import pytest

from animalsnd.cli import app
from audiogen import make_dataset
from cliassert import one_error_line

TINY = ["--sr", "8000", "--n-mels", "16", "--n-fft", "256", "--hop-length", "128", "--frames", "32"]


def _prepare(runner, data, cache, *extra):
    return runner.invoke(app, ["prepare", str(data), "--cache", str(cache), "--jobs", "1", *TINY, *extra])


def _rows(cache):
    with open(cache / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def _usable(cache):
    return [r for r in _rows(cache) if r["status"] == "ok" and int(r["fold"]) >= 0]


# ------------------------------------------------------------ item 1: small classes
def test_classes_smaller_than_folds_are_placed_with_a_note(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000, seconds=0.2)
    res = _prepare(runner, data, tmp_path / "c", "--folds", "5")
    assert res.exit_code == 0, res.output
    assert "class 'a' has 4 unique clip(s), fewer than --folds 5; placed in 4 of the folds" in res.output
    rows = _usable(tmp_path / "c")
    assert len(rows) == 8
    for label in "ab":
        assert len({r["fold"] for r in rows if r["label"] == label}) == 4  # one clip per fold


def test_one_shot_classes_with_min_per_class_1(runner, tmp_path):
    import soundfile as sf

    from audiogen import tone

    data = make_dataset(tmp_path / "d", {f"c{i:02d}": 200.0 + 40 * i for i in range(69)}, n=1, sr=8000,
                        seconds=0.1)
    for i in range(10):  # a second clip in ten classes: 79 clips
        sf.write(data / f"c{i:02d}" / "second.wav", tone(3000.0 + 50 * i, sr=8000, seconds=0.1), 8000)
    res = _prepare(runner, data, tmp_path / "c", "--min-per-class", "1")
    assert res.exit_code == 0, res.output
    assert len(_usable(tmp_path / "c")) == 79


# ------------------------------------------------------------ item 4: corrupt entries
def _entry(cache):
    conf = json.loads((cache / "config.json").read_text())
    row = _usable(cache)[0]
    return cache / "features" / conf["feature_hash"] / f"{row['sha256']}.npz"


def test_truncated_entry_is_recomputed_by_prepare(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000, seconds=0.2)
    assert _prepare(runner, data, tmp_path / "c", "--folds", "2").exit_code == 0
    npz = _entry(tmp_path / "c")
    good = npz.read_bytes()
    npz.write_bytes(good[: len(good) // 2])
    res = _prepare(runner, data, tmp_path / "c", "--folds", "2")
    assert res.exit_code == 0, res.output
    assert "computed 1, reused 7" in res.output
    assert npz.read_bytes() == good


def test_truncated_entry_is_one_line_for_readers(tmp_path):
    from animalsnd.cache import load_features, prepare
    from animalsnd.config import FeatureConfig
    from animalsnd.errors import DatasetError

    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000, seconds=0.2)
    cfg = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)
    prepare(data, tmp_path / "c", cfg=cfg, folds=2, jobs=1)
    npz = _entry(tmp_path / "c")
    for broken in (npz.read_bytes()[:100], b""):
        npz.write_bytes(broken)
        with pytest.raises(DatasetError, match=r"\.npz: missing or corrupt cache entry .*re-run prepare"):
            load_features(tmp_path / "c")


# ------------------------------------------------------------ items 9, 10, 11: edited files
@pytest.fixture
def cache(tmp_path):
    from animalsnd.cache import prepare
    from animalsnd.config import FeatureConfig

    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000, seconds=0.2)
    prepare(data, tmp_path / "c", cfg=FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32),
            folds=2, jobs=1)
    return tmp_path / "c"


def test_truncated_manifest_is_refused(cache):
    from animalsnd.cache import load_features
    from animalsnd.errors import DatasetError

    lines = (cache / "manifest.csv").read_text().splitlines(keepends=True)
    (cache / "manifest.csv").write_text("".join(lines[:-2]))  # two whole rows lost
    with pytest.raises(DatasetError, match="manifest.csv: does not match the data fingerprint"):
        load_features(cache)
    (cache / "manifest.csv").write_text("".join(lines)[:-40])  # cut inside a row
    with pytest.raises(DatasetError, match="manifest.csv: line 9 is truncated"):
        load_features(cache)


def test_manifest_sha256_must_be_hex(cache):
    from animalsnd.cache import load_features
    from animalsnd.errors import DatasetError

    text = (cache / "manifest.csv").read_text()
    sha = _usable(cache)[0]["sha256"]
    (cache / "manifest.csv").write_text(text.replace(sha, "../../../../tmp/evil", 1))
    with pytest.raises(DatasetError, match="is not 64 hex digits"):
        load_features(cache)


def test_empty_config_is_one_line(runner, cache, tmp_path):
    (cache / "config.json").write_text("{}")
    res = runner.invoke(app, ["train", str(cache), "--model", "cnn1d", "--out", str(tmp_path / "m")])
    one_error_line(res, "config.json: corrupt (missing feature, folds, seed)", "re-run `animalsnd prepare`")


def test_same_recording_in_two_classes_warns(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000, seconds=0.2)
    (data / "b" / "copy.wav").write_bytes((data / "a" / "a_00.wav").read_bytes())
    res = _prepare(runner, data, tmp_path / "c", "--folds", "2")
    assert res.exit_code == 0, res.output
    assert "b/copy.wav is the same recording as a/a_00.wav under another label" in res.output


def test_class_folder_linking_back_into_the_tree_is_skipped(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000, seconds=0.2)
    (data / "loop").symlink_to(data, target_is_directory=True)
    res = _prepare(runner, data, tmp_path / "c", "--folds", "2")
    assert res.exit_code == 0, res.output
    assert {r["label"] for r in _rows(tmp_path / "c")} == {"a", "b"}
    assert "loop: a link back into the data folder; skipped" in res.output


def test_n_fft_too_small_for_n_mels(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=3, sr=8000, seconds=0.2)
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), "--n-fft", "1",
                              "--hop-length", "1", "--folds", "2", "--jobs", "1", "--frames", "32"])
    one_error_line(res, "n_fft=1", "n_mels=128", "--n-fft")


# ------------------------------------------------------------ items 8, 9, 12
def test_prepare_jobs_zero(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=2, sr=8000, seconds=0.2)
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), "--jobs", "0"])
    one_error_line(res, "--jobs 0 must be a positive integer or -1")
    assert not (tmp_path / "c" / "manifest.csv").exists()


def test_cache_that_is_a_file(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=2, sr=8000, seconds=0.2)
    (tmp_path / "c").write_text("x")
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c")])
    one_error_line(res, str(tmp_path / "c"))


def test_written_files_have_the_usual_mode(cache):
    umask = os.umask(0)
    os.umask(umask)
    for name in ("manifest.csv", "config.json", "hashes.json"):
        assert stat.S_IMODE((cache / name).stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(_entry(cache).stat().st_mode) == 0o666 & ~umask


def test_loky_workers_do_not_linger(monkeypatch):
    import joblib

    from animalsnd.parallel import run_parallel

    seen = {}
    real = joblib.parallel_config

    def spy(**kw):
        seen.update(kw)
        return real(**kw)

    monkeypatch.setattr(joblib, "parallel_config", spy)
    assert run_parallel(abs, [(-1,), (-2,), (-3,)], jobs=2) == [1, 2, 3]
    assert seen["idle_worker_timeout"] <= 30


def test_truncated_entry_through_the_cli(runner, cache, tmp_path):
    npz = _entry(cache)
    npz.write_bytes(npz.read_bytes()[:64])
    res = runner.invoke(app, ["train", str(cache), "--model", "cnn1d", "--out", str(tmp_path / "m")])
    one_error_line(res, f"{npz}: missing or corrupt cache entry", "re-run prepare")


def _ones(path):
    return {"x": np.ones(3, np.float32)}


def test_truncated_store_entry_is_recomputed(cache):
    from animalsnd.cache import fill_store, usable_rows

    rows = usable_rows(cache)
    store = cache / "store"
    assert fill_store(store, rows, _ones, spec={}, spec_name="spec.json", jobs=1)[1:] == (8, 0)
    entry = store / f"{rows[0]['sha256']}.npz"
    entry.write_bytes(entry.read_bytes()[:50])
    assert fill_store(store, rows, _ones, spec={}, spec_name="spec.json", jobs=1)[1:] == (1, 7)


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "No space left on device; free some space and re-run"),
    (errno.EROFS, "Read-only file system; choose a writable location"),
])
def test_os_errors_are_one_line(runner, tmp_path, monkeypatch, code, words):
    import animalsnd.cache

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "c" / "manifest.csv"))

    monkeypatch.setattr(animalsnd.cache, "prepare", fail)
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=2, sr=8000, seconds=0.2)
    res = _prepare(runner, data, tmp_path / "c")
    one_error_line(res, f"{tmp_path / 'c' / 'manifest.csv'}: {words}")


def test_augmented_manifest_ids_must_be_copy_numbers(cache):
    from animalsnd.augment.store import build_augmented, load_augmented
    from animalsnd.errors import DatasetError
    from test_augment_store import write_noise

    name = build_augmented(cache, write_noise(cache.parent / "noise"), per_class=5, jobs=1).name
    manifest = cache / "augment" / name / "manifest.csv"
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    text = manifest.read_text()
    manifest.write_text(text.replace(f"\n{rows[0]['id']},", "\n../../../../tmp/evil,", 1))
    with pytest.raises(DatasetError, match="line 2: id '../../../../tmp/evil' is not a copy number"):
        load_augmented(cache, name)


def test_n_fft_that_leaves_mel_bands_empty():
    from animalsnd.config import FeatureConfig
    from animalsnd.errors import ConfigError

    with pytest.raises(ConfigError, match="n_fft=256 at sr=16000 leaves 13 of the n_mels=128 Mel bands"):
        FeatureConfig(sr=16000, n_fft=256, hop_length=128)
    FeatureConfig(sr=16000, n_fft=512, hop_length=128)  # every band holds a bin
