"""predict's row rules: a mostly-padding tail window, --per-file, non-overlapping --merge."""

import csv

import numpy as np
import pytest
import soundfile as sf

from animalsnd.cli import app
from animalsnd.predict import Detection, PredictOptions
from animalsnd.predict.detections import detections, drop_padded_tail, per_file_rows, separate
from conftest_train import SR, clip, tiny, trained  # noqa: F401  (fixtures)


def test_tail_window_mostly_padding_is_dropped():
    p = np.eye(3)
    spans = np.array([[0, 4], [2, 6], [4, 5.9]])
    kept, probs = drop_padded_tail(spans, p, window_s=4.0)
    assert len(kept) == 2 and probs.shape == (2, 3)
    kept, _ = drop_padded_tail(np.array([[0, 4], [2, 6], [4, 6.0]]), p, window_s=4.0)  # half a window: kept
    assert len(kept) == 3
    kept, _ = drop_padded_tail(np.array([[0, 0.5]]), p[:1], window_s=4.0)  # the only window: kept
    assert len(kept) == 1


def test_per_file_row_is_the_most_confident_window():
    p = np.array([[0.6, 0.4], [0.1, 0.9], [0.7, 0.3]])
    (row,) = per_file_rows("a.wav", 5.0, p, ["cat", "bird"], top_k=2)
    assert (row.start_s, row.end_s, row.label, row.confidence) == (0.0, 5.0, "bird", 0.9)
    assert row.top == (("bird", 0.9), ("cat", 0.1))
    assert per_file_rows("a.wav", 5.0, p, ["cat", "bird"], min_confidence=0.95) == []
    assert per_file_rows("a.wav", 5.0, p, ["cat", "bird"], unknown_below=0.95)[0].label == "unknown"


def test_per_file_row_is_the_most_confident_animal_window():
    classes = ["background", "cat", "dog"]
    p = np.array([[0.95, 0.03, 0.02], [0.2, 0.1, 0.7], [0.5, 0.4, 0.1]])
    (row,) = per_file_rows("a.wav", 5.0, p, classes, animals_only=False)  # the background window hides nothing
    assert (row.label, row.confidence) == ("dog", 0.7)
    (row,) = per_file_rows("a.wav", 5.0, p[[0, 2]], classes, animals_only=False, top_k=2)  # background everywhere
    assert (row.label, row.confidence, row.top) == ("background", 0.95, (("background", 0.95), ("cat", 0.03)))
    assert per_file_rows("a.wav", 5.0, p[[0, 2]], classes, animals_only=False, min_confidence=0.96) == []
    (row,) = per_file_rows("a.wav", 5.0, p[[0, 2]][:, 1:], classes[1:])  # a model without background
    assert row.label == "cat"


def test_per_file_animals_only_names_an_animal_for_every_clip():
    classes = ["background", "cat", "dog"]
    p = np.array([[0.9, 0.02, 0.08], [0.6, 0.3, 0.1]])  # background everywhere
    (row,) = per_file_rows("a.wav", 5.0, p, classes, top_k=2)  # the default
    # renormalised over the animals: window 0 says dog 0.08 / 0.1 = 0.8, window 1 cat 0.3 / 0.4 = 0.75
    assert (row.label, round(row.confidence, 6)) == ("dog", 0.8)
    assert [lab for lab, _ in row.top] == ["dog", "cat"] and abs(sum(q for _, q in row.top) - 1) < 1e-9
    p2 = np.array([[0.95, 0.03, 0.02], [0.2, 0.1, 0.7]])  # an animal window: the same label either way
    assert per_file_rows("a.wav", 5.0, p2, classes)[0].label == "dog"
    assert per_file_rows("a.wav", 5.0, p2, classes, animals_only=False)[0].label == "dog"
    for animals_only in (True, False):  # a model without a background class: the same either way
        (row,) = per_file_rows("a.wav", 5.0, p[:, 1:], classes[1:], animals_only=animals_only)
        assert (row.label, row.confidence) == ("cat", 0.3)


def test_animals_only_needs_per_file():
    import pytest

    from animalsnd.errors import ConfigError

    for animals_only in (True, False):
        with pytest.raises(ConfigError, match="--animals-only / --allow-background need --per-file"):
            PredictOptions(animals_only=animals_only)


