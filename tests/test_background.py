"""prepare --background: the reserved class, its folds, the merge rule, refusals; predict never reports it."""

import json
import zlib

import numpy as np
import pytest
import soundfile as sf
from conftest_train import FAST_CLI, SR, TINY_PREPARE, clip, make_data

from animalsnd.backbones import birdnet
from animalsnd.cache import read_manifest, usable_rows
from animalsnd.cli import app
from animalsnd.predict import detections


def _background(root, kinds=("wind", "rain/heavy"), n=4):
    for k in kinds:
        d = root / k
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            sf.write(d / f"{k.replace('/', '_')}_{i}.wav", clip("noise", zlib.crc32(k.encode()) % 10000 + i), SR)
    return root


def _prepare(runner, data, cache, *extra):
    return runner.invoke(app, ["prepare", str(data), "--cache", str(cache), "--folds", "4", "--jobs", "1",
                               *TINY_PREPARE, *extra])


@pytest.fixture(scope="module")
def bg_cache(tmp_path_factory):
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("bg")
    data = make_data(root / "data")
    bg = _background(root / "bg")
    res = _prepare(CliRunner(), data, root / "cache", "--background", str(bg))
    assert res.exit_code == 0, res.output
    return root / "cache"


def test_background_is_a_class_split_into_folds(bg_cache):
    rows = usable_rows(bg_cache)
    bg = [r for r in rows if r["label"] == "background"]
    assert len(bg) == 8
    assert all(r["relpath"].startswith("@background/") for r in bg)
    assert any(r["relpath"] == "@background/rain/heavy/rain_heavy_0.wav" for r in bg)  # searched recursively
    assert {int(r["fold"]) for r in bg} == {0, 1, 2, 3}
    conf = json.loads((bg_cache / "config.json").read_text())
    assert conf["background_dir"].endswith("bg")


def test_background_folder_inside_data_dir_is_merged(tmp_path, runner):
    data = make_data(tmp_path / "data")
    _background(tmp_path / "data" / "background", kinds=("fire",), n=3)
    bg = _background(tmp_path / "bg", kinds=("wind",), n=3)
    sf.write(bg / "wind" / "same.wav", clip("noise", 400), SR)  # also inside DATA_DIR/background
    sf.write(tmp_path / "data" / "background" / "same.wav", clip("noise", 400), SR)
    res = _prepare(runner, data, tmp_path / "cache", "--background", str(bg))
    assert res.exit_code == 0, res.output
    rows = [r for r in read_manifest(tmp_path / "cache") if r["label"] == "background"]
    rels = sorted(r["relpath"] for r in rows)
    assert "background/fire/fire_0.wav" in rels and "@background/wind/wind_0.wav" in rels
    assert len(rows) == 8
    assert sum(1 for r in rows if r["duplicate_of"]) == 1  # the same file in both places is one clip


def test_background_folder_without_audio_is_refused(tmp_path, runner):
    data = make_data(tmp_path / "data")
    (tmp_path / "bg" / "sub").mkdir(parents=True)
    (tmp_path / "bg" / "sub" / "notes.txt").write_text("no audio here")
    res = _prepare(runner, data, tmp_path / "cache", "--background", str(tmp_path / "bg"))
    assert res.exit_code == 1
    assert "--background" in res.output and "no audio files" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = _prepare(runner, data, tmp_path / "cache", "--background", str(tmp_path / "missing"))
    assert res.exit_code == 1 and "does not exist" in res.output


def test_background_folder_with_only_undecodable_audio_is_refused(tmp_path, runner):
    data = make_data(tmp_path / "data")
    (tmp_path / "bg").mkdir()
    (tmp_path / "bg" / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    (tmp_path / "bg" / "empty.ogg").write_bytes(b"")
    res = _prepare(runner, data, tmp_path / "cache", "--background", str(tmp_path / "bg"))
    assert res.exit_code == 1
    assert "none of its 2 audio file(s) could be decoded" in res.output


def test_detections_drop_background_windows():
    classes = ["background", "cat", "dog"]
    spans = np.array([[0, 1], [1, 2], [2, 3], [3, 4]], float)
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3]])
    rows = detections("f.wav", spans, probs, classes, top_k=2)
    assert [(d.start_s, d.label) for d in rows] == [(1.0, "cat"), (2.0, "cat")]
    merged = detections("f.wav", spans, probs, classes, merge=True)
    assert [(d.start_s, d.end_s, d.label) for d in merged] == [(1.0, 3.0, "cat")]
    # a model without background behaves as before
    rows = detections("f.wav", spans, probs[:, 1:], classes[1:])
    assert [d.label for d in rows] == ["cat", "cat", "cat", "dog"]


