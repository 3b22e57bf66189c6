"""`eval --data DIR --map folder=class,...`: folders under other names scored as model classes."""

import pytest
import soundfile as sf

from animalsnd.cli import app
from animalsnd.errors import ConfigError
from animalsnd.evaluate import evaluate
from animalsnd.labelmap import class_index, parse_map, using
from conftest_train import SR, clip, tiny, trained  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """chirp clips in 'sweep' and 'rise', clicks in 'clicks', and an unmapped 'owl'."""
    root = tmp_path_factory.mktemp("renamed")
    for folder, label, first in [("sweep", "chirp", 20), ("rise", "chirp", 22), ("clicks", "clicks", 20),
                                 ("owl", "owl", 0)]:
        (root / folder).mkdir()
        for i in range(first, first + 2):
            sf.write(root / folder / f"{folder}_{i}.wav", clip(label, i), SR, subtype="PCM_16")
    return root


def test_parse_map_from_text_and_csv(tmp_path):
    assert parse_map("hen=chicken, rooster=chicken,crow=bird") == {"hen": "chicken", "rooster": "chicken",
                                                                  "crow": "bird"}
    csv = tmp_path / "map.csv"
    csv.write_text("folder,class\nhen,chicken\n\ncrow,bird\n")
    assert parse_map(str(csv)) == {"hen": "chicken", "crow": "bird"}
    assert parse_map(None) == {}


@pytest.mark.parametrize("spec, message", [("hen", "must be FOLDER=CLASS"), ("hen=", "needs both"),
                                           ("hen=a,hen=b", "maps 'hen' to both")])
