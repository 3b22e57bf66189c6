"""Read annotated events (Raven Pro selection tables, a plain CSV) for detection scoring.

An annotation folder holds any mix of:

* Raven Pro selection tables, one per recording, matched to it by file
  stem: ``<stem>.Table.1.selections.txt`` (any ``.Table.<n>.selections.txt``)
  or ``<stem>.txt``. Tab-separated, a header line with ``Begin Time (s)``,
  ``End Time (s)`` and a label column: the first of ``label``, ``species``,
  ``annotation``, ``class``, ``common name``, ``sound type`` (any case).
  Other columns (``Selection``, ``View``, frequencies, ...) are ignored.
* CSV files (``*.csv``) with the columns ``file,start_s,end_s,label``;
  ``file`` is a recording's name or stem (``a/x.wav`` and ``x`` both mean
  the recording with stem ``x``).

A table with only its header means "annotated, no events". Problems are
reported one line each and the rest is read: a table without the needed
columns is skipped; a row with unreadable times, a zero-length or reversed
selection, or an empty label is skipped. Checks that need the recordings
(a table naming no recording, a selection past the end, a label the model
does not know) are done by :func:`check_events`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from animalsnd.background import BACKGROUND
from animalsnd.errors import DatasetError

LABEL_COLUMNS = ("label", "species", "annotation", "class", "common name", "sound type")
BEGIN, END = "begin time (s)", "end time (s)"
CSV_COLUMNS = ("file", "start_s", "end_s", "label")
_RAVEN_SUFFIX = re.compile(r"\.table\.\d+\.selections$", re.IGNORECASE)
#: a selection may end this far past the end of its recording before it is reported
END_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class Event:
    """One annotated call: ``[start_s, end_s)`` of the recording with stem ``stem``."""

    stem: str
    start_s: float
    end_s: float
    label: str
    source: str = ""  # "table:line" it came from, for messages

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def table_stem(path: str | Path) -> str:
    """The recording stem a selection table belongs to (``x.Table.1.selections.txt`` -> ``x``)."""
    stem = Path(path).name[: -len(".txt")] if str(path).lower().endswith(".txt") else Path(path).stem
    return _RAVEN_SUFFIX.sub("", stem)


def _float(text: str) -> float:
    v = float(str(text).strip())
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(text)
    return v


def _row_event(stem: str, start: str, end: str, label: str, where: str, problems: list[str]) -> Event | None:
    try:
        s, e = _float(start), _float(end)
    except (TypeError, ValueError):
        problems.append(f"{where}: unreadable times ({start!r}, {end!r}); selection skipped")
        return None
    label = " ".join(str(label or "").split())
    if not label:
        problems.append(f"{where}: empty label; selection skipped")
        return None
    if s < 0:
        problems.append(f"{where}: starts before 0 s ({s:g}); selection skipped")
        return None
    if e <= s:
        problems.append(f"{where}: zero-length or reversed selection ({s:g}-{e:g} s); skipped")
        return None
    return Event(stem, s, e, label, where)


def _header_index(header: list[str]) -> dict[str, int]:
    return {h.strip().lower(): i for i, h in enumerate(header)}


def read_raven(path: str | Path, problems: list[str]) -> list[Event] | None:
    """Events of one selection table (``None``: the table could not be used, said in ``problems``)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        problems.append(f"{path}: unreadable ({exc.strerror or exc}); skipped")
        return None
    if not lines or not lines[0].strip():
        problems.append(f"{path}: empty file, not a selection table; skipped")
        return None
    header = lines[0].split("\t")
    idx = _header_index(header)
    label_col = next((c for c in LABEL_COLUMNS if c in idx), None)
    missing = [name for name, ok in (("Begin Time (s)", BEGIN in idx), ("End Time (s)", END in idx),
                                     ("a label column", label_col is not None)) if not ok]
    if missing:
        found = ", ".join(h.strip() for h in header if h.strip()) or "nothing"
        problems.append(f"{path}: missing column(s) {', '.join(missing)} (found: {found}); table skipped")
        return None
    stem, out = table_stem(path), []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        get = lambda col: cells[idx[col]] if idx[col] < len(cells) else ""  # noqa: E731
        ev = _row_event(stem, get(BEGIN), get(END), get(label_col), f"{path.name}:{n}", problems)
        if ev is not None:
            out.append(ev)
    return out


