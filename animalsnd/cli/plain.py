"""Progress as plain lines, for output that is not a terminal (a log file, a pipe, CI).

A rich progress bar redrawn in place makes no sense in a log, and its last
frame is cut at the console's width (``0:02:…``). :class:`PlainProgress`
has the part of :class:`rich.progress.Progress`'s interface the CLI uses and
prints one whole line per task every tenth of the way (or every 30 s), and
when the task completes. :func:`make_progress` picks one or the other.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.errors import MarkupError
from rich.text import Text

#: A line at every this fraction of a task, and at least every ``EVERY_S`` seconds.
STEP = 0.1
EVERY_S = 30.0


def _plain(text: object) -> str:
    try:
        return Text.from_markup(str(text)).plain
    except MarkupError:
        return str(text)


def _num(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() or abs(x) >= 10 else f"{x:.1f}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class PlainProgress:
    """``add_task``/``update``/``advance``/``start``/``stop`` printing whole lines to ``console``."""

    def __init__(self, *columns, console: Console, unit: str = "", transient: bool = False, **_) -> None:
        self.console = console
        self._unit = unit
        self._tasks: dict[int, dict] = {}

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        for task in self._tasks.values():
            if not task["closed"] and task["printed"] != task["completed"]:
                self._print(task)
            task["closed"] = True

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields) -> int:
        tid = len(self._tasks)
        now = time.monotonic()
        self._tasks[tid] = dict(description=description, total=total, completed=completed, fields=fields,
                                t0=now, last_t=now, next_frac=STEP, printed=None, closed=False)
        return tid

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(self, task_id: int, *, completed: float | None = None, total: float | None = None,
               advance: float | None = None, **fields) -> None:
        task = self._tasks[task_id]
        if total is not None:
            task["total"] = total
        if completed is not None:
            task["completed"] = completed
        if advance is not None:
            task["completed"] += advance
        task["fields"].update(fields)
        total, done = task["total"], task["completed"]
        now = time.monotonic()
        finished = bool(total) and done >= total
        crossed = bool(total) and done / total >= task["next_frac"]
        if task["closed"] or task["printed"] == done:
            return
        if finished or crossed or now - task["last_t"] >= EVERY_S:
            self._print(task)
            task["last_t"] = now
            if total:
                task["next_frac"] = (int(done / total / STEP) + 1) * STEP
            task["closed"] = finished

    def _print(self, task: dict) -> None:
        f = task["fields"]
        unit = _plain(f.get("unit", self._unit))
        count = _num(task["completed"]) + (f"/{_num(task['total'])}" if task["total"] else "")
        extra = " ".join(_plain(f[k]) for k in ("stats", "last") if f.get(k))
        line = f"{_plain(task['description'])}: {count} {unit}".rstrip()
        line += f" in {_clock(time.monotonic() - task['t0'])}" + (f"  {extra}" if extra else "")
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        task["printed"] = task["completed"]


def make_progress(*columns, console: Console, unit: str = "", **options):
    """A rich ``Progress`` on a terminal, else a :class:`PlainProgress` on the same console."""
    if console.is_terminal:
        from rich.progress import Progress

        return Progress(*columns, console=console, **options)
    return PlainProgress(console=console, unit=unit)
