"""prepare RECORDINGS --annotations DIR: clips cut around selections, background clips, bad input,
and predict's Raven output read back as annotations."""

import json

import numpy as np
import pytest
import soundfile as sf
from test_cli_predict import fake_model  # noqa: F401  (fixture)

from animalsnd.annotated import BG_CLIP_S, background_clips, call_clips, cut_annotated
from animalsnd.annotations import Event, read_annotations
from animalsnd.cli import app
from animalsnd.errors import DatasetError

HEAD = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"
SR = 8000


def _table(path, rows, head=HEAD):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + "".join(f"{i}\tSpectrogram 1\t1\t{s}\t{e}\t0\t4000\t{lab}\n"
                                   for i, (s, e, lab) in enumerate(rows, 1)))
    return path


def _recording(path, seconds, calls):
    """Quiet noise with a tone at (start, end, freq) for each call."""
    rng = np.random.default_rng(0)
    y = 0.005 * rng.standard_normal(int(seconds * SR)).astype(np.float32)
    for s, e, f in calls:
        t = np.arange(int((e - s) * SR)) / SR
        y[int(s * SR): int(s * SR) + t.size] += 0.3 * np.sin(2 * np.pi * f * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, SR)
    return path


def _ev(s, e, lab="cat"):
    return Event("x", s, e, lab, f"x:{s}")


def test_call_clip_rules():
    # context 0.5 s each side; a short call widened to 1 s; the recording's edges hold
    assert [(c.start_s, c.end_s) for c in call_clips([_ev(2, 3)], 10)] == [(1.5, 3.5)]
    assert [(c.start_s, c.end_s) for c in call_clips([_ev(5, 5.1)], 10)] == [(4.5, 5.6)]
    assert [(c.start_s, c.end_s) for c in call_clips([_ev(0, 0.1)], 10)] == [(0.0, 1.0)]
    assert [(c.start_s, c.end_s) for c in call_clips([_ev(9.9, 10)], 10)] == [(9.0, 10.0)]
    # the context stops at another label's selection
    clips = call_clips([_ev(2, 3, "cat"), _ev(3.2, 4, "dog")], 10)
    assert [(c.label, c.start_s, c.end_s) for c in clips] == [("cat", 1.5, 3.2), ("dog", 3.0, 4.5)]


def test_background_clip_rules():
    clips = background_clips("x", [_ev(20, 21)], 60)
    # stretches 0-18 and 23-60: clips of 5 s, one every 15 s, 2 s away from the call
    starts = [c.start_s for c in clips]
    assert starts == [0.0, 23.0, 38.0, 53.0]
    assert all(c.end_s - c.start_s == BG_CLIP_S and c.label == "background" for c in clips)
    assert all(c.end_s <= 18 or c.start_s >= 23 for c in clips)
    assert [c.start_s for c in background_clips("x", [], 12)] == [0.0]


