"""Annotations (Raven tables, CSV, bad input), detection scores, the soundscape builder and
`eval MODEL RECORDINGS --annotations DIR`."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest_train import SR, tiny, trained  # noqa: F401  (fixtures)

from animalsnd.annotations import Event, check_events, read_annotations, table_stem
from animalsnd.cli import app
from animalsnd.detection import (
    ScoredFile,
    match_rows,
    needed_overlap,
    score_files,
    threshold_rows,
    window_targets,
)
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.predict import Detection

RAVEN_HEAD = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"


def _raven(path, rows, head=RAVEN_HEAD):
    path.write_text(head + "".join(f"{i}\tSpectrogram 1\t1\t{s}\t{e}\t0\t4000\t{lab}\n"
                                   for i, (s, e, lab) in enumerate(rows, 1)))
    return path


def test_table_stem():
    assert table_stem("a/x.Table.1.selections.txt") == "x"
    assert table_stem("x.table.2.selections.txt") == "x"
    assert table_stem("rec.01.txt") == "rec.01"


def test_read_annotations_raven_and_csv_with_bad_rows(tmp_path):
    _raven(tmp_path / "r1.Table.1.selections.txt", [(1, 2.5, "Cat"), (3, 3, "dog"), ("x", 4, "dog"), (5, 6, "")])
    (tmp_path / "r2.txt").write_text("Selection\tBegin Time (s)\tEnd\tlabel\n1\t0\t1\tcat\n")
    (tmp_path / "more.csv").write_text("file,start_s,end_s,label\nsub/r3.wav,0.5,1.5,dog\nr3,2,1,dog\n")
    (tmp_path / "bad.csv").write_text("name,begin,end\nr4,0,1\n")
    ann = read_annotations(tmp_path)
    assert [(e.start_s, e.end_s, e.label) for e in ann.events["r1"]] == [(1.0, 2.5, "Cat")]
    assert [(e.start_s, e.label) for e in ann.events["r3"]] == [(0.5, "dog")]
    assert "r2" not in ann.events
    text = "\n".join(ann.problems)
    assert "r1.Table.1.selections.txt:3: zero-length or reversed selection (3-3 s); skipped" in text
    assert "r1.Table.1.selections.txt:4: unreadable times" in text
    assert "r1.Table.1.selections.txt:5: empty label" in text
    assert "r2.txt: missing column(s) End Time (s)" in text
    assert "more.csv:3: zero-length or reversed selection" in text
    assert "bad.csv: missing column(s) file, start_s, end_s, label" in text
    assert len(ann.problems) == 6


def test_read_annotations_refuses_a_folder_without_tables(tmp_path):
    with pytest.raises(DatasetError, match="no selection tables"):
        read_annotations(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        read_annotations(tmp_path / "nope")


def test_check_events_past_end_unknown_overlap():
    evs = [Event("r", 0, 1, "CAT", "t:2"), Event("r", 0.5, 2, "cat", "t:3"), Event("r", 9, 12, "dog", "t:4"),
           Event("r", 11, 12, "dog", "t:5"), Event("r", 1, 2, "lion", "t:6"), Event("r", 3, 4, "background", "t:7")]
    problems = []
    kept = check_events(evs, duration_s=10.0, classes=["cat", "dog"], problems=problems)
    assert [(e.start_s, e.end_s, e.label) for e in kept] == [(0, 2, "cat"), (9, 10.0, "dog")]
    text = "\n".join(problems)
    assert "t:4: selection 9-12 s ends past the end of the recording (10.00 s); cut there" in text
    assert "t:5: selection 11-12 s starts past the end" in text
    assert "1 selection(s) labelled 'lion', not a class of the model" in text
    assert "t:3: overlaps t:2 (both 'cat'); merged into one event" in text
    assert len(problems) == 4


def test_window_targets_rule():
    assert needed_overlap(Event("r", 0, 4, "a")) == 1.0
    assert needed_overlap(Event("r", 0, 0.6, "a")) == pytest.approx(0.3)
    spans = np.array([[0, 3], [1.5, 4.5], [3, 6], [4.5, 7.5]])
    T = window_targets(spans, [Event("r", 2.5, 5.0, "b")], ["a", "b"])
    # overlaps: 0.5 (partial: ignored), 2.0, 2.0, 0.5 (ignored)
    assert T[:, 1].tolist() == [-1, 1, 1, -1]
    assert T[:, 0].tolist() == [0, 0, 0, 0]


def _file(spans, probs, events, rows=None):
    return ScoredFile("f.wav", 10.0, np.asarray(spans, float), np.asarray(probs, float), rows or [], events)


def test_match_rows_precision_recall_and_empty_recordings():
    ev = [Event("f", 0, 2, "cat"), Event("f", 5, 6, "dog")]
    rows = [Detection("f", 0, 3, "cat", 0.9), Detection("f", 1.5, 4.5, "cat", 0.8),  # second: 0.5 s < 1 s
            Detection("f", 5, 8, "cat", 0.7), Detection("f", 0, 3, "unknown", 0.2)]
    empty = _file([[0, 3]], [[0.5, 0.5]], [])
    res = match_rows([_file([], [], ev), empty], [rows, [Detection("g", 0, 3, "dog", 0.6)]], ["cat", "dog"])
    assert res["per_class"]["cat"] == pytest.approx(
        {"precision": 1 / 3, "recall": 1.0, "f1": 0.5, "rows": 3, "correct": 1, "events": 1, "found": 1})
    assert res["per_class"]["dog"]["recall"] == 0.0 and res["per_class"]["dog"]["rows"] == 1
    assert res["overall"]["precision"] == pytest.approx(1 / 4)
    assert res["overall"]["recall"] == pytest.approx(1 / 2)
    assert res["empty_recordings"] == 1 and res["empty_flagged"] == 1.0


def test_scores_with_arbitrary_thresholds_and_background_left_out():
    classes = ["background", "cat", "dog"]
    spans = [[0, 3], [3, 6], [6, 9], [9, 12]]
    probs = [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.1, 0.7]]
    f = _file(spans, probs, [Event("f", 0, 3, "cat"), Event("f", 9, 12, "dog")])
    s = score_files([f], classes, thresholds={"cat": 0.5, "dog": 0.65})
    assert list(s["per_class"]) == ["cat", "dog"]
    assert s["per_class"]["cat"]["ap"] == 1.0 and s["per_class"]["dog"]["ap"] == 1.0 and s["map"] == 1.0
    assert [d.start_s for d in threshold_rows(f, classes, {"cat": 0.5, "dog": 0.65})] == [0.0, 9.0]
    assert s["overall"]["f1"] == 1.0
    loose = score_files([f], classes, thresholds=0.0)
    assert loose["overall"]["rows"] == 3 and loose["overall"]["precision"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------- soundscapes + CLI
@pytest.fixture(scope="module")
def scapes(tiny, tmp_path_factory):  # noqa: F811
    from animalsnd.soundscape import SoundscapeSpec, build

    root = tmp_path_factory.mktemp("scapes")
    noise = root / "noise"
    noise.mkdir()
    rng = np.random.default_rng(3)
    sf.write(noise / "hiss.wav", (0.1 * rng.standard_normal(SR * 2)).astype(np.float32), SR)
    spec = SoundscapeSpec(fold=0, recordings=4, length_s=8.0, sr=SR, calls_per_minute=30, empty_share=0.25,
                          max_call_s=1.0, distractors_per_minute=0, seed=5)
    built = build(tiny["cache"], root / "out", noise_dir=noise, spec=spec)
    return {"root": root, "noise": noise, "spec": spec, "built": built, "out": root / "out"}


def test_soundscapes_are_deterministic_with_truth_tables(scapes, tiny):  # noqa: F811
    from animalsnd.soundscape import build, fold_clips

    built, out = scapes["built"], scapes["out"]
    assert len(built) == 4 and sum(1 for s in built if not s.calls) == 1
    animals, _ = fold_clips(tiny["cache"], 0)
    fold0 = {p.split("/")[-1] for ps in animals.values() for p in ps}
    for sc in built:
        y, sr = sf.read(sc.path)
        assert sr == SR and len(y) == 8 * SR
        ann = read_annotations(out).events[sc.name]
        assert [(e.start_s, e.label) for e in ann] == [(c.start_s, c.label) for c in sc.calls]
        assert all(c.source in fold0 for c in sc.calls)  # only held-out clips
        ends = [(c.start_s, c.end_s) for c in sc.calls]
        assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:]))  # calls never overlap
    again = build(tiny["cache"], scapes["root"] / "again", noise_dir=scapes["noise"], spec=scapes["spec"])
    for a, b in zip(built, again):
        assert a.path.read_bytes() == b.path.read_bytes()


def test_soundscape_module_cli(scapes, tiny, tmp_path, capsys):  # noqa: F811
    from animalsnd.soundscape import main

    assert main([str(tiny["cache"]), str(tmp_path / "s"), "--noise", str(scapes["noise"]), "--recordings", "2",
                 "--length", "4", "--sr", str(SR)]) == 0
    assert "2 soundscapes" in capsys.readouterr().out
    assert main([str(tiny["cache"]), str(tmp_path / "s"), "--noise", str(tmp_path / "none")]) == 1
    assert "noise folder does not exist" in capsys.readouterr().err
    from animalsnd.annotations import read_annotations

    classes = sorted({e.label for evs in read_annotations(tmp_path / "s").events.values() for e in evs})
    assert classes
    assert main([str(tiny["cache"]), str(tmp_path / "c"), "--noise", str(scapes["noise"]), "--recordings", "2",
                 "--length", "8", "--sr", str(SR), "--classes", classes[0], "--calls-per-minute", "30",
                 "--gap", "0.1", "--empty-share", "0", "--distractors-per-minute", "0"]) == 0
    labels = {e.label for evs in read_annotations(tmp_path / "c").events.values() for e in evs}
    assert labels == {classes[0]}  # a chorus of one class
    assert main([str(tiny["cache"]), str(tmp_path / "d"), "--noise", str(scapes["noise"]),
                 "--classes", "unicorn"]) == 1
    assert "no clip of: unicorn" in capsys.readouterr().err


def test_eval_annotations_cli(scapes, trained, runner, tmp_path):  # noqa: F811
    ann = tmp_path / "ann"
    ann.mkdir()
    for p in scapes["out"].glob("*.selections.txt"):
        (ann / p.name).write_text(p.read_text())
    _raven(ann / "ghost.Table.1.selections.txt", [(0, 1, "chirp")])
    _raven(ann / "soundscape_000.Table.2.selections.txt", [(7.5, 9.5, "chirp"), (2, 2, "burst")])
    out = tmp_path / "det.json"
    res = runner.invoke(app, ["eval", str(trained), str(scapes["out"]), "--annotations", str(ann), "--json", str(out),
                              "--plots", str(tmp_path / "plots"), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "annotations for 'ghost': no such recording" in res.output
    assert "zero-length or reversed selection (2-2 s)" in res.output
    assert "ends past the end of the recording (8.00 s); cut there" in res.output
    assert "window mAP" in res.output and "Detection against annotations" in res.output
    s = json.loads(out.read_text())
    assert s["recordings"] == 4 and 0.0 <= s["map"] <= 1.0
    assert set(s["per_class"]) <= {"chirp", "clicks", "burst"}
    assert s["empty_recordings"] == 1
    assert list((tmp_path / "plots").glob("pr_*.png"))


def test_eval_annotations_needs_both(trained, runner, tmp_path):  # noqa: F811
    res = runner.invoke(app, ["eval", str(trained), str(tmp_path)])
    assert res.exit_code == 1 and "RECORDINGS needs --annotations" in res.output
    res = runner.invoke(app, ["eval", str(trained), "--annotations", str(tmp_path)])
    assert res.exit_code == 1 and "--annotations needs the RECORDINGS" in res.output
    (tmp_path / "t.txt").write_text(RAVEN_HEAD)
    res = runner.invoke(app, ["eval", str(trained), str(tmp_path), "--annotations", str(tmp_path), "--jobs", "1"])
    assert res.exit_code == 1 and "no annotated recording to score" in res.output


def test_eval_annotations_window_and_hop(scapes, trained, runner, tmp_path):  # noqa: F811
    out = tmp_path / "det.json"
    res = runner.invoke(app, ["eval", str(trained), str(scapes["out"]), "--annotations", str(scapes["out"]),
                              "--window", "0.25", "--hop", "0.125", "--json", str(out), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    s = json.loads(out.read_text())
    assert s["window_s"] == 0.25 and s["hop_s"] == pytest.approx(0.128)
    res = runner.invoke(app, ["eval", str(trained), str(scapes["out"]), "--annotations", str(scapes["out"]),
                              "--window", "-1", "--jobs", "1"])
    assert res.exit_code == 1 and "--window -1.0 must be a positive" in res.output


def test_predicts_raven_output_reads_back(tmp_path):
    from animalsnd.export import raven_table

    rows = [Detection("x.wav", 0.0, 3.0, "cat", 0.9), Detection("x.wav", 3.0, 6.0, "dog", 0.7)]
    (tmp_path / "x.Table.1.selections.txt").write_text(raven_table(rows, low_hz=0, high_hz=8000))
    ann = read_annotations(tmp_path)
    assert ann.problems == []
    assert [(e.start_s, e.end_s, e.label) for e in ann.events["x"]] == [(0.0, 3.0, "cat"), (3.0, 6.0, "dog")]


def test_eval_annotations_with_and_without_calibration(scapes, trained, runner, tmp_path):  # noqa: F811
    import shutil

    from animalsnd.calibration import CALIBRATION_FILE, Calibration
    from animalsnd.predict import load_predictor

    model = tmp_path / "m"
    shutil.copytree(trained, model)
    classes = list(load_predictor(model).classes)
    # thresholds no window reaches: the calibrated output has no row at all
    cal = Calibration(temperature=2.0, thresholds={c: 1.01 for c in classes}, target_precision=0.9, n_clips=10)
    (model / CALIBRATION_FILE).write_text(json.dumps(cal.to_dict()))
    args = ["eval", str(model), str(scapes["out"]), "--annotations", str(scapes["out"]), "--jobs", "1",
            "--window", "0.5", "--hop", "0.25"]

    def run(*extra):
        out = tmp_path / f"det{len(extra)}{'-'.join(extra)}.json"
        res = runner.invoke(app, [*args, *extra, "--json", str(out)])
        assert res.exit_code == 0, res.output
        return res.output, json.loads(out.read_text())

    text, on = run()
    assert on["output"]["calibrated"] and on["output"]["temperature"] == 2.0
    assert on["overall"]["rows"] == 0 and "output: calibrated (temperature 2" in text
    text, off = run("--no-calibration")
    assert not off["output"]["calibrated"] and off["output"]["temperature"] == 1.0
    assert off["overall"]["rows"] > 0 and "every window's best class but background" in text
    # window AP ranks the probabilities: a temperature changes them, --no-calibration gives the raw ones
    assert off["map"] != on["map"] or off["per_class"] != on["per_class"]
    # --min-confidence replaces the calibration (thresholds and temperature), as in predict
    text, low = run("--min-confidence", "0.01")
    assert not low["output"]["calibrated"] and low["output"]["min_confidence"] == 0.01
    assert low["map"] == off["map"] and low["overall"] == off["overall"]
    assert "confidence >= 0.01" in text
    _, high = run("--min-confidence", "0.999")
    assert high["overall"]["rows"] == 0 and high["map"] == off["map"]
    res = runner.invoke(app, ["eval", str(model), "--no-calibration"])
    assert res.exit_code == 1 and "--no-calibration scores predict's output on long recordings" in res.output


def test_pool_windows_takes_the_overlapping_neighbours_only():
    from animalsnd.detection import pool_windows

    spans = np.array([[0, 2], [1, 3], [2, 4], [3, 5], [4, 6]], float)  # hop half a window
    p = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]])
    mx = pool_windows(spans, p, mode="max")
    np.testing.assert_allclose(mx[:, 0], [0.8, 0.8, 0.8, 0.6, 0.6])
    np.testing.assert_allclose(mx[:, 1], [0.9, 0.9, 0.8, 0.8, 0.8])
    mean = pool_windows(spans, p, mode="mean")
    np.testing.assert_allclose(mean[:, 0], [0.45, 0.4, 0.43333333, 0.36666667, 0.4])
    # windows that do not overlap keep their own scores; a wider overlap rule reaches two on each side
    hop3 = np.array([[0, 3], [3, 6], [6, 9]], float)
    np.testing.assert_array_equal(pool_windows(hop3, p[:3], mode="max"), p[:3])
    dense = np.array([[0, 3], [1, 4], [2, 5], [3, 6]], float)
    np.testing.assert_allclose(pool_windows(dense, p[:4], mode="max", min_overlap=0.3)[0], [0.8, 0.9])
    np.testing.assert_allclose(pool_windows(dense, p[:4], mode="max")[0], [0.8, 0.9])
    np.testing.assert_allclose(pool_windows(dense, p[:4], mode="max")[3], [0.3, 0.8])  # [1,4] overlaps by 1 s < 1.5
    assert pool_windows(spans, p, mode="none") is p
    with pytest.raises(ConfigError, match="pooling 'median' must be one of none, max, mean"):
        pool_windows(spans, p, mode="median")


def test_eval_annotations_shifted_grid_equals_the_shorter_hop(scapes, trained, runner, tmp_path):  # noqa: F811
    import shutil

    from animalsnd.detection import WindowScores, evaluate_detection
    from animalsnd.predict import PredictOptions

    out = scapes["out"]
    # frame-aligned (32 ms frames): a window of 16 frames, a hop of 8, or a hop of 16 plus a grid 8 frames later
    hop = evaluate_detection(trained, out, out, options=PredictOptions(window_s=0.512, hop_s=0.256))
    shift = evaluate_detection(trained, out, out, options=PredictOptions(window_s=0.512, hop_s=0.512),
                               scores=WindowScores(shifts_s=(0.256,)))
    for a, b in zip(hop.files, shift.files):
        n = min(len(a.spans_s), len(b.spans_s))
        assert n >= len(a.spans_s) - 2
        np.testing.assert_allclose(a.spans_s[:n], b.spans_s[:n], atol=1e-6)
        np.testing.assert_allclose(a.probs[:n], b.probs[:n], atol=0.02)
    assert shift.summary()["output"]["shifts_s"] == [0.256] and shift.hop_s == pytest.approx(0.256)
    recs = tmp_path / "recs"
    shutil.copytree(out, recs)
    (recs / "broken.wav").write_bytes(b"RIFF0000WAVEfmt " + bytes(40))
    _raven(recs / "broken.Table.1.selections.txt", [(0, 1, "chirp")])
    js = tmp_path / "pooled.json"
    res = runner.invoke(app, ["eval", str(trained), str(recs), "--annotations", str(recs), "--jobs", "1", "--window",
                              "0.512", "--hop", "0.512", "--shift", "0.256", "--pool", "max", "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert "broken.wav" in res.output and json.loads(js.read_text())["recordings"] == 4
    pooled = json.loads(js.read_text())
    assert pooled["output"]["pooling"] == "max" and pooled["map"] != shift.summary()["map"]
    base = ["eval", str(trained), str(out), "--annotations", str(out), "--jobs", "1"]
    res = runner.invoke(app, [*base, "--pool", "median"])
    assert res.exit_code == 1 and "pooling 'median' must be one of none, max, mean" in res.output
    res = runner.invoke(app, [*base, "--shift", "-1"])
    assert res.exit_code == 1 and "window shifts (-1.0,) must be positive seconds" in res.output
    res = runner.invoke(app, ["eval", str(trained), "--pool", "max"])
    assert res.exit_code == 1 and "--pool scores predict's output on long recordings" in res.output


def test_synthetic_noise_is_seeded_varied_and_at_its_level(tmp_path):
    from animalsnd.soundscape import synthetic_noise, write_synthetic_noise

    a = synthetic_noise(np.random.default_rng(1), 32000, sr=32000)
    np.testing.assert_array_equal(a, synthetic_noise(np.random.default_rng(1), 32000, sr=32000))
    assert np.sqrt(np.mean(a.astype(float) ** 2)) == pytest.approx(0.05, rel=1e-3)
    # the colours differ from draw to draw: the share of energy below 1 kHz spreads widely
    def low_share(y):
        power = np.abs(np.fft.rfft(y)) ** 2
        return power[np.fft.rfftfreq(y.size, 1 / 32000) < 1000].sum() / power.sum()
    shares = [low_share(synthetic_noise(np.random.default_rng(i), 32000, sr=32000)) for i in range(12)]
    assert max(shares) - min(shares) > 0.3
    paths = write_synthetic_noise(tmp_path, count=3, length_s=0.5, sr=8000)
    y, sr = sf.read(paths[2])
    assert [p.name for p in paths] == ["synth_000.wav", "synth_001.wav", "synth_002.wav"]
    assert sr == 8000 and y.shape == (4000,) and np.all(np.isfinite(y))


def test_synthetic_gusts_are_low_gusty_and_a_share_of_the_written_noise(tmp_path):
    from animalsnd.soundscape import synthetic_gusts, synthetic_noise, write_synthetic_noise

    sr = 16000
    y = synthetic_gusts(np.random.default_rng(3), 6 * sr, sr=sr)
    np.testing.assert_array_equal(y, synthetic_gusts(np.random.default_rng(3), 6 * sr, sr=sr))
    assert np.sqrt(np.mean(y.astype(float) ** 2)) == pytest.approx(0.05, rel=1e-3)
    power = np.abs(np.fft.rfft(y)) ** 2
    assert power[np.fft.rfftfreq(y.size, 1 / sr) < 500].sum() / power.sum() > 0.9  # rumble
    level = np.sqrt(np.convolve(y.astype(float) ** 2, np.ones(sr // 10) / (sr // 10), "valid"))
    assert 20 * np.log10(level.max() / np.percentile(level, 5)) > 10  # gusts and lulls
    paths = write_synthetic_noise(tmp_path, count=6, length_s=0.5, sr=8000, gusts=1 / 3)
    assert [p.name for p in paths] == ["synth_000.wav", "synth_001.wav", "gust_002.wav",
                                       "synth_003.wav", "synth_004.wav", "gust_005.wav"]
    # without gusts the files are what they always were
    plain = write_synthetic_noise(tmp_path / "plain", count=2, length_s=0.5, sr=8000)
    ref = synthetic_noise(np.random.default_rng([0, 1]), 4000, sr=8000)
    assert np.max(np.abs(sf.read(plain[1])[0] - ref)) < 1e-4