def test_parse_map_refuses_bad_entries(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_map(spec)


def test_class_index_only_inside_using():
    with using({"hen": "chicken", "crow": "nothing"}):
        assert class_index(["bird", "chicken"]) == {"bird": 0, "chicken": 1, "hen": 1}
    with using({"chicken": "bird"}):  # a class folder mapped to another class counts as that one
        assert class_index(["bird", "chicken"]) == {"bird": 0, "chicken": 0}
    assert class_index(["bird", "chicken"]) == {"bird": 0, "chicken": 1}


def test_map_targets_are_spelled_as_the_models_classes():
    from animalsnd.labelmap import check_map

    assert check_map({"hen": "Chicken", "crow": "birds", "owl": "owl"}, ["bird", "chicken", "owl"]) == \
        {"hen": "chicken", "crow": "bird", "owl": "owl"}
    with pytest.raises(ConfigError, match="--map: horse is not a class of the model"):
        check_map({"x": "horse"}, ["bird", "chicken"])


def test_eval_scores_mapped_folders(trained, renamed):
    plain = evaluate(trained, data=renamed, jobs=1)
    assert plain.metrics["n"] == 2 and plain.runs[0].data.unknown == {"owl": 2, "rise": 2, "sweep": 2}
    mapped = evaluate(trained, data=renamed, jobs=1, label_map={"sweep": "Chirp", "rise": "chirps"})
    m = mapped.metrics
    assert m["n"] == 6 and m["per_class"]["chirp"]["support"] == 4
    assert mapped.runs[0].data.unknown == {"owl": 2}


def test_cli_map_and_the_folders_without_a_class(runner, trained, renamed, tmp_path):
    csv = tmp_path / "map.csv"
    csv.write_text("sweep,chirp\nrise,chirp\n")
    res = runner.invoke(app, ["eval", str(trained), "--data", str(renamed), "--map", str(csv), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "(n=6)" in res.output
    assert "2 clip(s) in folders with no class in the model were not scored: owl (2)" in res.output


@pytest.mark.parametrize("args, message", [
    (["--map", "sweep=bird"], "--map: bird is not a class of the model (burst, chirp, clicks)"),
    (["--map", "sweep"], "must be FOLDER=CLASS"),
])
def test_cli_map_errors_are_one_line(runner, trained, renamed, args, message):
    res = runner.invoke(app, ["eval", str(trained), "--data", str(renamed), *args])
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output


def test_cli_map_needs_data(runner, trained):
    res = runner.invoke(app, ["eval", str(trained), "--map", "a=chirp"])
    assert res.exit_code == 1 and "--map needs --data" in res.output


def test_prepare_map_merges_folders_into_one_class(runner, renamed, tmp_path):
    import csv

    from conftest_train import TINY_PREPARE

    cache = tmp_path / "cache"
    res = runner.invoke(app, ["prepare", str(renamed), "--cache", str(cache), *TINY_PREPARE, "--folds", "2",
                              "--jobs", "1", "--cutoff", "none", "--map", "sweep=chirp,rise=chirp,hen=chicken"])
    assert res.exit_code == 0, res.output
    assert f"--map hen=chicken: {renamed} has no folder 'hen'" in " ".join(res.output.split())
    rows = list(csv.DictReader((cache / "manifest.csv").open()))
    labels = {r["path"].split("/")[-2]: r["label"] for r in rows}
    assert labels == {"sweep": "chirp", "rise": "chirp", "clicks": "clicks", "owl": "owl"}
    from animalsnd.dataset import discover

    assert {r.label for r in discover(renamed)} == {"sweep", "rise", "clicks", "owl"}  # no map: folder names


def test_class_index_matches_case_and_spacing():
    known = class_index(["red fox", "bird", "owl", "OWL"])
    assert "Red-Fox" in known and known["Red-Fox"] == 0 and known["BIRD "] == 1 and known.get("bird") == 1
    assert "Owl" not in known and known.get("Owl") is None  # two classes fit: neither is guessed
    assert known["OWL"] == 3 and "fox" not in known
    assert known.loose == {"Red-Fox": "red fox", "BIRD ": "bird"}
    with pytest.raises(KeyError):
        known["fox"]
    plural = class_index(["dog", "finch", "puppy", "grass", "sheep", "cats", "bu"])
    assert [plural.get(n) for n in ("Dogs", "finches", "Puppies", "grass", "Sheep", "cat", "bus")] == \
        [0, 1, 2, 3, 4, 5, 6]
    assert "gras" not in plural and "dogses" not in plural
    assert "Owls" not in class_index(["owl", "OWL"])  # two classes fit: neither is guessed


def test_eval_matches_folders_by_name_whatever_their_case(runner, trained, tmp_path):
    for folder, label in [("Chirp", "chirp"), ("CLICKS", "clicks")]:
        (tmp_path / "d" / folder).mkdir(parents=True)
        for i in (20, 21):
            sf.write(tmp_path / "d" / folder / f"{i}.wav", clip(label, i), SR, subtype="PCM_16")
    rep = evaluate(trained, data=tmp_path / "d", jobs=1)
    assert rep.metrics["n"] == 4 and rep.runs[0].data.unknown == {}
    assert rep.metrics["per_class"]["chirp"]["support"] == 2 and rep.metrics["per_class"]["clicks"]["support"] == 2
    res = runner.invoke(app, ["eval", str(trained), "--data", str(tmp_path / "d"), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "folders matched to the model's classes by name, ignoring case, spacing and plurals: CLICKS -> clicks, " \
           "Chirp -> chirp" in " ".join(res.output.split())


def test_no_folder_of_the_models_classes_is_one_line_naming_them(runner, trained, renamed, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "owl").symlink_to(renamed / "owl")
    res = runner.invoke(app, ["eval", str(trained), "--data", str(tmp_path / "d"), "--jobs", "1"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert (f"Error: {tmp_path / 'd'}: no clips of the model's classes to evaluate: owl (2 clips) is no class of "
            "the model (burst, chirp, clicks); --map FOLDER=CLASS") in res.output


def test_class_folders_one_level_down_are_pointed_to(runner, trained, tmp_path):
    for label in ("chirp", "clicks"):
        (tmp_path / "d" / "unpacked" / label).mkdir(parents=True)
        sf.write(tmp_path / "d" / "unpacked" / label / "0.wav", clip(label, 20), SR, subtype="PCM_16")
    res = runner.invoke(app, ["eval", str(trained), "--data", str(tmp_path / "d"), "--jobs", "1"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert ("unpacked (2 clips) is no class of the model (burst, chirp, clicks); the class folders seem to be one "
            f"level down: --data {tmp_path / 'd' / 'unpacked'}") in " ".join(res.output.split())