def test_cut_annotated_with_bad_input(tmp_path):
    rec = tmp_path / "rec"
    _recording(rec / "a.wav", 40, [(3, 4, 600), (10, 11.5, 1500), (30, 31, 600)])
    _recording(rec / "sub" / "b.wav", 30, [(5, 6, 1500)])
    ann = tmp_path / "ann"
    _table(ann / "a.Table.1.selections.txt", [(3, 4, "cat"), (10, 11.5, "dog"), (30, 31, "Cat"),
                                              (12, 12, "dog"), (38, 45, "cat"), (50, 51, "cat")])
    (ann / "more.csv").write_text("file,start_s,end_s,label\nsub/b.wav,5,6,dog\nb,5.5,6.5,cat\n"
                                  "ghost.wav,1,2,cat\n")
    _table(ann / "c.Table.1.selections.txt", [(1, 2, "cat")], head="Selection\tBegin\tEnd\tWhat\n")
    res = cut_annotated(rec, ann, tmp_path / "cache")
    text = "\n".join(res.problems)
    assert "zero-length" in text and "starts past the end" in text and "ends past the end" in text
    assert "'ghost': no recording" in text
    assert "c.Table.1.selections.txt: missing column(s)" in text
    assert "overlaps" in text and "different labels" in text
    assert len(res.problems) == 6, res.problems
    calls = sorted((c.stem, c.label, c.start_s, c.end_s) for c in res.clips if c.label != "background")
    assert calls == [("a", "cat", 2.5, 4.5), ("a", "cat", 29.5, 31.5), ("a", "cat", 37.5, 40.0),
                     ("a", "dog", 9.5, 12.0)]
    files = sorted(p.relative_to(res.folder).as_posix() for p in res.folder.rglob("*.wav"))
    assert "cat/a_0002500-0004500.wav" in files and any(f.startswith("background/b_") for f in files)
    y, sr = sf.read(res.folder / "cat" / "a_0002500-0004500.wav")
    assert sr == SR and len(y) == 2 * SR
    only_ghost = tmp_path / "ann2"
    _table(only_ghost / "ghost.Table.1.selections.txt", [(1, 2, "cat")])
    with pytest.raises(DatasetError, match="no clip could be cut"):
        cut_annotated(rec, only_ghost, tmp_path / "cache2")


def test_prepare_annotations_cli(runner, tmp_path):
    rec = tmp_path / "rec"
    ann = tmp_path / "ann"
    for k in range(4):
        calls = [(3 + 20 * i, 4 + 20 * i, 600 if i % 2 else 1500) for i in range(3)]
        _recording(rec / f"r{k}.wav", 65, calls)
        _table(ann / f"r{k}.Table.1.selections.txt",
               [(s, e, "low" if f == 600 else "high") for s, e, f in calls])
    _table(ann / "missing.Table.1.selections.txt", [(1, 2, "low")])
    cache = tmp_path / "cache"
    res = runner.invoke(app, ["prepare", str(rec), "--annotations", str(ann), "--cache", str(cache),
                              "--sr", "8000", "--n-mels", "16", "--n-fft", "256", "--hop-length", "128",
                              "--frames", "32", "--folds", "2", "--jobs", "1", "--cutoff", "none"])
    assert res.exit_code == 0, res.output
    assert "'missing': no recording" in res.output
    assert "cut " in res.output and "background" in res.output
    import csv

    rows = list(csv.DictReader(open(cache / "manifest.csv")))
    assert {r["label"] for r in rows} == {"low", "high", "background"}
    data_dir = json.loads((cache / "config.json").read_text()).get("data_dir")
    assert all((cache / "clips" / r["relpath"]).is_file() for r in rows), data_dir


def test_predict_raven_output_reads_back_as_its_detections(runner, tmp_path, fake_model):  # noqa: F811
    rec = _recording(tmp_path / "in" / "field.wav", 8, [(1, 2.5, 700), (4, 5, 900)])
    res = runner.invoke(app, ["predict", str(fake_model), str(rec), "--format", "raven",
                              "--out", str(tmp_path / "raven")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["predict", str(fake_model), str(rec), "--format", "json",
                              "--out", str(tmp_path / "det.json")])
    assert res.exit_code == 0, res.output
    dets = json.loads((tmp_path / "det.json").read_text())
    assert dets
    ann = read_annotations(tmp_path / "raven")
    assert ann.problems == []
    got = [(e.label, e.start_s, e.end_s) for e in ann.events["field"]]
    want = sorted((d["label"], float(d["start_s"]), float(d["end_s"])) for d in dets)
    got = sorted(got)
    assert [g[0] for g in got] == [w[0] for w in want]
    assert np.allclose([g[1:] for g in got], [w[1:] for w in want], atol=1e-3)
    # and they cut as clips of the same labels
    clips = cut_annotated(tmp_path / "in", tmp_path / "raven", tmp_path / "cache")
    assert {c.label for c in clips.clips} - {"background"} == {w[0] for w in want}
