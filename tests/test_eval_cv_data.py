"""`eval --data` on a --cv folder scores the fold average predict uses, once per clip."""

import numpy as np
import pytest
import soundfile as sf

from animalsnd.cli import app
from animalsnd.ensemble import FoldAverage, load_model
from animalsnd.evaluate import evaluate, evaluate_noise
from conftest_train import CLASSES, SR, clip, tiny, trained_cv  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def new_data(tmp_path_factory):
    """Other recordings of the same classes: 3 per class, none of them a training clip."""
    root = tmp_path_factory.mktemp("new")
    for label in CLASSES:
        (root / label).mkdir()
        for i in range(10, 13):
            sf.write(root / label / f"{label}_{i}.wav", clip(label, i), SR, subtype="PCM_16")
    return root


def test_new_folder_scores_the_fold_average_once_per_clip(trained_cv, new_data):
    report = evaluate(trained_cv, data=new_data, jobs=1)
    assert not report.is_cv and report.averaged == 4 and len(report.runs) == 1
    m = report.metrics
    assert m["n"] == 9 and all(v["support"] == 3 for v in m["per_class"].values())
    model = load_model(trained_cv)
    assert isinstance(model, FoldAverage) and len(model.bundles) == 4
    s = report.summary()
    assert s["fold_models_averaged"] == 4 and s["n"] == 9 and "folds" not in s
    X = report.runs[0].data.X
    mean = np.mean([b.predict_proba(X) for b in model.bundles], axis=0)
    np.testing.assert_allclose(report.runs[0].result.proba, mean, atol=1e-6)


def test_own_cache_keeps_the_per_fold_scores(trained_cv, tiny):
    own = evaluate(trained_cv, data=tiny["cache"])
    assert own.is_cv and not own.averaged and [r.fold for r in own.runs] == [0, 1, 2, 3]
    assert own.metrics["n"] == 24  # each clip once, in its own held-out fold
    assert own.summary()["mean"] == evaluate(trained_cv).summary()["mean"]


def test_noise_on_the_fold_average(trained_cv, new_data, tmp_path):
    noise = tmp_path / "noise"
    noise.mkdir()
    sf.write(noise / "hiss.wav", (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32), SR)
    report = evaluate(trained_cv, data=new_data, jobs=1)
    s = evaluate_noise(report, noise, snrs=[10], jobs=1).summary()
    assert set(s) == {"clean", "10"} and "folds" not in s["10"]
    assert s["clean"]["accuracy"] == report.metrics["accuracy"]


def test_cli_names_the_fold_average(runner, trained_cv, new_data):
    res = runner.invoke(app, ["eval", str(trained_cv), "--data", str(new_data), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "mean of 4 fold models" in res.output and "(n=9)" in res.output
    assert "Per fold" not in res.output
    assert "share the training clips' recorders" not in res.output  # clips from elsewhere: no such caveat


def test_cli_warns_that_own_folds_share_the_recorders(runner, trained_cv):
    res = runner.invoke(app, ["eval", str(trained_cv), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Per fold" in res.output
    assert "share the training clips' recorders" in " ".join(res.output.split())

