"""Issue 17: model folders hold one run, saves never destroy the old bundle, bundles match their model."""

import errno
import json
import shutil

import numpy as np
import pytest

from animalsnd.bundle import BUNDLE_FILE, MODEL_FILE, TFLITE_FILE, find_bundles, load_bundle, save_bundle
from animalsnd.cli import app
from animalsnd.config import FeatureConfig
from animalsnd.errors import BundleError
from cliassert import one_error_line
from conftest_train import FAST_CLI, TINY_PREPARE, tiny, trained, trained_cv  # noqa: F401  (fixtures)

CFG = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)
CLASSES = ["burst", "chirp", "clicks"]


@pytest.fixture(scope="module")
def model():
    from animalsnd.models import build_model

    return build_model("cnn1d", input_shape=CFG.shape, n_classes=3, seed=1)


def _save(path, model, **kw):
    return save_bundle(path, model=model, classes=CLASSES, cfg=CFG, **kw)


# ------------------------------------------------------------------ item 2: stale and swapped files
def test_resave_without_export_drops_the_old_tflite(tmp_path, model):
    from animalsnd.predict import load_predictor

    _save(tmp_path / "m", model, export_tflite=True)
    assert (tmp_path / "m" / TFLITE_FILE).is_file()
    _save(tmp_path / "m", model)
    assert not (tmp_path / "m" / TFLITE_FILE).exists()
    assert load_predictor(tmp_path / "m", runtime="auto").runtime == "keras"
    meta = json.loads((tmp_path / "m" / BUNDLE_FILE).read_text())
    assert set(meta["file_sha256"]) == {MODEL_FILE}


def test_a_file_not_listed_or_swapped_is_refused(tmp_path, model):
    from animalsnd.predict import load_predictor

    _save(tmp_path / "a", model, export_tflite=True)
    _save(tmp_path / "b", model)
    shutil.copy(tmp_path / "a" / TFLITE_FILE, tmp_path / "b" / TFLITE_FILE)  # a stray file of another run
    assert load_predictor(tmp_path / "b", runtime="auto").runtime == "keras"
    with pytest.raises(BundleError, match="model.tflite: not part of this bundle"):
        load_bundle(tmp_path / "b").owned_file(TFLITE_FILE)
    (tmp_path / "a" / MODEL_FILE).write_bytes((tmp_path / "a" / MODEL_FILE).read_bytes() + b"\0")
    with pytest.raises(BundleError, match=r"model.keras: does not match the sha256 in bundle.json"):
        load_bundle(tmp_path / "a").model


# ------------------------------------------------------------------ item 5: failed save
class _FullDisk:
    name = "full"

    def save(self, path):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_failed_save_keeps_the_previous_bundle(tmp_path, model):
    _save(tmp_path / "m", model)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OSError):
        _save(tmp_path / "m", _FullDisk())
    b = load_bundle(tmp_path / "m")
    assert b.model.output_shape[-1] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no half-written folder left beside it


# ------------------------------------------------------------------ item 3: one run per folder
def test_stale_fold_bundles_are_refused(tmp_path, trained_cv):  # noqa: F811
    cv = tmp_path / "cv"
    shutil.copytree(trained_cv, cv)
    for k in range(3):  # fold-0..2 re-saved by a 3-fold run, fold-3 left over
        path = cv / f"fold-{k}" / BUNDLE_FILE
        meta = json.loads(path.read_text())
        meta["training"]["n_folds"] = 3
        path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="fold-\\* bundles of different runs .*runs of 3 and 4 folds"):
        find_bundles(cv)


def test_cv_retrain_with_fewer_folds_leaves_one_run(runner, tmp_path, tiny, trained_cv):  # noqa: F811
    res = runner.invoke(app, ["prepare", str(tiny["data"]), "--cache", str(tmp_path / "c3"), "--folds", "3",
                              "--jobs", "1", *TINY_PREPARE])
    assert res.exit_code == 0, res.output
    cv = tmp_path / "cv"
    shutil.copytree(trained_cv, cv)
    res = runner.invoke(app, ["train", str(tmp_path / "c3"), "--model", "cnn1d", "--cv", "--out", str(cv),
                              *FAST_CLI])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in cv.iterdir() if p.name.startswith("fold-")) == ["fold-0", "fold-1", "fold-2"]
    assert len(find_bundles(cv)) == 3


# ------------------------------------------------------------------ item 7: bundle against model
@pytest.mark.parametrize("edit, words", [
    (lambda m: m["classes"].append("extra"), "lists 4 classes but the model has 3 outputs"),
    (lambda m: m["classes"].pop(), "lists 2 classes but the model has 3 outputs"),
    (lambda m: m["input"]["feature"].update(n_mels=20), "(edited feature config)"),
])
def test_bundle_must_match_its_model(runner, tmp_path, trained, edit, words):  # noqa: F811
    m = tmp_path / "m"
    shutil.copytree(trained, m)
    meta = json.loads((m / BUNDLE_FILE).read_text())
    edit(meta)
    (m / BUNDLE_FILE).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_bundle(m).predict_proba(np.zeros((1, *load_bundle(m).input_shape), np.float32))
    import soundfile as sf

    from conftest_train import SR, clip

    sf.write(tmp_path / "x.wav", clip("chirp", 0), SR)
    one_error_line(runner.invoke(app, ["predict", str(m), str(tmp_path / "x.wav")]), "bundle.json", words)
    if "classes" in words:  # eval scored such a bundle silently
        one_error_line(runner.invoke(app, ["eval", str(m)]), "bundle.json", words)


# ------------------------------------------------------------------ items 6, 8, 9: train's options
def test_train_out_is_checked_before_training(runner, tmp_path, tiny):  # noqa: F811
    (tmp_path / "file").write_text("x")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    cases = [
        (["--out", str(tmp_path / "file")], "--out", "is a file"),
        (["--out", str(tmp_path / "notes")], "--out", "not a model folder"),
        (["--out", str(tmp_path / "m"), "--json", str(tmp_path)], "--json", "is a folder"),
        (["--out", str(tmp_path / "m"), "--jobs", "0"], "--jobs 0", "-1 (all cores)"),
    ]
    for extra, *words in cases:
        res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "cnn1d", *extra, *FAST_CLI])
        one_error_line(res, *words)
        assert "fold 0" not in res.output  # nothing was trained
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_bad_model_option_value_is_one_line(runner, tmp_path, tiny):  # noqa: F811
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "cnn1d", "--out", str(tmp_path / "m"),
                              "--model-option", "dense_units=-4", *FAST_CLI])
    one_error_line(res, "--model-option", "dense_units=-4", "cannot be built")


# ------------------------------------------------------------------ item 11: Keras with the safe_mode fixes
def test_keras_is_pinned_past_the_safe_mode_bypasses():
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.version import Version

    import keras

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    keras_req = [Requirement(d) for d in deps if Requirement(d).name == "keras"]
    assert keras_req and "3.13.9" not in keras_req[0].specifier and "3.14" in keras_req[0].specifier
    assert Version(keras.__version__) in keras_req[0].specifier
