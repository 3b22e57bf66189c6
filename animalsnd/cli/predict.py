"""`animalsnd predict`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from animalsnd.background import BACKGROUND
from animalsnd.cli._app import app, console, err_console, fail, handle_errors, progress_bar, warn


@contextlib.contextmanager
def audio_progress(description: str) -> Iterator[Callable[[float, float], None]]:
    """A progress bar over seconds of audio, on stderr (stdout may carry CSV/JSON)."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s of audio"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    ]
    with progress_bar(description, columns=columns, on=err_console, unit="s of audio") as update:
        yield update


def _fmt_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _fmt_speed(audio_s: float, seconds: float) -> str:
    """How much faster than real time, never rounded to "0x" (a very short file takes longer than it lasts)."""
    if seconds <= 0:
        return "instant"
    speed = audio_s / seconds
    return f"{speed:.0f}x real time" if speed >= 10 else f"{speed:.2g}x real time"


def _check_out(out: Optional[Path], fmt: str, paths: list[Path], *, recursive: bool) -> None:
    """Refuse an unusable --out before any audio is read; a file output may not be one of the inputs."""
    from animalsnd.export import FOLDER_FORMATS
    from animalsnd.fileutil import check_output_file, check_output_folder
    from animalsnd.predict import collect_inputs

    if fmt in FOLDER_FORMATS:
        check_output_folder(out, "--out")
    elif out is not None:
        inputs = [p for p, err in collect_inputs(paths, recursive=recursive) if err is None]
        check_output_file(out, "--out", inputs=inputs)


def run_header(run) -> str:
    """One line: which model(s), which runtime, which windows."""
    sr = run.cfg.sr
    models = f"mean of {run.n_models} fold models" if run.n_models > 1 else "1 model"
    merged = ", merged" if run.options.merge else ", one row per file" if run.options.per_file else ""
    if run.options.animal_each and BACKGROUND in run.classes:
        merged += " (an animal for each)"
    if run.folder_weights:
        merged += ", classes weighted by their share of the files"
    if run.options.pool not in (None, "none") and not run.options.per_file:
        merged = f", {run.options.pool}-pooled{merged}"
    views = run.views
    if run.screened and views is not None:
        merged += f"; double-speed view on {views[1]} of {views[0]} segments (the rest screened as background)"
    if run.context_held:
        merged += f"; {run.context_held} window(s) held back as like the recording's own background"
    if run.adapted:
        merged += (f"; animals weighted by their share of each recording's windows ({run.adapted} of "
                   f"{len(run.processed)} recordings)")
    return (f"{run.model_dir}: {models} ({run.runtime}), {len(run.classes)} classes; "
            f"window {run.plan.window / sr:g} s, hop {run.plan.hop / sr:g} s{merged}")


def detections_table(run, *, top_k: int) -> Table:
    """Rich table of a :class:`~animalsnd.predict.PredictRun`'s rows."""
    one = len(run.processed) == 1
    t = Table(title=escape(str(run.processed[0].path)) if one else "Predictions")
    if not one:
        t.add_column("file", overflow="fold")
    t.add_column("start s", justify="right")
    t.add_column("end s", justify="right")
    t.add_column("label")
    t.add_column("confidence", justify="right")
    if top_k > 1:
        t.add_column(f"top {top_k}")
    for d in run.rows:
        cells = [] if one else [escape(d.file)]
        cells += [f"{d.start_s:.2f}", f"{d.end_s:.2f}",
                  escape(d.label) if d.label != "unknown" else "[dim]unknown[/]", f"{d.confidence:.3f}"]
        if top_k > 1:
            cells.append(escape(", ".join(f"{lab} {p:.2f}" for lab, p in d.top[:top_k])))
        t.add_row(*cells)
    return t