def test_models_learn_background_and_eval_lists_it(bg_cache, tmp_path, runner):
    out = tmp_path / "m"
    # class weights: probabilities that treat the classes as equally common, which --adapt starts from
    res = runner.invoke(app, ["train", str(bg_cache), "--model", "cnn1d", "--class-weights", "--out", str(out), *FAST_CLI])
    assert res.exit_code == 0, res.output
    assert "background" in json.loads((out / "bundle.json").read_text())["classes"]
    res = runner.invoke(app, ["eval", str(out)])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if "background" in ln]
    assert any(ln.split("│")[1].strip() == "background" for ln in lines if "│" in ln), res.output
    assert "among the animal classes only" in res.output
    res = runner.invoke(app, ["eval", str(out), "--json", str(tmp_path / "e.json")])
    animal = json.loads((tmp_path / "e.json").read_text())["animal_classes_only"]
    assert animal["n"] == json.loads((tmp_path / "e.json").read_text())["n"] - 2  # the fold's 2 background clips
    assert 0 <= animal["called_background"] <= animal["n"]
    # --data with no background clip: each clip scored as its most likely animal, as predict --per-file
    animals = bg_cache.parent / "data"
    runs = {}
    for extra in (("--no-adapt",), ("--no-adapt", "--allow-background"), ()):
        res = runner.invoke(app, ["eval", str(out), "--data", str(animals), "--json", str(tmp_path / "d.json"), *extra])
        assert res.exit_code == 0, res.output
        runs[extra] = (json.loads((tmp_path / "d.json").read_text()), res.output)
    (scored, text), (as_is, text_bg) = runs[("--no-adapt",)], runs[("--no-adapt", "--allow-background")]
    adapted, text_ad = runs[()]  # the folder's own class proportions (animalsnd.priors)
    assert set(adapted["folder_weights"]) == set(adapted["classes"]) - {"background"}
    assert adapted["without_adapting"]["accuracy"] == pytest.approx(scored["accuracy"])
    assert "folder_weights" not in scored and "Classes weighted by how common" in text_ad
    assert scored["background_never_chosen"] and "background_never_chosen" not in as_is
    assert scored["per_class"]["background"]["precision"] == 0 and scored["confusion"][0] == [0] * len(scored["classes"])
    assert all(row[0] == 0 for row in scored["confusion"])  # no clip called background
    a = scored["animal_classes_only"]
    assert scored["accuracy"] == pytest.approx(a["accuracy"])
    assert as_is["accuracy"] == pytest.approx(a["accuracy_with_background"])
    assert "as predict --per-file names it" in text and "as predict --per-file names it" not in text_bg
    res = runner.invoke(app, ["eval", str(out), str(animals), "--annotations", str(animals), "--allow-background"])
    assert res.exit_code == 1 and "--allow-background is for labelled clips" in res.output
    # predict --per-file: one row per clip, an animal for each by default, even noise it calls background
    clips = _background(tmp_path / "clips", kinds=("gust",), n=3)
    labels = {}
    for flag in ("--animals-only", "--allow-background"):
        table = tmp_path / f"p{flag}.csv"
        res = runner.invoke(app, ["predict", str(out), str(clips), "-r", "--per-file", flag, "--out", str(table)])
        assert res.exit_code == 0, res.output
        labels[flag] = [r.split(",")[3] for r in table.read_text().splitlines()[1:]]
    assert len(labels["--animals-only"]) == 3 and "background" not in labels["--animals-only"]
    assert len(labels["--allow-background"]) == 3  # still one row per clip
    res = runner.invoke(app, ["predict", str(out), str(clips), "-r", "--animals-only"])
    assert res.exit_code == 1 and "need --per-file" in res.output
    # window by window, --adapt weighs each recording's animals, but not a clip of fewer than 10 windows
    res = runner.invoke(app, ["predict", str(out), str(clips), "-r", "--adapt", "--format", "csv"])
    assert res.exit_code == 0 and "share of each recording's windows" not in res.output, res.output


def test_descriptor_store_picks_up_background(bg_cache):
    from animalsnd.descriptors import load_descriptor_set

    fs = load_descriptor_set(bg_cache, jobs=1)
    assert "background" in fs.classes
    assert int(np.sum(fs.y == fs.classes.index("background"))) == 8


@pytest.mark.skipif(not birdnet.is_available(), reason="BirdNET extra not installed")
def test_embedding_store_picks_up_background(bg_cache):
    from animalsnd.embeddings import load_embedding_set

    fs = load_embedding_set(bg_cache, jobs=1)
    assert "background" in fs.classes
    assert int(np.sum(fs.y == fs.classes.index("background"))) == 8
