"""eval --noise: scores per SNR next to the clean score, for one bundle and a CV folder."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest_train import SR, tiny, trained, trained_cv  # noqa: F401  (fixtures)

from animalsnd.cli import app
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.evaluate import evaluate, evaluate_noise

KEYS = {"accuracy", "macro_f1", "weighted_f1"}


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    d = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    (d / "sub").mkdir()
    sf.write(d / "hiss.wav", (0.1 * rng.standard_normal(SR)).astype(np.float32), SR)
    sf.write(d / "sub" / "rumble.wav", np.cumsum(rng.standard_normal(SR // 2)).astype(np.float32) / 100, SR)
    return d


def test_single_bundle_scores_per_snr(trained, noise):
    report = evaluate(trained)
    res = evaluate_noise(report, noise, snrs=[20, 0], jobs=1)
    s = res.summary()
    assert list(s) == ["clean", "20", "0"]
    for entry in s.values():
        assert set(entry) == KEYS and all(0 <= entry[k] <= 1 for k in KEYS)
    assert s["clean"]["accuracy"] == pytest.approx(report.metrics["accuracy"])
    assert res.n_noises == 2  # found recursively
    # fixed seed: the same noise, the same scores
    assert evaluate_noise(report, noise, snrs=[20, 0], jobs=2).summary() == s


def test_cv_folder_gives_mean_and_std_per_snr(trained_cv, noise):
    s = evaluate_noise(evaluate(trained_cv), noise, snrs=[10], jobs=1).summary()
    assert list(s) == ["clean", "10"]
    for entry in s.values():
        assert set(entry) == KEYS | {"std", "folds"}
        assert len(entry["folds"]) == 4 and set(entry["std"]) == KEYS
        assert entry["accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in entry["folds"]]))


def test_library_rejects_bad_options(trained, noise, tmp_path):
    report = evaluate(trained)
    with pytest.raises(ConfigError, match="needs at least one value"):
        evaluate_noise(report, noise, snrs=[])
    with pytest.raises(ConfigError, match="--snr lists 10 dB more than once"):
        evaluate_noise(report, noise, snrs=[10, 10.0])
    with pytest.raises(DatasetError, match="no audio files in the noise folder"):
        evaluate_noise(report, tmp_path, snrs=[10])


def test_cli_table_json_and_plot(runner, trained, noise, tmp_path):
    js, plots = tmp_path / "e.json", tmp_path / "plots"
    res = runner.invoke(app, ["eval", str(trained), "--noise", str(noise), "--snr", "20,5,0",
                              "--json", str(js), "--plots", str(plots), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Noise robustness" in res.output and "20 dB" in res.output and "clean" in res.output
    s = json.loads(js.read_text())
    assert list(s["snr"]) == ["clean", "20", "5", "0"]
    assert set(s["snr"]["5"]) == KEYS
    assert s["snr"]["clean"]["accuracy"] == pytest.approx(s["accuracy"])
    assert (plots / "snr.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_cv_folder_shows_mean_and_std(runner, trained_cv, noise, tmp_path):
    js = tmp_path / "e.json"
    res = runner.invoke(app, ["eval", str(trained_cv), "--noise", str(noise), "--snr", "0",
                              "--json", str(js), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "Noise robustness" in res.output and " ± " in res.output.split("Noise robustness")[1]
    s = json.loads(js.read_text())["snr"]
    assert list(s) == ["clean", "0"] and len(s["0"]["folds"]) == 4


def _error_line(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    return lines[0]


def test_cli_bad_input_is_one_line(runner, trained, noise, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["eval", str(trained), "--noise", str(empty)])
    assert res.exit_code == 1
    assert _error_line(res) == f"Error: {empty}: no audio files in the noise folder (expected *.wav|flac|ogg|mp3)"

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "wind.wav").write_text("not audio\n" * 50)
    res = runner.invoke(app, ["eval", str(trained), "--noise", str(bad), "--jobs", "1"])
    assert res.exit_code == 1
    assert _error_line(res).startswith(f"Error: {bad}: none of the 1 noise file(s) could be used (first: wind.wav:")

    res = runner.invoke(app, ["eval", str(trained), "--noise", str(tmp_path / "missing")])
    assert res.exit_code == 1
    assert _error_line(res) == f"Error: {tmp_path / 'missing'}: noise folder does not exist"

    res = runner.invoke(app, ["eval", str(trained), "--noise", str(noise), "--snr", "10,abc"])
    assert res.exit_code == 1
    assert _error_line(res) == "Error: SNR list '10,abc': 'abc' is not a number"

    res = runner.invoke(app, ["eval", str(trained), "--snr", "10"])
    assert res.exit_code == 1
    assert _error_line(res) == "Error: --snr needs --noise NOISE_DIR"
