"""Issue 17: predict and eval check their options and outputs before any audio is read."""

import pytest

from animalsnd.cli import app
from audiogen import make_dataset
from cliassert import one_error_line
from conftest_train import tiny, trained  # noqa: F401  (fixtures)
from test_cli_predict import _tones, fake_model  # noqa: F401  (fixture)


@pytest.fixture
def wav(tmp_path):
    return _tones(tmp_path / "rec.wav", [300, 2000])


def _predict(runner, model, *args):
    return runner.invoke(app, ["predict", str(model), *map(str, args)])


def test_out_may_not_overwrite_an_input(runner, fake_model, wav):  # noqa: F811
    before = wav.read_bytes()
    res = _predict(runner, fake_model, wav, "--format", "csv", "--out", wav)
    one_error_line(res, f"--out {wav} is one of the inputs")
    assert wav.read_bytes() == before
    res = _predict(runner, fake_model, wav.parent, "--format", "json", "--out", wav)  # found in a folder
    one_error_line(res, "is one of the inputs")


@pytest.mark.parametrize("fmt, make, words", [
    ("csv", lambda p: p.mkdir(), "is a folder; give a file name"),
    ("raven", lambda p: p.write_text("x"), "is a file; give a folder"),
])
def test_out_is_checked_before_any_audio(runner, fake_model, wav, tmp_path, fmt, make, words):  # noqa: F811
    out = tmp_path / "out"
    make(out)
    res = _predict(runner, fake_model, wav, "--format", fmt, "--out", out)
    one_error_line(res, f"--out {out}", words)
    assert "Predicting" not in res.output


@pytest.mark.parametrize("args, words", [
    (["--hop", "inf"], "--hop inf must be a positive, finite number"),
    (["--window", "inf"], "--window inf must be a positive, finite number"),
    (["--window", "nan"], "--window nan must be a positive, finite number"),
    (["--window", "0.4", "--hop", "2"], "--hop 2 is longer than --window 0.4: 80% of the audio would be skipped"),
])
def test_window_and_hop(runner, fake_model, wav, args, words):  # noqa: F811
    one_error_line(_predict(runner, fake_model, wav, *args), words)


def test_a_hop_longer_than_the_default_window(runner, fake_model, wav):  # noqa: F811
    one_error_line(_predict(runner, fake_model, wav, "--hop", "5"), "--hop 5 is longer than --window 0.512")


def test_speed_of_very_short_files_is_not_zero():
    from animalsnd.cli.predict import _fmt_speed

    assert _fmt_speed(0.02, 4.0) == "0.005x real time"
    assert _fmt_speed(300.0, 2.0) == "150x real time"


def test_eval_options_checked_first(runner, trained, tmp_path):  # noqa: F811
    data = make_dataset(tmp_path / "raw", {"chirp": 300.0, "burst": 900.0}, n=2, sr=8000, seconds=0.6)
    one_error_line(runner.invoke(app, ["eval", str(trained), "--data", str(data), "--jobs", "0"]),
                   "--jobs 0 must be a positive integer or -1")
    one_error_line(runner.invoke(app, ["eval", str(trained), "--json", str(tmp_path)]),
                   f"--json {tmp_path} is a folder")


def test_labels_are_not_read_as_markup(runner, tmp_path):
    data = make_dataset(tmp_path / "d", {"[red]x[": 300.0, "b": 900.0}, n=2, sr=8000, seconds=0.2)
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), "--folds", "2", "--jobs", "1",
                              "--sr", "8000", "--n-mels", "16", "--n-fft", "256", "--hop-length", "128",
                              "--frames", "32"])
    assert res.exit_code == 0, res.output
    assert "[red]x[" in res.output

    from animalsnd.render_eval import confusion_table, per_class_table
    from rich.console import Console

    metrics = {"per_class": {"[red]x[": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}},
               "confusion": [[1]], "macro_f1": 1.0, "weighted_f1": 1.0, "accuracy": 1.0}
    console = Console(record=True, width=100)
    console.print(per_class_table(metrics), confusion_table(metrics))
    assert console.export_text().count("[red]x[") == 3