def _resolve_format(fmt: Optional[str], out: Optional[Path]) -> str:
    from animalsnd.errors import ConfigError
    from animalsnd.export import FOLDER_FORMATS, FORMATS

    if fmt is None:
        if out is None:
            return "table"
        suffix = out.suffix.lower().lstrip(".")
        if suffix in ("csv", "json"):
            return suffix
        raise ConfigError(f"--out {out}: add --format csv|json|raven|audacity")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} must be one of {', '.join(FORMATS)}")
    if fmt in FOLDER_FORMATS and out is None:
        raise ConfigError(f"--format {fmt} writes one file per recording; give --out FOLDER")
    if fmt == "table" and out is not None:
        raise ConfigError("--format table prints to the terminal; use csv or json with --out")
    return fmt


@app.command()
@handle_errors
def predict(
    model_dir: Path = typer.Argument(..., help="A model folder from `animalsnd train` (a --cv folder averages its folds)."),
    paths: list[Path] = typer.Argument(..., help="Audio files and/or folders."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Also look for audio in sub-folders."),
    window: Optional[float] = typer.Option(None, "--window", help="Window length in seconds. Default: the model's input (16 s); birdnet-head: 3 s, rounded to whole 3-s BirdNET windows; stats-mlp: 2 s."),
    hop: Optional[float] = typer.Option(None, "--hop", help="Seconds between window starts (rounded to the feature hop; birdnet-head: to 3 s; stats-mlp: exact). Default: half a window."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Drop windows whose top probability is below this."),
    top_k: int = typer.Option(1, "--top-k", help="Labels and probabilities per row."),
    unknown_below: float = typer.Option(0.0, "--unknown-below", help="Label a window 'unknown' when its top probability is below this."),
    merge: bool = typer.Option(False, "--merge/--no-merge", help="Join consecutive windows with the same label into one detection (overlaps split at their middle)."),
    pool: Optional[str] = typer.Option(None, "--pool", help="Pool each window's probabilities with the windows overlapping it by half a window, so a call cut in two by the grid keeps its best score: none, max or mean. Default: the model's own (max for stats-mlp, whose 2-s windows every 1 s measured best on soundscapes; none for the others)."),
    per_file: bool = typer.Option(False, "--per-file", help="One row per recording: the label, confidence and top-k of its most confident window, an animal even when every window sounds like background unless --allow-background (for folders of short clips, each holding a call)."),
    animals_only: Optional[bool] = typer.Option(None, "--animals-only/--allow-background", help="With --per-file and a model with a background class: name every recording's most likely animal, never background (the default; probabilities over the animal classes), as clips in such folders each hold a call. --allow-background: a recording whose windows all sound like background gets a 'background' row."),
    fmt: Optional[str] = typer.Option(None, "--format", help="table, csv, json, raven or audacity. Default: table, or csv/json from the --out suffix."),
    out: Optional[Path] = typer.Option(None, "--out", help="File (csv, json) or folder (raven, audacity). Default: stdout."),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes across files (-1: all cores)."),
    backend: str = typer.Option("local", "--backend", help="local (this machine) or dask (one task per file on a cluster)."),
    scheduler: str = typer.Option(None, "--scheduler", envvar="ANIMALSND_DASK_SCHEDULER",
                                  help="Dask scheduler address (tcp://host:8786) or 'local'."),
    batch_size: int = typer.Option(64, "--batch-size", help="Windows per model call."),
    runtime: str = typer.Option("auto", "--runtime", help="auto, keras or tflite (model.tflite via LiteRT; auto uses it when present)."),
    calibration: bool = typer.Option(True, "--calibration/--no-calibration", help="Use the model folder's calibration.json (written by train --cv): calibrated probabilities and a confidence threshold per class for the precision it was trained for. --min-confidence or --unknown-below replace the thresholds."),
    min_support: Optional[int] = typer.Option(None, "--min-support", help="Report a window only when its label is the best class of at least this many (1-3) of the raw windows around it (itself and its two neighbours): a call fills the windows around it, a stray sound one. Default: the model's own (2 for stats-mlp, chosen on field-like soundscapes; 1 for the others)."),
    adapt: Optional[bool] = typer.Option(None, "--adapt/--no-adapt", help="Weigh the model's classes by how common each is in the data, estimated from its own probabilities (a site holds a few of the classes, in its own proportions). With --per-file on 10 or more files: among the files (the default). Window by window on a recording of 10 or more windows: its animals among its windows (the default for birdnet-head trained with a background class, measured better on field-like soundscapes; --adapt for other models). --no-adapt: every file and window on its own."),
    screen: bool = typer.Option(True, "--screen/--no-screen", help="birdnet-head trained with a background class: embed the double-speed view only for 3-s windows its one-view screen does not call background (faster on field recordings). --no-screen: both views everywhere."),
    context: bool = typer.Option(True, "--context/--no-context", help="birdnet-head: report a 3-s window only when it sounds more like its class's training clips than like the quietest stretches of the recording around it (noise the model never heard is not reported as an animal; a dense chorus loses some calls). --no-context: every window on its confidence alone."),
) -> None:
    """Classify recordings window by window with a trained model."""
    from animalsnd import export
    from animalsnd.predict import PredictOptions
    from animalsnd.predict import predict as run_predict

    fmt = _resolve_format(fmt, out)
    _check_out(out, fmt, paths, recursive=recursive)
    opts = PredictOptions(window_s=window, hop_s=hop, min_confidence=min_confidence, top_k=top_k,
                          unknown_below=unknown_below, merge=merge, batch_size=batch_size, per_file=per_file,
                          animals_only=animals_only, adapt=adapt,
                          calibrated=calibration, pool=pool, screen=screen, min_support=min_support,
                          context=context)
    with audio_progress("Predicting") as cb:
        run = run_predict(model_dir, paths, options=opts, recursive=recursive, jobs=jobs,
                          backend=backend, scheduler=scheduler,
                          runtime=runtime, progress=cb)
    for r in run.skipped:
        warn(f"skipped {r.path}: {r.error}")
    if not run.processed:
        fail(f"nothing could be processed: all {len(run.results)} input(s) skipped")

    k = min(top_k, len(run.classes))
    to_stdout = fmt in ("csv", "json") and out is None
    if fmt == "table":
        console.print(run_header(run), soft_wrap=True, markup=False)
        console.print(detections_table(run, top_k=k))
    elif fmt in ("csv", "json"):
        text = export.to_csv(run.rows, top_k=k) if fmt == "csv" else export.to_json(run.rows, top_k=k)
        export.write_text(text, sys.stdout if out is None else out)
    else:
        high = run.cfg.fmax if run.cfg.fmax is not None else run.cfg.sr / 2
        written = export.write_per_file([(r.path, r.rows) for r in run.processed], out, fmt=fmt,
                                        low_hz=run.cfg.fmin, high_hz=high)
    audio = run.audio_s
    line = (f"{len(run.processed)} file(s), {_fmt_duration(audio)} of audio, {len(run.rows)} row(s) "
            f"in {run.seconds:.1f} s ({_fmt_speed(audio, run.seconds)})")
    if run.screened and run.views is not None and fmt != "table":  # the table's header says it
        line += f"; double-speed view on {run.views[1]} of {run.views[0]} segments"
    if run.context_held and fmt != "table":
        line += f"; {run.context_held} window(s) held back by the context check (--no-context: none)"
    if run.adapted and fmt != "table":
        line += (f"; animals weighted by their share of each recording's windows in {run.adapted} recording(s) "
                 "(--no-adapt: none)")
    if run.folder_weights and fmt != "table":
        from animalsnd.render_eval import heaviest

        line += (f"; classes weighted by their share of the files (heaviest: {heaviest(run.folder_weights)}; "
                 "--no-adapt: each file on its own)")
    if fmt in ("raven", "audacity"):
        line += f"; wrote {len(written)} {fmt} file(s) to {out}"
    elif out is not None:
        line += f"; wrote {out}"
    if run.skipped:
        line += f"; skipped {len(run.skipped)}: " + ", ".join(str(r.path) for r in run.skipped)
    (err_console if to_stdout else console).print(line, soft_wrap=True, markup=False)
