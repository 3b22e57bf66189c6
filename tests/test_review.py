"""animalsnd.review: planning, clips, the page's files, the import, and every bad input (no browser)."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from animalsnd.cli import app
from animalsnd.errors import DatasetError
from animalsnd.review import build_review
from animalsnd.review.clips import spectrogram_rgb
from animalsnd.review.importer import import_decisions, wilson
from animalsnd.review.page import DECISION_COLUMNS
from animalsnd.review.plan import plan_review

SR = 8000


def recording(path, seconds=60.0, seed=0):
    """Noise with a 1 kHz tone in every odd 5-s stretch."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = 0.01 * rng.standard_normal(n)
    t = np.arange(n) / SR
    y += 0.3 * np.sin(2 * np.pi * 1000 * t) * ((t // 5) % 2 == 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR)
    return path


def predictions(path, rows, *, header=("file", "start_s", "end_s", "label", "confidence")):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def field(tmp_path, monkeypatch):
    """``rec/a.wav`` (60 s) and ``rec/b.wav`` (30 s), and predictions naming them as ``rec/...``."""
    monkeypatch.chdir(tmp_path)
    recording(tmp_path / "rec" / "a.wav")
    recording(tmp_path / "rec" / "b.wav", seconds=30, seed=1)
    rows = [("rec/a.wav", s, s + 5, "tone" if s % 10 else "noise", round(0.5 + s / 200, 3)) for s in range(0, 55, 5)]
    rows += [("rec/b.wav", 5.0, 10.0, "tone", 0.91), ("rec/b.wav", 15.0, 20.0, "tone", 0.42)]
    return predictions(tmp_path / "pred.csv", rows)


def export(review_dir, decide):
    """The decisions CSV as the page exports it: every card, ``decide(card) -> (decision, label)``."""
    m = json.loads((review_dir / "review.json").read_text())
    path = review_dir / "decisions.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(DECISION_COLUMNS)
        for c in m["cards"]:
            d, to = decide(c)
            w.writerow([m["run"], c["id"], c["file"], c["start_s"], c["end_s"], c["label"], c["confidence"],
                        c["sample"], d, to])
    return path


# ------------------------------------------------------------------ planning and sampling
def test_top_and_random_per_class_seeded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recording(tmp_path / "long.wav", seconds=400)
    rows = [("long.wav", s, s + 4, "bird" if s % 8 else "frog", round((s * 37 % 100) / 100, 2)) for s in range(0, 392, 4)]
    pred = predictions(tmp_path / "p.csv", rows)
    plan = plan_review(pred, top=3, random=4, seed=1)
    by = {lab: [c for c in plan.cards if c.label == lab] for lab in ("bird", "frog")}
    for lab, cards in by.items():
        assert [c.sample for c in cards].count("top") == 3 and [c.sample for c in cards].count("random") == 4
        confs = sorted((r[4] for r in rows if r[3] == lab), reverse=True)
        assert [c.confidence for c in cards if c.sample == "top"] == confs[:3]
        assert min(c.confidence for c in cards if c.sample == "top") >= max(
            c.confidence for c in cards if c.sample == "random")
    again = plan_review(pred, top=3, random=4, seed=1)
    other = plan_review(pred, top=3, random=4, seed=2)
    assert [c.id for c in again.cards] == [c.id for c in plan.cards] != [c.id for c in other.cards]
    assert plan.per_class == {"bird": 49, "frog": 49}
    assert len(plan_review(pred, every=True).cards) == 98


def test_json_predictions_and_audio_root_after_a_move(tmp_path, monkeypatch):
    """Recordings predicted as ``old/place/x.wav`` are found under ``--audio NEW`` by their trailing parts."""
    monkeypatch.chdir(tmp_path)
    recording(tmp_path / "new" / "place" / "x.wav", seconds=20)
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps([{"file": "/old/place/x.wav", "start_s": 5.0, "end_s": 10.0, "label": "tone",
                                 "confidence": 0.9, "label_1": "tone", "prob_1": 0.9, "label_2": "noise",
                                 "prob_2": 0.1}]))
    plan = plan_review(pred, audio=tmp_path / "new")
    assert plan.cards[0].path == tmp_path / "new" / "place" / "x.wav"
    assert plan.cards[0].top == (("tone", 0.9), ("noise", 0.1)) and plan.classes == ["noise", "tone"]


def test_audio_root_mismatch_is_one_line(runner, field, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    res = runner.invoke(app, ["review", str(field), "--audio", "elsewhere", "--out", "r"])
    assert res.exit_code == 1
    assert res.output.strip() == (f"Error: {field}: none of its 2 recording(s) found under --audio elsewhere "
                                  "(first: rec/a.wav); is that the folder that holds them now?")
    assert not (tmp_path / "r").exists()


def test_bad_rows_are_one_line_each_and_the_rest_is_reviewed(runner, field, tmp_path):
    with field.open("a", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rec/a.wav", 5, 10, "tone", 0.55])  # a duplicate of line 3
        w.writerow(["rec/b.wav", 28, 33, "tone", 0.8])  # past the end of b.wav (30 s)
        w.writerow(["rec/b.wav", 40, 45, "tone", 0.8])
        w.writerow(["rec/gone.wav", 0, 5, "tone", 0.8])
        w.writerow(["rec/a.wav", "x", 5, "tone", 0.8])
    res = runner.invoke(app, ["review", str(field), "--out", "r", "--all"])
    assert res.exit_code == 0, res.output
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("Warning:")]
    assert warnings == [
        f"Warning: {field}: 1 unreadable row(s) left out (missing or bad value, or end before start; first: line 19)",
        f"Warning: {field}: 1 duplicate row(s) left out (same file, span and label; first: line 15)",
        f"Warning: {field}: recording rec/gone.wav not found from {tmp_path} or {tmp_path}; its 1 detection(s) left out",
        f"Warning: {field}: 2 detection(s) of rec/b.wav end past the end of the recording (30.00 s; first: line 16, "
        "28-33 s); left out: is it the recording they were predicted on?",
    ]
    m = json.loads((tmp_path / "r" / "review.json").read_text())
    assert len(m["cards"]) == 13 and "wrote r/index.html" in res.stdout


def test_out_folder_of_another_run_or_not_a_review_is_refused(runner, field, tmp_path):
    assert runner.invoke(app, ["review", str(field), "--out", "r"]).exit_code == 0
    other = predictions(tmp_path / "other.csv", [("rec/a.wav", 0, 5, "tone", 0.7)])
    res = runner.invoke(app, ["review", str(other), "--out", "r"])
    run = json.loads((tmp_path / "r" / "review.json").read_text())["run"]
    assert res.exit_code == 1
    assert res.output.strip() == (f"Error: --out r: holds the review of another predictions file ({field}, run {run}); "
                                  "choose another folder")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    res = runner.invoke(app, ["review", str(field), "--out", "mine"])
    assert res.output.strip() == ("Error: --out mine: a non-empty folder that is not a review folder; "
                                  "choose a new or empty folder")


# ------------------------------------------------------------------ clips, images, page
def test_clips_hold_the_span_and_context_once(field, tmp_path):
    folder = build_review(field, tmp_path / "r", context_s=1.0)
    m = json.loads((tmp_path / "r" / "review.json").read_text())
    first = next(c for c in m["cards"] if c["file"] == "rec/a.wav" and c["start_s"] == 0)
    y, sr = sf.read(tmp_path / "r" / first["audio"])
    assert sr == SR and len(y) == 6 * SR  # 0-5 s plus 1 s after (nothing before 0)
    mid = next(c for c in m["cards"] if c["start_s"] == 20 and c["file"] == "rec/a.wav")
    assert (mid["clip_start_s"], mid["clip_end_s"]) == (19.0, 26.0)
    assert len(sf.read(tmp_path / "r" / mid["audio"])[0]) == 7 * SR
    assert folder.size_bytes == sum(p.stat().st_size for p in (tmp_path / "r").rglob("*") if p.is_file())
    img = tmp_path / "r" / mid["image"]
    stamp = img.stat().st_mtime_ns
    build_review(field, tmp_path / "r", context_s=1.0)  # same options: nothing is cut again
    assert img.stat().st_mtime_ns == stamp
    build_review(field, tmp_path / "r", context_s=0.5, clip_format="ogg")
    m = json.loads((tmp_path / "r" / "review.json").read_text())
    assert all(c["audio"].endswith(".ogg") for c in m["cards"])
    assert not list((tmp_path / "r" / "clips").glob("*.flac"))  # the old clips are gone


def test_spectrogram_marks_the_span():
    y = np.random.default_rng(0).standard_normal(SR * 4).astype(np.float32) * 0.1
    rgb = spectrogram_rgb(y, SR, span=(1.0, 3.0), fmax=4000, width=400, height=60)
    assert rgb.shape == (60, 400, 3) and rgb.dtype == np.uint8
    a, b = 100, 299  # the span's edges: white lines
    assert (rgb[:, a] == 255).all() and (rgb[:, b] == 255).all()
    assert rgb[:, 10:90].mean() < rgb[:, 110:290].mean() / 2  # the context is dimmed


def test_page_is_self_contained(field, tmp_path):
    build_review(field, tmp_path / "r")
    html = (tmp_path / "r" / "index.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    assert 'loading="lazy"' in html and 'preload="none"' in html
    inline = html.split('<script type="application/json" id="manifest">')[1].split("</script>")[0]
    page = json.loads(inline)
    for c in page["cards"]:
        assert (tmp_path / "r" / c["audio"]).is_file() and (tmp_path / "r" / c["image"]).is_file()


# ------------------------------------------------------------------ import
def test_import_writes_classes_background_and_precision(runner, field, tmp_path):
    build_review(field, tmp_path / "r", top=2, random=2)

    def decide(c):
        if c["label"] == "noise":
            return ("rejected", "") if c["sample"] == "top" else ("corrected", "tone")
        return ("accepted", "") if c["confidence"] > 0.6 else ("", "")

    dec = export(tmp_path / "r", decide)
    res = runner.invoke(app, ["review", "--import", str(dec), "--out", "train"])
    assert res.exit_code == 0, res.output
    train = tmp_path / "train"
    names = {p.parent.name for p in train.rglob("*.flac")}
    assert names == {"tone", "background"}
    clip = next((train / "tone").glob("a_*.flac"))
    y, sr = sf.read(clip)
    assert sr == SR and len(y) == 5 * SR  # the detection's span alone
    summary = json.loads((train / "precision.json").read_text())
    noise = summary["precision"]["noise"]
    assert noise["reviewed"] == {"n": 4, "accepted": 0, "precision": 0.0, "ci95": [0.0, round(wilson(0, 4)[1], 4)]}
    assert noise["unbiased"]["n"] == 2 and noise["rejected"] == 2 and noise["corrected"] == 2
    assert summary["precision"]["tone"]["reviewed"]["precision"] == 1.0
    assert "precision -> train/precision.json" in res.stdout


def test_reimport_moves_a_changed_clip_and_keeps_the_rest(field, tmp_path):
    build_review(field, tmp_path / "r", top=2, random=2)
    dec = export(tmp_path / "r", lambda c: ("accepted", ""))
    train = tmp_path / "train"
    (train / "tone").mkdir(parents=True)
    (train / "tone" / "mine.wav").write_bytes(b"user's own file")
    first = import_decisions(dec, train)
    n = sum(first.written.values())
    assert n == len(list(train.rglob("*.flac")))
    dec = export(tmp_path / "r", lambda c: ("rejected", "") if c["label"] == "noise" else ("", ""))
    again = import_decisions(dec, train)
    assert set(again.written) == {"background"} and again.kept == n - again.written["background"]
    assert not list((train / "noise").glob("*.flac")) and len(list(train.rglob("*.flac"))) == n
    assert (train / "tone" / "mine.wav").read_bytes() == b"user's own file"


def test_import_bad_inputs(runner, field, tmp_path):
    build_review(field, tmp_path / "r", top=2, random=2)
    m = json.loads((tmp_path / "r" / "review.json").read_text())
    dec = export(tmp_path / "r", lambda c: ("corrected", "tonee") if c["label"] == "noise" else ("accepted", ""))
    res = runner.invoke(app, ["review", "--import", str(dec), "--out", "train", "--json", "p.json"])
    assert res.exit_code == 0, res.output
    bad = [ln for ln in res.stderr.splitlines() if "unknown label" in ln]
    assert len(bad) == 4 and bad[0].startswith(f"Warning: {dec} line ")
    assert bad[0].endswith("unknown label 'tonee' (known: noise, tone; add it with --classes); row left out")
    res = runner.invoke(app, ["review", "--import", str(dec), "--out", "train", "--classes", "tonee"])
    assert "unknown label" not in res.output and (tmp_path / "train" / "tonee").is_dir()
    # a decisions file from another predictions run
    text = dec.read_text().replace(m["run"], "0123456789ab")
    other = tmp_path / "other.csv"
    other.write_text(text)
    res = runner.invoke(app, ["review", "--import", str(other), "--out", "train", "--page", "r"])
    assert res.exit_code == 1
    assert res.output.strip() == (f"Error: {other}: decisions of review run 0123456789ab, but r is the review of "
                                  f"run {m['run']} ({field}); pass --page with the review folder it was exported from")
    res = runner.invoke(app, ["review", "--import", str(other), "--out", "train"])
    assert res.output.strip() == (f"Error: {tmp_path}: not a review folder (no review.json); pass --page with "
                                  "the folder `animalsnd review` wrote")
    res = runner.invoke(app, ["review", "--out", "x"])
    assert res.exit_code == 1 and "give PREDICTIONS" in res.output


def test_wilson_interval():
    lo, hi = wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)  # the textbook values for 8 of 10
    assert wilson(0, 0) == (0.0, 1.0) and wilson(5, 5)[1] == 1.0


def test_nothing_to_review_is_an_error(tmp_path):
    recording(tmp_path / "a.wav", seconds=10)
    pred = predictions(tmp_path / "p.csv", [(str(tmp_path / "a.wav"), 20, 25, "tone", 0.9)])
    with pytest.raises(DatasetError, match="no detection lies within its recording"):
        plan_review(pred)


def test_threads_write_the_same_files(field, tmp_path):
    build_review(field, tmp_path / "one", jobs=1)
    build_review(field, tmp_path / "two", jobs=2)
    for sub in ("clips", "spec"):
        one = sorted((tmp_path / "one" / sub).iterdir())
        assert len(one) == 13
        for p in one:
            assert p.read_bytes() == (tmp_path / "two" / sub / p.name).read_bytes()


def test_another_sampling_keeps_the_earlier_cards(field, tmp_path):
    build_review(field, tmp_path / "r", top=1, random=1, seed=0)
    first = {c["id"]: c["sample"] for c in json.loads((tmp_path / "r" / "review.json").read_text())["cards"]}
    build_review(field, tmp_path / "r", top=1, random=0)
    again = {c["id"]: c["sample"] for c in json.loads((tmp_path / "r" / "review.json").read_text())["cards"]}
    assert len(first) == 4 and first.items() <= again.items()
    fresh = plan_review(field, top=1, random=0)
    assert len(fresh.cards) == 2 < len(again)


def test_precision_estimate_for_all_detections():
    from animalsnd.review.importer import precision_table

    cards = [dict(id=f"t{i}", label="bird", sample="top") for i in range(2)]
    cards += [dict(id=f"r{i}", label="bird", sample="random") for i in range(4)]
    manifest = dict(cards=cards, detections={"bird": 100})
    decided = [(c, "accepted" if c["id"] in ("t0", "t1", "r0", "r1") else "rejected", "x") for c in cards]
    row = precision_table(decided, manifest)["bird"]
    assert row["reviewed"]["precision"] == round(4 / 6, 4) and row["unbiased"]["precision"] == 0.5
    lo, hi = wilson(2, 4)
    assert row["estimate"] == dict(detections=100, precision=0.51,
                                   ci95=[round((2 + 98 * lo) / 100, 4), round((2 + 98 * hi) / 100, 4)])
    # a top card left undecided: no estimate (it would lean on the most confident alone)
    assert precision_table(decided[1:], manifest)["bird"]["estimate"] is None
    assert precision_table(decided[1:], manifest)["bird"]["detections"] == 100
