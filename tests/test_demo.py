from pathlib import Path

import pytest

from animalsnd.cli import app
from animalsnd.demo import STEPS, check_workdir, match_calls, sample_audio_dir
from animalsnd.errors import ConfigError
from animalsnd.predict import Detection
from animalsnd.synth import generate


def _d(s, e, label, conf=0.9):
    return Detection("f.wav", s, e, label, conf)


def test_match_calls():
    truth = [("frog", 5.0, 6.0), ("bird", 20.0, 21.0), ("cow", 40.0, 42.0)]
    rows = [_d(2.0, 9.0, "frog"), _d(8.0, 12.0, "dog"), _d(18.0, 23.0, "cow", 0.7),
            _d(19.0, 22.0, "unknown"), _d(39.0, 44.0, "cow")]
    matches, false = match_calls(truth, rows)
    assert [(m.kind, m.label, m.found) for m in matches] == [
        ("frog", "frog", True), ("bird", "cow", False), ("cow", "cow", True)]
    assert (matches[0].det_start_s, matches[0].det_end_s) == (2.0, 9.0)
    assert false == 2  # the dog and the cow over the bird; unknown is not a detection
    matches, false = match_calls([("dog", 1.0, 2.0)], [])
    assert matches[0].label == "" and not matches[0].found and false == 0


def test_sample_audio_ships_with_the_package():
    d = sample_audio_dir()
    assert d == Path(__file__).resolve().parents[1] / "sample_audio"
    assert {p.name for p in d.iterdir() if p.is_dir()} == {"bird", "cow", "cricket", "dog", "frog"}


def test_demo_command_end_to_end(runner, tmp_path):
    """The whole demo on a smaller synthetic dataset, 2 epochs, no stdin."""
    data = tmp_path / "dätä"
    generate(data, seed=1, classes={"frog": 5, "cricket": 5})
    work = tmp_path / "work dir"
    res = runner.invoke(app, ["demo", "--data", str(data), "--workdir", str(work), "--epochs", "2",
                              "--jobs", "1"], input="")
    assert res.exit_code == 0, res.output
    out = res.stdout
    for i, step in enumerate(STEPS, 1):
        assert f"{i}/4 {step}" in out
    for title in ["Prepared dataset", "Confusion matrix", "Merged detections in field_recording.wav",
                  "Detections against the ground truth"]:
        assert title in out
    assert "held-out fold 0: accuracy" in out and "2 epochs in" in out
    assert out.strip().splitlines()[-1].startswith("demo finished in ")
    assert f"everything is in {work}" in out
    assert (work / "model" / "bundle.json").is_file() and (work / "field_recording.wav").is_file()
    assert (work / "cache" / "manifest.csv").is_file()
    # the outputs stay, and the folder is named with the next command to try
    assert (work / "predictions.csv").read_text().startswith("file,start_s,end_s,label,confidence")
    assert (work / "raven" / "field_recording.Table.1.selections.txt").is_file()
    assert (work / "truth.csv").read_text().splitlines()[0] == "file,start_s,end_s,label"
    assert {p.name for p in (work / "plots").iterdir()} == {"confusion_matrix.png", "per_class.png"}
    assert f"Next: animalsnd predict {work / 'model'} {work / 'field_recording.wav'}" in " ".join(out.split())
    check_workdir(work)  # a demo's own folder may be used again


def test_demo_refuses_a_folder_it_did_not_make(runner, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    res = runner.invoke(app, ["demo", "--workdir", str(tmp_path / "mine")])
    assert res.exit_code == 1 and "was not made by `animalsnd demo`" in res.output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        check_workdir(tmp_path / "file")
    check_workdir(tmp_path / "new")  # a folder that does not exist yet is fine


def test_demo_missing_data_is_one_line(runner, tmp_path):
    res = runner.invoke(app, ["demo", "--data", str(tmp_path / "none"), "--workdir", str(tmp_path / "w")])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == f"Error: {tmp_path / 'none'}: data folder does not exist"
