"""`animalsnd audit`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from animalsnd.cli._app import app, console, handle_errors, progress_bar, warn


def run_audit(cache: Path, *, store: Optional[Path], jobs: int):
    """Measure (with a progress bar) and audit a cache; shared with `prepare`'s summary."""
    from animalsnd.audit_report import audit_cache

    with progress_bar("Measuring recordings") as cb:
        return audit_cache(cache, store=store, jobs=jobs, progress=cb)


def warn_if_shortcut(cache: Path, *, jobs: int) -> None:
    """`prepare`'s summary: one warning line when the recording chain alone gives the class away."""
    from animalsnd.errors import AnimalsndError

    try:
        res = run_audit(cache, store=None, jobs=jobs)
    except AnimalsndError as exc:
        warn(f"audit skipped: {exc}")
        return
    if res.warning:
        warn(res.warning)


@app.command()
@handle_errors
def audit(
    cache: Path = typer.Argument(..., help="A prepared cache (from `animalsnd prepare`)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every clip's properties, the per-class summaries and the shortcut scores as JSON."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG: per class, the distribution of effective bandwidth by the files' sample rate."),
    store: Optional[Path] = typer.Option(None, "--store", help="Where the per-clip measurements are kept for re-runs. [default: CACHE/audit]"),
    jobs: int = typer.Option(-1, "--jobs", help="Parallel workers (-1: all cores)."),
) -> None:
    """Audit a cache's recording chain: sample rate, effective bandwidth, encoding, level, silence per class,
    and whether those properties alone give the class away (the shortcut score)."""
    import json

    from animalsnd.cache import atomic_write_text
    from animalsnd.errors import ConfigError
    from animalsnd.render_audit import plot_bandwidths, properties_table, shortcut_table, summary_lines

    if plot is not None and plot.suffix.lower() != ".png":
        raise ConfigError(f"--plot {plot}: the file name must end in .png")
    res = run_audit(cache, store=store, jobs=jobs)
    console.print(properties_table(res))
    if res.shortcut is not None:
        console.print(shortcut_table(res))
    for line in summary_lines(res):
        console.print(line)
    for f in res.failed:
        warn(f"{f['relpath']}: {f['error']}")
    if res.warning:
        warn(res.warning)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(res.to_dict(), indent=1) + "\n")
        console.print(f"JSON -> {json_out}")
    if plot is not None:
        console.print(f"figure -> {plot_bandwidths(res, plot)}")