def read_csv(path: str | Path, problems: list[str]) -> dict[str, list[Event]] | None:
    """Events of a ``file,start_s,end_s,label`` CSV, by recording stem."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            body = list(reader)
    except OSError as exc:
        problems.append(f"{path}: unreadable ({exc.strerror or exc}); skipped")
        return None
    idx = _header_index(header)
    missing = [c for c in CSV_COLUMNS if c not in idx]
    if missing:
        found = ", ".join(h.strip() for h in header if h.strip()) or "nothing"
        problems.append(f"{path}: missing column(s) {', '.join(missing)} (found: {found}); file skipped")
        return None
    out: dict[str, list[Event]] = {}
    for n, cells in enumerate(body, start=2):
        if not any(c.strip() for c in cells):
            continue
        get = lambda col: cells[idx[col]] if idx[col] < len(cells) else ""  # noqa: E731
        name = get("file").strip()
        if not name:
            problems.append(f"{path.name}:{n}: empty file name; row skipped")
            continue
        stem = Path(name.replace("\\", "/")).stem
        ev = _row_event(stem, get("start_s"), get("end_s"), get("label"), f"{path.name}:{n}", problems)
        out.setdefault(stem, [])
        if ev is not None:
            out[stem].append(ev)
    return out


@dataclass
class Annotations:
    """Events by recording stem, and one line per problem met while reading."""

    events: dict[str, list[Event]]
    problems: list[str]


def read_annotations(folder: str | Path) -> Annotations:
    """Every selection table and CSV in ``folder`` (sub-folders included).

    Raises
    ------
    DatasetError
        ``folder`` is missing or holds no ``.txt`` / ``.csv`` file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"--annotations {folder}: {'not a folder' if folder.exists() else 'does not exist'}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".txt", ".csv")
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise DatasetError(f"--annotations {folder}: no selection tables (.txt) or CSV files")
    events: dict[str, list[Event]] = {}
    problems: list[str] = []
    for p in files:
        if p.suffix.lower() == ".csv":
            for stem, evs in (read_csv(p, problems) or {}).items():
                events.setdefault(stem, []).extend(evs)
            continue
        evs = read_raven(p, problems)
        if evs is not None:
            stem = table_stem(p)
            if stem in events and any(e.source.split(":")[0] != p.name for e in events[stem]):
                problems.append(f"{p}: a second table for recording {stem!r}; its selections are added")
            events.setdefault(stem, []).extend(evs)
    for stem in events:
        events[stem].sort(key=lambda e: (e.start_s, e.end_s, e.label))
    return Annotations(events, problems)


def check_events(events: list[Event], *, duration_s: float, classes: list[str],
                 problems: list[str]) -> list[Event]:
    """The events of one recording that can be scored against a model.

    ``background`` selections are left out silently (there is nothing to
    detect in them). Labels match the model's classes ignoring case (and are renamed to the
    class's spelling); an unknown label is reported and left out. A
    selection starting at or past the end of the recording is left out;
    one ending more than :data:`END_TOLERANCE_S` past the end is cut at the
    end. Overlapping selections of the same label are merged into one event
    (reported).
    """
    by_lower = {c.lower(): c for c in classes}
    unknown: dict[str, int] = {}
    kept: list[Event] = []
    for e in events:
        if e.label.lower() == BACKGROUND:  # "no animal here": nothing to detect
            continue
        label = by_lower.get(e.label.lower())
        if label is None:
            unknown[e.label] = unknown.get(e.label, 0) + 1
            continue
        if e.start_s >= duration_s:
            problems.append(f"{e.source}: selection {e.start_s:g}-{e.end_s:g} s starts past the end of the "
                            f"recording ({duration_s:.2f} s); skipped")
            continue
        end = e.end_s
        if end > duration_s + END_TOLERANCE_S:
            problems.append(f"{e.source}: selection {e.start_s:g}-{e.end_s:g} s ends past the end of the "
                            f"recording ({duration_s:.2f} s); cut there")
        kept.append(Event(e.stem, e.start_s, min(end, duration_s), label, e.source))
    for lab, n in sorted(unknown.items()):
        stem = events[0].stem
        problems.append(f"{stem}: {n} selection(s) labelled {lab!r}, not a class of the model "
                        f"({', '.join(classes)}); not scored")
    merged: list[Event] = []
    for e in sorted(kept, key=lambda e: (e.label, e.start_s)):
        prev = merged[-1] if merged else None
        if prev is not None and prev.label == e.label and e.start_s < prev.end_s:
            problems.append(f"{e.source}: overlaps {prev.source} (both {e.label!r}); merged into one event")
            merged[-1] = Event(prev.stem, prev.start_s, max(prev.end_s, e.end_s), e.label, prev.source)
        else:
            merged.append(e)
    return sorted(merged, key=lambda e: (e.start_s, e.end_s, e.label))
