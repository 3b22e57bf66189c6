"""The Typer app, consoles and the shared error/progress plumbing."""

from __future__ import annotations

import contextlib
import errno
import functools
import sys
from collections.abc import Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from animalsnd import __version__
from animalsnd.cli.plain import make_progress
from animalsnd.errors import AnimalsndError

app = typer.Typer(
    name="animalsnd",
    help="Train, evaluate and apply animal-sound classifiers from folder-per-class recordings, on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> None:
    """Print one red line to stderr and exit."""
    err_console.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(f"[yellow]Warning:[/] {escape(message)}", soft_wrap=True)


def handle_errors(func: Callable) -> Callable:
    """Turn library errors into one line + exit 1, Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AnimalsndError as exc:
            fail(str(exc))
        except OSError as exc:  # disk full, read-only file system, a file where a folder should be
            fail(os_error_line(exc))
        except KeyboardInterrupt:
            fail("interrupted; finished work is kept and a re-run resumes", 130)

    return wrapper


_OS_FIXES = {
    errno.ENOSPC: "free some space and re-run (finished work is kept)",
    errno.EDQUOT: "free some space and re-run (finished work is kept)",
    errno.EROFS: "choose a writable location",
    errno.EACCES: "check the permissions or choose another location",
    errno.EPERM: "check the permissions or choose another location",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another path",
    errno.EEXIST: "a file stands where a folder is needed; choose another path",
    errno.EISDIR: "a folder stands where a file is needed; choose another path",
}


def os_error_line(exc: OSError) -> str:
    """One line for an operating-system error: the file, what happened, the fix."""
    where = exc.filename if exc.filename is not None else ""
    what = exc.strerror or str(exc) or type(exc).__name__
    fix = _OS_FIXES.get(exc.errno, "check the path and re-run")
    return f"{where}: {what}; {fix}" if where else f"{what}; {fix}"


@contextlib.contextmanager
def progress_bar(
    description: str, *, unit: str = "files", columns: list | None = None, on: Console | None = None
) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar, started on the first non-empty update; yields ``callback(done, total)``."""
    columns = columns or [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    state: dict = {}

    def update(done: int, total: int) -> None:
        if "prog" not in state:
            if total <= 0:
                return  # nothing to do: no bar at all
            state["prog"] = make_progress(*columns, console=on or console, unit=unit, transient=False)
            state["prog"].start()
            state["task"] = state["prog"].add_task(description, total=total)
        state["prog"].update(state["task"], completed=done, total=total)

    try:
        yield update
    finally:
        if "prog" in state:
            state["prog"].stop()


def version_callback(value: bool) -> None:
    if value:
        console.print(f"animalsnd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Train, evaluate and apply animal-sound classifiers on a CPU."""


def not_available(name: str) -> None:
    fail(f"`animalsnd {name}` is not available yet in this version")


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()