def test_separate_splits_overlaps_at_their_middle():
    rows = [Detection("f", 0, 4, "unknown", 0.4), Detection("f", 1, 5, "dog", 0.9),
            Detection("f", 2, 10, "cow", 0.9), Detection("f", 12, 16, "frog", 1.0)]
    out = separate(rows)
    assert [(d.start_s, d.end_s, d.label) for d in out] == [
        (0, 2.5, "unknown"), (2.5, 3.5, "dog"), (3.5, 10, "cow"), (12, 16, "frog")]
    assert all(a.end_s <= b.start_s for a, b in zip(out, out[1:]))


def test_per_file_and_merge_do_not_combine():
    import pytest

    from animalsnd.errors import ConfigError

    with pytest.raises(ConfigError, match="--per-file gives one row per recording"):
        PredictOptions(per_file=True, merge=True)


def _clips(folder, seconds):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (label, s) in enumerate(seconds):
        y = np.concatenate([clip(label, i)] * int(np.ceil(s / 0.5)))[: int(s * SR)]
        paths.append(folder / f"{i}_{label}.wav")
        sf.write(paths[-1], y, SR, subtype="PCM_16")
    return paths


def test_cli_per_file_gives_one_row_per_recording(runner, trained, tmp_path):
    paths = _clips(tmp_path / "clips", [("chirp", 1.3), ("burst", 2.0), ("clicks", 0.4)])
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict", str(trained), str(tmp_path / "clips"), "--per-file", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert [r["file"] for r in rows] == [str(p) for p in paths]
    assert [(float(r["start_s"]), float(r["end_s"])) for r in rows] == [(0.0, 1.3), (0.0, 2.0), (0.0, 0.4)]
    windows = tmp_path / "w.csv"
    res = runner.invoke(app, ["predict", str(trained), str(paths[1]), "--out", str(windows)])
    best = max(csv.DictReader(windows.open()), key=lambda r: float(r["confidence"]))
    assert (rows[1]["label"], rows[1]["confidence"]) == (best["label"], best["confidence"])


def test_cli_short_tail_is_not_a_row(runner, trained, tmp_path):
    (path,) = _clips(tmp_path / "c", [("chirp", 0.6)])  # windows 0-0.512 and 0.496-0.6 (0.104 s of 0.512)
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict", str(trained), str(path), "--hop", "0.5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert [(r["start_s"], r["end_s"]) for r in rows] == [("0.0", "0.512")]


def test_cli_per_file_with_merge_is_one_line(runner, trained, tmp_path):
    (path,) = _clips(tmp_path / "c", [("chirp", 0.6)])
    res = runner.invoke(app, ["predict", str(trained), str(path), "--per-file", "--merge"])
    assert res.exit_code == 1 and "does not combine with --merge" in res.output


def test_min_support_keeps_labels_that_fill_the_windows_around_them():
    classes = ["background", "cat", "dog"]
    spans = np.array([[i, i + 2.0] for i in range(6)])
    # windows 1-3 hear a cat; window 5 alone hears a dog
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1],
                      [0.9, 0.05, 0.05], [0.3, 0.1, 0.6]])
    support = probs.argmax(axis=1)
    every = detections("f.wav", spans, probs, classes)
    assert [(d.start_s, d.label) for d in every] == [(1, "cat"), (2, "cat"), (3, "cat"), (5, "dog")]
    two = detections("f.wav", spans, probs, classes, support=support, min_support=2)
    assert [(d.start_s, d.label) for d in two] == [(1, "cat"), (2, "cat"), (3, "cat")]
    three = detections("f.wav", spans, probs, classes, support=support, min_support=3)
    assert [(d.start_s, d.label) for d in three] == [(2, "cat")]
    assert detections("f.wav", spans, probs, classes, min_support=3) == every  # no support given: no rule


def test_min_support_is_checked():
    from animalsnd.errors import ConfigError
    from animalsnd.predict import PredictOptions

    with pytest.raises(ConfigError, match="--min-support 4 must be 1, 2 or 3"):
        PredictOptions(min_support=4)


def test_the_model_decides_min_support_unless_asked():
    from animalsnd.families.stats_mlp import DEFAULT_MIN_SUPPORT, StatsPredictor
    from animalsnd.predict import default_min_support

    assert StatsPredictor.default_min_support == DEFAULT_MIN_SUPPORT == 2
    assert default_min_support(object()) == 1  # a family without one: every window
    assert PredictOptions().min_support is None and PredictOptions(min_support=1).min_support == 1
