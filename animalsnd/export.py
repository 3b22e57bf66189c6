"""Write prediction rows as CSV, JSON, Raven Pro selection tables or Audacity labels.

* csv / json: one row (object) per detection with the columns
  :data:`COLUMNS`, then ``label_1, prob_1, ..., label_k, prob_k`` when
  ``top_k > 1``.
* raven: one tab-separated selection table per input file,
  ``<stem>.Table.1.selections.txt``, columns :data:`RAVEN_COLUMNS`.
* audacity: one label track per input file, ``<stem>.txt``, lines
  ``start<TAB>end<TAB>label``.

Two inputs with the same stem (``a/x.wav``, ``b/x.flac``) get ``x`` and
``x-2``, in input order, so no file overwrites another.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from animalsnd.errors import ConfigError

COLUMNS = ["file", "start_s", "end_s", "label", "confidence"]
RAVEN_COLUMNS = [
    "Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
    "Low Freq (Hz)", "High Freq (Hz)", "Species", "label", "confidence",
]  # Species (what Raven users look for) and label (this project's name) hold the same label
FORMATS = ("table", "csv", "json", "raven", "audacity")
FOLDER_FORMATS = ("raven", "audacity")


def columns(top_k: int) -> list[str]:
    """CSV/JSON column names for ``top_k`` labels per row."""
    extra = [c for i in range(1, top_k + 1) for c in (f"label_{i}", f"prob_{i}")] if top_k > 1 else []
    return COLUMNS + extra


def row_dict(d, *, top_k: int = 1) -> dict:
    """One detection as a flat dict with :func:`columns` keys.

    Times are rounded to milliseconds and probabilities to 4 decimals.
    """
    out = {
        "file": d.file,
        "start_s": round(d.start_s, 3),
        "end_s": round(d.end_s, 3),
        "label": d.label,
        "confidence": round(d.confidence, 4),
    }
    if top_k > 1:
        top = list(d.top)[:top_k]
        for i in range(top_k):
            label, p = top[i] if i < len(top) else ("", None)
            out[f"label_{i + 1}"] = label
            out[f"prob_{i + 1}"] = None if p is None else round(p, 4)
    return out


def to_csv(rows: Sequence, *, top_k: int = 1) -> str:
    """CSV text (header + one line per detection)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns(top_k), lineterminator="\n")
    w.writeheader()
    for d in rows:
        w.writerow(row_dict(d, top_k=top_k))
    return buf.getvalue()


def to_json(rows: Sequence, *, top_k: int = 1) -> str:
    """A JSON list of row objects (see :func:`row_dict`)."""
    return json.dumps([row_dict(d, top_k=top_k) for d in rows], indent=2, ensure_ascii=False) + "\n"


def raven_table(rows: Sequence, *, low_hz: float, high_hz: float) -> str:
    """A Raven Pro selection table (tab-separated, header first) for one file's rows."""
    lines = ["\t".join(RAVEN_COLUMNS)]
    for i, d in enumerate(rows, start=1):
        lines.append("\t".join([
            str(i), "Spectrogram 1", "1", f"{d.start_s:.3f}", f"{d.end_s:.3f}",
            f"{low_hz:.1f}", f"{high_hz:.1f}", _clean(d.label), _clean(d.label), f"{d.confidence:.4f}",
        ]))
    return "\n".join(lines) + "\n"


def audacity_labels(rows: Sequence) -> str:
    """An Audacity label track (``start<TAB>end<TAB>label`` per line) for one file's rows."""
    return "".join(f"{d.start_s:.6f}\t{d.end_s:.6f}\t{_clean(d.label)}\n" for d in rows)


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """File stems, made unique in order by appending ``-2``, ``-3``, ..."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        stem = Path(p).stem
        n = seen.get(stem.lower(), 0) + 1
        seen[stem.lower()] = n
        out.append(stem if n == 1 else f"{stem}-{n}")
    return out


def write_per_file(
    files: Sequence[tuple[Path, Sequence]],
    out_dir: str | Path,
    *,
    fmt: str,
    low_hz: float = 0.0,
    high_hz: float = 8000.0,
) -> list[Path]:
    """One Raven table or Audacity label file per input file.

    Parameters
    ----------
    files : sequence of (path, rows)
        Every processed input and its detections (possibly none: the file
        still gets a table with only the header, or an empty label track).
    out_dir : path
        Created if needed.
    fmt : {"raven", "audacity"}
    low_hz, high_hz : float
        Frequency range written into each Raven selection.

    Returns
    -------
    list of Path
        The written files, in input order.
    """
    if fmt not in FOLDER_FORMATS:
        raise ConfigError(f"format {fmt!r} is not written per file; use one of {', '.join(FOLDER_FORMATS)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} must be a folder for --format {fmt}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, (_, rows) in zip(unique_stems([p for p, _ in files]), files):
        if fmt == "raven":
            path = out_dir / f"{stem}.Table.1.selections.txt"
            text = raven_table(rows, low_hz=low_hz, high_hz=high_hz)
        else:
            path = out_dir / f"{stem}.txt"
            text = audacity_labels(rows)
        path.write_text(text, encoding="utf-8", newline="")
        written.append(path)
    return written


def write_text(text: str, out: str | Path | TextIO) -> None:
    """Write ``text`` to a path (UTF-8, parents created) or an open text stream."""
    if hasattr(out, "write"):
        out.write(text)
        return
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8", newline="")
