import csv
import io
import json

import numpy as np
import pytest
import soundfile as sf

import animalsnd.predict.run as predict_mod
from animalsnd.cli import app
from animalsnd.config import FeatureConfig
from animalsnd.families.logmel_runtime import Predictor, _litert_available
from audiogen import make_dataset

TINY = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)  # 0.512 s windows


class LoudnessBundle:
    """Label 'loud' when a window's features vary a lot over time, else 'quiet'."""

    classes = ["loud", "quiet"]

    def __init__(self, path):
        self.cfg, self.path, self.model = TINY, path, object()

    def predict_proba(self, X, *, batch_size=64):
        p = 1 / (1 + np.exp(-(X.std(axis=(1, 2)) - 0.5) * 8))
        return np.stack([p, 1 - p], axis=1).astype(np.float32)


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A model folder whose loader returns LoudnessBundle (no TensorFlow)."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    monkeypatch.setattr(predict_mod, "load_predictor",
                        lambda d, **kw: Predictor([LoudnessBundle(d)], runtime="keras"))
    return model_dir


def _tones(path, freqs, *, sr=8000, seconds=1.0):
    t = np.arange(int(sr * seconds)) / sr
    y = np.concatenate([0.3 * np.sin(2 * np.pi * f * t) for f in freqs]).astype(np.float32)
    y += 0.01 * np.random.default_rng(0).standard_normal(y.size).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr)
    return path


def test_missing_bundle_is_one_line(runner, tmp_path):
    wav = _tones(tmp_path / "a.wav", [300])
    res = runner.invoke(app, ["predict", str(tmp_path / "nope"), str(wav)])
    assert res.exit_code == 1
    assert res.output.strip() == f"Error: {tmp_path / 'nope'}: model folder does not exist"
    res = runner.invoke(app, ["predict", str(tmp_path), str(wav)])
    assert res.exit_code == 1
    assert res.output.strip().startswith(f"Error: {tmp_path}: not a model bundle")
    assert "Traceback" not in res.output


def test_unicode_paths_skipped_files_and_summary(runner, tmp_path, fake_model):
    d = tmp_path / "fïeld rec"
    good = _tones(d / "nacht ü 1.wav", [300, 900, 300])
    _tones(d / "zwei.flac", [500])
    (d / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    (d / "phone.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(100))  # listed, then refused with a hint
    (d / "notes.txt").write_text("not audio")
    res = runner.invoke(app, ["predict", str(fake_model), str(d), str(tmp_path / "gone.wav")])
    assert res.exit_code == 0, res.output
    assert f"Warning: skipped {d / 'broken.wav'}: not a readable audio file" in res.stderr
    assert (f"Warning: skipped {d / 'phone.m4a'}: .m4a audio cannot be decoded here; convert it to WAV or FLAC"
            in res.stderr)
    assert f"Warning: skipped {tmp_path / 'gone.wav'}: does not exist" in res.stderr
    assert "notes.txt" not in res.output
    summary = res.stdout.strip().splitlines()[-1]
    assert summary.startswith("2 file(s), 4.0 s of audio, ")
    assert summary.endswith(f"; skipped 3: {d / 'broken.wav'}, {d / 'phone.m4a'}, {tmp_path / 'gone.wav'}")
    assert "Predictions" in res.stdout
    res = runner.invoke(app, ["predict", str(fake_model), str(good), "--format", "csv"])
    assert res.exit_code == 0
    assert {r["file"] for r in csv.DictReader(io.StringIO(res.stdout))} == {str(good)}


def test_nothing_processed_exits_1(runner, tmp_path, fake_model):
    (tmp_path / "x.wav").write_text("nope")
    res = runner.invoke(app, ["predict", str(fake_model), str(tmp_path / "x.wav")])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == "Error: nothing could be processed: all 1 input(s) skipped"


def test_csv_to_stdout_is_clean(runner, tmp_path, fake_model):
    wav = _tones(tmp_path / "a.wav", [300, 300])  # 2 s: windows at 0, 0.256, ... s
    res = runner.invoke(app, ["predict", str(fake_model), str(wav), "--format", "csv", "--top-k", "2"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 7 and rows[0]["start_s"] == "0.0" and rows[-1]["end_s"] == "2.0"
    assert list(rows[0]) == ["file", "start_s", "end_s", "label", "confidence",
                             "label_1", "prob_1", "label_2", "prob_2"]
    assert "real time" in res.stderr  # the summary goes to stderr when stdout carries data


def test_json_merge_min_confidence_and_out_suffix(runner, tmp_path, fake_model):
    wav = _tones(tmp_path / "a.wav", [300, 300])
    out = tmp_path / "res" / "p.json"
    res = runner.invoke(app, ["predict", str(fake_model), str(wav), "--out", str(out), "--merge",
                              "--window", "0.5", "--hop", "0.25"])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())
    assert len(rows) == 1 and rows[0]["start_s"] == 0.0 and rows[0]["end_s"] == 2.0  # one merged run
    res = runner.invoke(app, ["predict", str(fake_model), str(wav), "--out", str(out), "--min-confidence", "1.0"])
    assert res.exit_code == 0 and json.loads(out.read_text()) == []


def test_raven_and_audacity_folders(runner, tmp_path, fake_model):
    a = _tones(tmp_path / "in" / "a b.wav", [300])
    b = _tones(tmp_path / "in" / "sub" / "a b.flac", [300, 300])
    res = runner.invoke(app, ["predict", str(fake_model), str(tmp_path / "in"), "-r", "--format", "raven",
                              "--out", str(tmp_path / "raven")])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "raven").iterdir())
    assert names == ["a b-2.Table.1.selections.txt", "a b.Table.1.selections.txt"]
    first = (tmp_path / "raven" / "a b.Table.1.selections.txt").read_text().splitlines()
    assert first[0].split("\t")[-2:] == ["label", "confidence"] and len(first) == 1 + 3
    assert first[1].split("\t")[5:7] == ["0.0", "4000.0"]
    res = runner.invoke(app, ["predict", str(fake_model), str(a), str(b), "--format", "audacity",
                              "--out", str(tmp_path / "aud")])
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "aud" / "a b-2.txt").read_text().splitlines()) == 7


