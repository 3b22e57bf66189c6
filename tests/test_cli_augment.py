import csv
import shutil

import numpy as np
import pytest
import soundfile as sf

from animalsnd.cache import prepare
from animalsnd.cli import app
from animalsnd.config import FeatureConfig
from audiogen import make_dataset

TINY = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)
SR = 8000


@pytest.fixture
def cache(tmp_path):
    data = make_dataset(tmp_path / "data", {"cat": 400.0}, n=6, sr=SR, seconds=0.6)
    make_dataset(data, {"frog": 1200.0}, n=3, sr=SR, seconds=0.6, seed=1)
    prepare(data, tmp_path / "cache", cfg=TINY, folds=3, jobs=1)
    return tmp_path / "cache"


@pytest.fixture
def noise(tmp_path):
    d = tmp_path / "noise"
    d.mkdir()
    rng = np.random.default_rng(0)
    sf.write(d / "wind.wav", (0.1 * rng.standard_normal(2400)).astype(np.float32), SR)
    return d


def error_line(res):
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    return lines[0]


def test_augment_prints_table_and_writes_set(runner, cache, noise):
    res = runner.invoke(app, ["augment", str(cache), "--noise", str(noise), "--per-class", "4", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Augmented set 'calibrated': calibrated, 10 to 20 dB against the active level" in res.output
    assert "source clips" in res.output and "augmented copies" in res.output
    assert "8 copies from 1 noise file(s); computed 8, reused 0" in res.output
    with open(cache / "augment" / "calibrated" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8
    again = runner.invoke(app, ["augment", str(cache), "--noise", str(noise), "--per-class", "4", "--jobs", "1"])
    assert again.exit_code == 0 and "computed 0, reused 8" in again.output
    assert "Note:" not in res.output  # 4 copies of each class: 40 % of cat, 57 % of frog


def test_default_balancing_notes_that_noise_marks_the_minority_classes(runner, cache, noise):
    res = runner.invoke(app, ["augment", str(cache), "--noise", str(noise), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "3 copies from 1 noise file(s)" in out  # frog (3 clips) brought up to cat (6)
    assert "Note: noisy copies make 0% of 'cat' and 50% of 'frog' after augmentation" in out
    assert "--per-class N gives every class N copies" in out


def test_simple_mode_named(runner, cache, noise):
    res = runner.invoke(app, ["augment", str(cache), "--noise", str(noise), "--mode", "simple",
                              "--name", "naive", "--seed", "3", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Augmented set 'naive': simple, 0 to 20 dB against the whole level" in res.output
    assert (cache / "augment" / "naive" / "manifest.csv").exists()


def test_unreadable_noise_warns(runner, cache, noise):
    (noise / "broken.wav").write_text("not audio")
    res = runner.invoke(app, ["augment", str(cache), "--noise", str(noise), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Warning: noise broken.wav: not a readable audio file" in res.output


def test_some_sources_missing_warns(runner, cache, noise, tmp_path):
    (tmp_path / "data" / "frog" / "frog_00.wav").unlink()
    res = runner.invoke(app, ["augment", str(cache), "--noise", str(noise), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Warning: 1 of 9 source files are missing or changed since prepare" in res.output


def test_bad_inputs_one_line(runner, cache, noise, tmp_path):
    def run(*args, noise_dir=noise, cache_dir=cache):
        return runner.invoke(app, ["augment", str(cache_dir), "--noise", str(noise_dir), "--jobs", "1", *args])

    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no audio here")
    assert error_line(run(noise_dir=empty)) == (
        f"Error: {empty}: no audio files in the noise folder (expected *.wav|flac|ogg|mp3)")
    assert error_line(run(noise_dir=tmp_path / "nope")) == f"Error: {tmp_path / 'nope'}: noise folder does not exist"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.wav").write_bytes(b"")
    assert error_line(run(noise_dir=bad)) == (
        f"Error: {bad}: none of the 1 noise file(s) could be used (first: a.wav: empty file (0 bytes))")
    assert error_line(run("--snr", "20:10")) == "Error: SNR range '20:10' is inverted: low 20 > high 10"
    assert error_line(run("--snr", "ten:20")) == "Error: SNR range 'ten:20' must hold numbers, like 10:20 or 5"
    assert error_line(run("--mode", "fancy")) == "Error: mode='fancy' must be one of calibrated, simple"
    assert error_line(run("--per-class", "0")) == "Error: per-class=0 must be a positive integer"
    assert error_line(run(cache_dir=tmp_path / "data")) == (
        f"Error: {tmp_path / 'data'}: not a feature cache (no config.json; run `animalsnd prepare` first)")
    shutil.rmtree(tmp_path / "data")
    first = sorted(str((tmp_path / "data" / "cat" / f"cat_{i:02d}.wav").resolve()) for i in range(6))[0]
    assert error_line(run()) == (
        f"Error: {cache}: the source audio of all 9 clips is missing or changed "
        f"(e.g. {first}: missing); augment mixes noise into the prepared recordings")


def test_background_snr_option_takes_a_negative_range(tmp_path, runner):
    import csv

    import numpy as np
    import soundfile as sf
    from audiogen import make_dataset

    from animalsnd.cache import prepare
    from animalsnd.cli import app
    from animalsnd.config import FeatureConfig

    data = make_dataset(tmp_path / "data", {"a": 300.0}, n=4, sr=8000, seconds=0.6)
    bg = make_dataset(tmp_path / "bg", {"hum": 120.0}, n=4, sr=8000, seconds=0.6)
    prepare(data, tmp_path / "cache", cfg=FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32),
            folds=2, jobs=1, background=bg)
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "n.wav", 0.1 * np.random.default_rng(0).standard_normal(4000), 8000)
    res = runner.invoke(app, ["augment", str(tmp_path / "cache"), "--noise", str(tmp_path / "noise"), "--per-class", "3",
                              "--background-snr", "-15:-5", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "cache" / "augment" / "calibrated" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(-15 <= float(r["target_snr_db"]) <= -5 for r in rows if r["label"] == "background")
    assert all(10 <= float(r["target_snr_db"]) <= 20 for r in rows if r["label"] != "background")
