import csv
import io
import json
from pathlib import Path

import pytest

from animalsnd.errors import ConfigError
from animalsnd.export import (
    RAVEN_COLUMNS,
    columns,
    to_csv,
    to_json,
    unique_stems,
    write_per_file,
    write_text,
)
from animalsnd.predict import Detection

ROWS = [
    Detection("dir/a b.wav", 0.0, 16.0, "frog", 0.91234, (("frog", 0.91234), ("bird", 0.05), ("cow", 0.02))),
    Detection("dir/a b.wav", 8.0, 24.0, "unknown", 0.4, (("bird", 0.4), ("frog", 0.35), ("cow", 0.25))),
    Detection("ü/c,d.flac", 1.23456, 2.5, "bird", 1.0, (("bird", 1.0), ("frog", 0.0), ("cow", 0.0))),
]


def test_csv_round_trip_with_top_k():
    text = to_csv(ROWS, top_k=2)
    got = list(csv.DictReader(io.StringIO(text)))
    assert list(got[0]) == ["file", "start_s", "end_s", "label", "confidence",
                            "label_1", "prob_1", "label_2", "prob_2"]
    assert got[2]["file"] == "ü/c,d.flac" and got[2]["start_s"] == "1.235"
    assert got[0]["confidence"] == "0.9123" and got[0]["label_2"] == "bird" and got[0]["prob_2"] == "0.05"
    assert got[1]["label"] == "unknown" and got[1]["label_1"] == "bird"


def test_csv_top_1_has_only_the_base_columns():
    got = list(csv.DictReader(io.StringIO(to_csv(ROWS))))
    assert list(got[0]) == columns(1) == ["file", "start_s", "end_s", "label", "confidence"]
    assert to_csv([]) == "file,start_s,end_s,label,confidence\n"


def test_json_round_trip():
    got = json.loads(to_json(ROWS, top_k=3))
    assert [list(r) for r in got] == [columns(3)] * 3
    assert got[0]["start_s"] == 0.0 and got[0]["end_s"] == 16.0 and got[2]["prob_1"] == 1.0
    assert got[2]["file"] == "ü/c,d.flac"


def test_raven_tables_one_per_file(tmp_path):
    files = [(Path("x/a b.wav"), ROWS[:2]), (Path("y/a b.flac"), []), (Path("ü/c,d.flac"), ROWS[2:])]
    written = write_per_file(files, tmp_path / "raven", fmt="raven", low_hz=0.0, high_hz=8000.0)
    assert [p.name for p in written] == ["a b.Table.1.selections.txt", "a b-2.Table.1.selections.txt",
                                         "c,d.Table.1.selections.txt"]
    with open(written[0], newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    assert list(table[0]) == RAVEN_COLUMNS == [
        "Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
        "Low Freq (Hz)", "High Freq (Hz)", "Species", "label", "confidence"]
    assert [r["Selection"] for r in table] == ["1", "2"]
    assert table[1] == {"Selection": "2", "View": "Spectrogram 1", "Channel": "1", "Begin Time (s)": "8.000",
                        "End Time (s)": "24.000", "Low Freq (Hz)": "0.0", "High Freq (Hz)": "8000.0",
                        "Species": "unknown", "label": "unknown", "confidence": "0.4000"}
    assert written[1].read_text() == "\t".join(RAVEN_COLUMNS) + "\n"  # no rows: header only


def test_audacity_labels(tmp_path):
    written = write_per_file([(Path("a b.wav"), ROWS[:2])], tmp_path, fmt="audacity")
    assert written == [tmp_path / "a b.txt"]
    lines = [line.split("\t") for line in written[0].read_text().splitlines()]
    assert lines == [["0.000000", "16.000000", "frog"], ["8.000000", "24.000000", "unknown"]]


def test_unique_stems_and_bad_destinations(tmp_path):
    assert unique_stems([Path("a/x.wav"), Path("b/X.flac"), Path("c/y.wav"), Path("x.ogg")]) == [
        "x", "X-2", "y", "x-3"]
    (tmp_path / "f.txt").write_text("")
    with pytest.raises(ConfigError, match="must be a folder"):
        write_per_file([], tmp_path / "f.txt", fmt="raven")
    with pytest.raises(ConfigError, match="is a folder"):
        write_text("x", tmp_path)
    write_text("hello\n", tmp_path / "new" / "out.csv")
    assert (tmp_path / "new" / "out.csv").read_text() == "hello\n"