@pytest.mark.parametrize("args, message", [
    (["--format", "raven"], "Error: --format raven writes one file per recording; give --out FOLDER"),
    (["--format", "xml"], "Error: --format 'xml' must be one of table, csv, json, raven, audacity"),
    (["--out", "x.txt"], "Error: --out x.txt: add --format csv|json|raven|audacity"),
    (["--top-k", "0"], "Error: --top-k 0 must be a positive integer"),
    (["--window", "9"], "Error: --window 9.0 s is longer than the model's input (0.51 s); "
                        "the rest of each window would be ignored"),
])
def test_bad_options_are_one_line(runner, tmp_path, fake_model, args, message):
    wav = _tones(tmp_path / "a.wav", [300])
    res = runner.invoke(app, ["predict", str(fake_model), str(wav), *args])
    assert res.exit_code == 1
    assert res.output.strip() == message


# ------------------------------------------------------------------ a real trained bundle
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two fold bundles of a briefly trained cnn1d-enhanced, each with model.tflite.

    Accuracy is not the point here (tests/test_predict.py checks detections
    with a transparent model); the plumbing of real bundles is.
    """
    from animalsnd.cache import prepare
    from animalsnd.train import TrainConfig, train

    root = tmp_path_factory.mktemp("trained")
    data = make_dataset(root / "data", {"low": 300.0, "high": 2000.0}, n=6, sr=8000)
    prepare(data, root / "cache", cfg=TINY, folds=2, jobs=1)
    config = TrainConfig.for_model("cnn1d-enhanced", epochs=3, early_stopping=False, batch_size=4,
                                   spec_augment=False)
    train(root / "cache", root / "cv", config=config, cv=True, export_tflite=True)
    return root


def _probs(rows):
    return np.array([[float(r["prob_1"]) if r["label_1"] == "low" else float(r["prob_2"])] for r in rows])


def test_real_bundles_keras_tflite_and_fold_mean(runner, trained, tmp_path):
    wav = _tones(tmp_path / "mixed ü.wav", [300, 300, 2000, 2000])
    results = {}
    for model, runtime in [("cv/fold-0", "keras"), ("cv/fold-0", "tflite"), ("cv/fold-1", "keras"),
                           ("cv", "auto"), ("cv", "keras")]:
        out = tmp_path / f"{model.replace('/', '_')}-{runtime}.csv"
        res = runner.invoke(app, ["predict", str(trained / model), str(wav), "--runtime", runtime,
                                  "--hop", "0.5", "--top-k", "2", "--out", str(out)])
        assert res.exit_code == 0, res.output
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        # hop rounds to 0.496 s; the last window (32 ms of audio in 0.512 s) is mostly padding: dropped
        assert len(rows) == 8 and {r["file"] for r in rows} == {str(wav)}
        results[(model, runtime)] = _probs(rows)
    np.testing.assert_allclose(results[("cv/fold-0", "keras")], results[("cv/fold-0", "tflite")], atol=2e-4)
    mean = (results[("cv/fold-0", "keras")] + results[("cv/fold-1", "keras")]) / 2
    np.testing.assert_allclose(results[("cv", "keras")], mean, atol=2e-4)  # folds are averaged
    np.testing.assert_allclose(results[("cv", "auto")], mean, atol=2e-4)
    pred = predict_mod.load_predictor(trained / "cv")
    expected = "tflite" if _litert_available() else "keras"  # LiteRT is optional
    assert len(pred.bundles) == 2 and pred.runtime == expected


def test_real_bundle_jobs_keep_input_order(runner, trained, tmp_path):
    files = [_tones(tmp_path / f"{name}.wav", [f]) for name, f in [("z", 300), ("a", 2000), ("m", 300)]]
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict", str(trained / "cv" / "fold-0"), *map(str, files), "--jobs", "2",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert [r["file"] for r in rows][::3] == [str(f) for f in files]  # 3 windows per 1 s file


def test_predict_on_dask_equals_local(runner, trained, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    files = [_tones(tmp_path / f"{name}.wav", [f, 2000]) for name, f in [("b", 300), ("a", 2000)]]
    (tmp_path / "broken.wav").write_text("not audio")
    args = ["predict", str(trained / "cv" / "fold-0"), *map(str, files), str(tmp_path / "broken.wav"),
            "--runtime", "keras", "--format", "csv"]
    local = runner.invoke(app, [*args, "--out", str(tmp_path / "local.csv")])
    assert local.exit_code == 0, local.output
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        res = runner.invoke(app, [*args, "--out", str(tmp_path / "dask.csv"), "--backend", "dask",
                                  "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 0, res.output
    assert "skipped 1" in res.output and "broken.wav" in res.output
    a = list(csv.DictReader((tmp_path / "local.csv").open()))
    b = list(csv.DictReader((tmp_path / "dask.csv").open()))
    assert [r["file"] for r in a] == [r["file"] for r in b] and len(a) > 2
    assert [r["label"] for r in a] == [r["label"] for r in b]
    np.testing.assert_allclose([float(r["confidence"]) for r in a], [float(r["confidence"]) for r in b],
                               atol=1e-6)
