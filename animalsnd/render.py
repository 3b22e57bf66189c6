"""Rich tables and matplotlib figures: the only module that draws."""

from __future__ import annotations

from collections import defaultdict

from rich.markup import escape
from rich.table import Table


def _fmt_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def prepare_table(rows: list[dict]) -> Table:
    """Per-class summary of a prepared dataset (files, unique, duplicates, ...)."""
    stats: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        s = stats[r["label"]]
        s["files"] += 1
        if r["status"] == "failed":
            s["failed"] += 1
            continue
        if r["duplicate_of"]:
            s["duplicates"] += 1
        else:
            s["unique"] += 1
            s["duration"] += float(r["duration_s"] or 0)
    t = Table(title="Prepared dataset", show_footer=True)
    total = defaultdict(float)
    for s in stats.values():
        for k, v in s.items():
            total[k] += v
    cols = [("class", "left", "total"), ("files", "right", "files"), ("unique", "right", "unique"),
            ("duplicates", "right", "duplicates"), ("duration", "right", "duration"),
            ("failed", "right", "failed")]
    for name, justify, key in cols:
        footer = "total" if key == "total" else (
            _fmt_duration(total[key]) if key == "duration" else str(int(total[key])))
        t.add_column(name, justify=justify, footer=footer)
    for label in sorted(stats):
        s = stats[label]
        failed = int(s["failed"])
        t.add_row(escape(label), str(int(s["files"])), str(int(s["unique"])), str(int(s["duplicates"])),
                  _fmt_duration(s["duration"]), f"[red]{failed}[/]" if failed else "0")
    return t
