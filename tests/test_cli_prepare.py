import csv

from animalsnd.cli import app
from audiogen import ENCODINGS, make_dataset, mp3_in_wav, tone, write_bad_files, write_encoding

TINY = ["--sr", "8000", "--n-mels", "16", "--n-fft", "256", "--hop-length", "128", "--frames", "32"]


def test_help_lists_every_command(runner):
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ["prepare", "augment", "train", "eval", "predict", "compare", "demo"]:
        assert cmd in res.output


def test_prepare_every_encoding_and_bad_files(runner, tmp_path):
    data = make_dataset(tmp_path / "my data", {"frög": 300.0, "bird": 2000.0}, n=4, sr=16000)
    for name, fmt, sub, sr, ch in ENCODINGS:
        write_encoding(data / "bird" / "enc", name, fmt, sub, sr, ch, freq=2000.0)
    mp3_in_wav(data / "bird" / "mp3wav.wav", tone(2000.0, sr=22050), 22050)
    bad = write_bad_files(data / "frög")
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "cache"),
                              "--folds", "2", "--jobs", "2", *TINY])
    assert res.exit_code == 0, res.output
    assert "Prepared dataset" in res.output
    for name in bad:
        assert f"frög/{name}:" in res.output
    with open(tmp_path / "cache" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 8 + len(ENCODINGS) + 1
    assert {r["sample_rate"] for r in ok} >= {"11127", "96000", "8000"}
    assert len(rows) - len(ok) == len(bad)


def test_prepare_missing_folder_is_one_line(runner, tmp_path):
    res = runner.invoke(app, ["prepare", str(tmp_path / "nope"), "--cache", str(tmp_path / "c")])
    assert res.exit_code == 1
    assert res.output.strip() == f"Error: {tmp_path / 'nope'}: data folder does not exist"
    assert "Traceback" not in res.output


def test_prepare_no_class_folders(runner, tmp_path):
    (tmp_path / "d").mkdir()
    res = runner.invoke(app, ["prepare", str(tmp_path / "d"), "--cache", str(tmp_path / "c")])
    assert res.exit_code == 1 and "no class folders" in res.output


def test_prepare_one_usable_class(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0}, n=4, sr=8000)
    write_bad_files(data / "b")
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), *TINY, "--folds", "2"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1].startswith("Error:")
    assert "need at least two classes" in res.output


def test_prepare_bad_option_value(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000)
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), "--hop-length", "0"])
    assert res.exit_code == 1
    assert "hop_length=0 must be a positive integer" in res.output


def test_prepare_norm_option(runner, tmp_path):
    import json

    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000)
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), "--folds", "2", "--jobs", "1",
                              *TINY, "--norm", "clip"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "c" / "config.json").read_text())["feature"]["norm"] == "clip"
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c2"), "--norm", "global"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == "Error: norm='global' must be one of: band, clip, pcen, floor"
