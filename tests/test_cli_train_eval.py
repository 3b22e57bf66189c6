import json

import pytest
from conftest_train import FAST_CLI, TINY_PREPARE, make_data, tiny  # noqa: F401  (fixture)

from animalsnd.cli import app
from animalsnd.train import MODEL_NAMES

SUMMARY = {"accuracy", "macro_f1", "weighted_f1"}


@pytest.fixture(scope="module")
def cv_run(tiny, tmp_path_factory):
    """`train --cv --json` once; several tests read what it wrote."""
    from typer.testing import CliRunner

    runner = CliRunner()
    out = tmp_path_factory.mktemp("cli") / "cv-model"
    js = out.parent / "cv.json"
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "cnn1d", "--out", str(out),
                              "--cv", "--json", str(js), *FAST_CLI])
    return res, out, js


def test_train_one_fold_with_tflite_export(runner, tiny, tmp_path):
    out, js = tmp_path / "m", tmp_path / "m.json"
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "cnn1d-enhanced", "--out", str(out),
                              "--test-fold", "1", "--json", str(js), "--export", "tflite", *FAST_CLI])
    assert res.exit_code == 0, res.output
    assert "fold 1" in res.output and "2/2" in res.output and "val loss" in res.output
    assert "Held-out fold 1" in res.output and "precision" in res.output
    assert (out / "model.keras").is_file() and (out / "model.tflite").is_file()
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["data"]["test_fold"] == 1 and meta["train"]["model"] == "cnn1d-enhanced"
    summary = json.loads(js.read_text())
    assert [f["fold"] for f in summary["folds"]] == [1]
    assert set(summary["folds"][0]) >= SUMMARY | {"fold", "train_seconds"}
    assert set(summary["mean"]) >= SUMMARY and set(summary["std"]) >= SUMMARY
    assert summary["std"]["accuracy"] == 0.0


def test_cv_writes_one_bundle_per_fold_and_json(cv_run):
    res, out, js = cv_run
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["fold-0", "fold-1", "fold-2", "fold-3"]
    for k in range(4):
        assert json.loads((out / f"fold-{k}" / "bundle.json").read_text())["data"]["test_fold"] == k
    summary = json.loads(js.read_text())
    assert [f["fold"] for f in summary["folds"]] == [0, 1, 2, 3]
    for f in summary["folds"]:
        assert set(f) >= SUMMARY | {"fold", "train_seconds"}
    assert set(summary["mean"]) >= SUMMARY and set(summary["std"]) >= SUMMARY
    assert "mean ± std" in res.output and "4-fold cross-validation" in res.output


def test_eval_cv_folder_json_and_plots(runner, cv_run, tmp_path):
    _, out, _ = cv_run
    js, plots = tmp_path / "e.json", tmp_path / "plots"
    res = runner.invoke(app, ["eval", str(out), "--json", str(js), "--plots", str(plots)])
    assert res.exit_code == 0, res.output
    assert "4 fold models" in res.output and "mean ± std" in res.output
    assert "Confusion matrix" in res.output and "Per-class scores" in res.output
    s = json.loads(js.read_text())
    assert set(s) >= SUMMARY | {"n", "per_class", "folds", "mean", "std"}
    assert s["n"] == 24 and len(s["folds"]) == 4
    assert set(s["per_class"]["chirp"]) == {"precision", "recall", "f1", "support"}
    for png in ("confusion_matrix.png", "per_class.png"):
        assert (plots / png).read_bytes()[:4] == b"\x89PNG"


def test_eval_predictions_csv_lists_every_clip_out_of_fold(runner, cv_run, tmp_path):
    import csv

    _, out, _ = cv_run
    js, pred = tmp_path / "e.json", tmp_path / "sub" / "clips.csv"
    res = runner.invoke(app, ["eval", str(out), "--json", str(js), "--predictions", str(pred)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(pred.open()))
    s = json.loads(js.read_text())
    assert len(rows) == s["n"] == 24 and f"Wrote {pred} (24 clips" in res.output.replace("\n", "")
    assert sorted({r["fold"] for r in rows}) == ["0", "1", "2", "3"]
    assert len({r["path"] for r in rows}) == 24
    assert sum(int(r["correct"]) for r in rows) / 24 == pytest.approx(s["accuracy"])
    for r in rows:
        top = [pair.split(":") for pair in r["top"].split(";")]
        assert top[0][0] == r["predicted"] and float(top[0][1]) == pytest.approx(float(r["confidence"]), abs=1e-4)
        assert (r["predicted"] == r["label"]) == (r["correct"] == "1")
    assert "animal_predicted" not in rows[0]  # no background class
    res = runner.invoke(app, ["eval", str(out), "rec.wav", "--annotations", str(tmp_path), "--predictions", str(pred)])
    assert res.exit_code == 1 and "--predictions" in res.output


def test_eval_single_fold_on_raw_folder_reports_unknown(runner, cv_run, tmp_path):
    _, out, _ = cv_run
    data = make_data(tmp_path / "raw", ("chirp", "clicks", "owl"), n=2)
    js = tmp_path / "e.json"
    res = runner.invoke(app, ["eval", str(out / "fold-2"), "--data", str(data), "--json", str(js),
                              "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Warning: 2 clip(s) in folders with no class in the model were not scored: owl (2)" in res.output
    s = json.loads(js.read_text())
    assert s["n"] == 4 and "folds" not in s
    assert s["per_class"]["burst"]["support"] == 0


@pytest.mark.parametrize("args, line", [
    (["train", "{tmp}/nope", "--model", "cnn1d", "--out", "{tmp}/m"],
     "Error: {tmp}/nope: not a feature cache (no config.json; run `animalsnd prepare` first)"),
    (["train", "{cache}", "--model", "resnet", "--out", "{tmp}/m"],
     "Error: unknown model 'resnet'; available: " + ", ".join(MODEL_NAMES)),
    (["train", "{cache}", "--model", "cnn1d", "--out", "{tmp}/m", "--test-fold", "9"],
     "Error: test fold 9 is out of range; the cache has 4 folds (0-3)"),
    (["train", "{cache}", "--model", "cnn1d", "--out", "{tmp}/m", "--optimizer", "sgd"],
     "Error: optimizer='sgd' must be one of: adam, adamw"),
    (["train", "{cache}", "--model", "cnn1d", "--out", "{tmp}/m", "--export", "onnx"],
     "Error: --export 'onnx': only 'tflite' is supported"),
    (["train", "{cache}", "--model", "cnn1d", "--out", "{tmp}/m", "--recipe", "fast"],
     "Error: unknown recipe 'fast' for --model cnn1d; available: default"),
    (["train", "{cache}", "--model", "cnn1d-enhanced", "--out", "{tmp}/m", "--floor-shift", "-3"],
     "Error: floor-shift=-3.0 must be a number of dB >= 0 (0 = off)"),
    (["train", "{cache}", "--model", "stats-mlp", "--out", "{tmp}/m", "--floor-shift", "10"],
     "Error: --floor-shift applies to --model cnn1d or cnn1d-enhanced or alexnet-mel or transformer-mel only"),
    (["eval", "{tmp}/nope"], "Error: {tmp}/nope: model folder does not exist"),
    (["eval", "{tmp}"], "Error: {tmp}: not a model bundle (no bundle.json and no fold-*/bundle.json)"),
])
def test_bad_input_is_one_line(runner, tiny, tmp_path, args, line):
    fmt = dict(tmp=tmp_path, cache=tiny["cache"])
    res = runner.invoke(app, [a.format(**fmt) for a in args])
    assert res.exit_code == 1
    assert res.output.strip() == line.format(**fmt)


def test_corrupt_bundle_and_empty_data(runner, cv_run, tmp_path):
    _, out, _ = cv_run
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bundle.json").write_text("{")
    (bad / "model.keras").write_bytes(b"")
    res = runner.invoke(app, ["eval", str(bad)])
    assert res.exit_code == 1 and res.output.startswith(f"Error: {bad}/bundle.json: corrupt bundle (")
    assert len(res.output.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["eval", str(out / "fold-0"), "--data", str(tmp_path / "empty")])
    assert res.exit_code == 1 and "no class folders with audio files" in res.output
    assert "Traceback" not in res.output


def test_eval_cache_with_other_features(runner, cv_run, tiny, tmp_path):
    _, out, _ = cv_run
    other = tmp_path / "c"
    res = runner.invoke(app, ["prepare", str(tiny["data"]), "--cache", str(other), "--folds", "4",
                              *TINY_PREPARE[:-1], "48", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["eval", str(out / "fold-0"), "--data", str(other)])
    assert res.exit_code == 1
    assert res.output.strip() == (
        f"Error: {other}: cache was built with other feature settings than the model "
        "(frames=48 (model: 32), trim=True (model: False)); prepare it again with the model's settings or pass "
        "the raw folder"
    )


def test_model_options_reach_the_builder(runner, tiny, tmp_path):
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "cnn1d", "--out", str(tmp_path / "m"),
                              "--model-option", "bogus=1", *FAST_CLI])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1].startswith("Error: model 'cnn1d' has no option(s) bogus; available: ")
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "cnn1d", "--out", str(tmp_path / "m"),
                              "--model-option", "dense_units=8", "--epochs", "1"])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "m" / "bundle.json").read_text())
    assert meta["train"]["model_options"] == {"dense_units": 8}


def test_recipe_reaches_the_bundle_and_flags_override_it(runner, tiny, tmp_path):
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "cnn1d-enhanced", "--out", str(tmp_path / "m"),
                              "--recipe", "tuned", "--epochs", "1", "--model-option", "head_dropout=0.1"])
    assert res.exit_code == 0, res.output
    conf = json.loads((tmp_path / "m" / "bundle.json").read_text())["train"]
    assert (conf["batch_size"], conf["patience"], conf["epochs"], conf["time_width"]) == (16, 15, 1, 20)
    assert conf["model_options"] == {"spatial_dropout": 0.0, "head_dropout": 0.1, "dense_dropout": 0.2}


def test_floor_shift_trains_on_floor_features(runner, tiny, tmp_path):
    cache = tmp_path / "floor"
    res = runner.invoke(app, ["prepare", str(tiny["data"]), "--cache", str(cache), "--folds", "4", "--jobs", "1",
                              *TINY_PREPARE, "--norm", "floor"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", str(cache), "--model", "cnn1d-enhanced", "--out", str(tmp_path / "m"),
                              "--floor-shift", "20", *FAST_CLI])
    assert res.exit_code == 0, res.output
    assert "floor shift ≤ 20 dB" in " ".join(res.output.split())
    conf = json.loads((tmp_path / "m" / "bundle.json").read_text())["train"]
    assert conf["floor_shift"] == 20.0
    res = runner.invoke(app, ["eval", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "cnn1d-enhanced", "--out", str(tmp_path / "b"),
                              "--floor-shift", "20", *FAST_CLI])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == \
        "Error: --floor-shift needs features prepared with --norm floor (these use 'band')"
