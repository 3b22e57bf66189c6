"""`animalsnd review`: a page to verify detections, and `--import` of its decisions."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from animalsnd.cli._app import app, console, fail, handle_errors, progress_bar, warn


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _classes(text: Optional[str]) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _ci(row: dict | None) -> str:
    if not row or row.get("precision") is None:
        return "—"
    lo, hi = row["ci95"]
    return f"{row['precision']:.2f} ({lo:.2f}-{hi:.2f})"


def precision_rich(precision: dict) -> Table:
    """Per predicted class: detections, reviewed, accepted, precision of the reviewed cards and of all detections."""
    t = Table(title="Precision from the review, Wilson 95 % interval")
    for name in ("class", "found", "reviewed", "accepted", "precision", "all found"):
        t.add_column(name, justify="left" if name == "class" else "right")
    for label, r in precision.items():
        t.add_row(label, str(r["detections"]), str(r["reviewed"]["n"]), str(r["reviewed"]["accepted"]),
                  _ci(r["reviewed"]), _ci(r["estimate"]))
    t.caption = ("found: detections of the class; precision: of the reviewed cards; all found: the top cards "
                 "as decided, the rest at the rate of the random ones")
    return t


def _build(predictions: Path, out: Path, **kw) -> None:
    from animalsnd.review import build_review

    t0 = time.monotonic()
    with progress_bar("Cutting clips", unit="clips") as cb:
        folder = build_review(predictions, out, progress=cb, **kw)
    for p in folder.problems:
        warn(p)
    t = Table(title="Cards to review")
    t.add_column("class")
    t.add_column("detections", justify="right")
    t.add_column("cards", justify="right")
    for label, n in sorted(folder.per_class.items()):
        t.add_row(label, str(folder.detections_per_class.get(label, n)), str(n))
    console.print(t)
    console.print(f"wrote {folder.page} (review run {folder.run_id}): {folder.cards} card(s) of {folder.detections} detection(s), "
                  f"{len(folder.per_class)} class(es); folder {_size(folder.size_bytes)}, "
                  f"in {time.monotonic() - t0:.1f} s; open it in a browser (no server or network needed)",
                  soft_wrap=True, markup=False)


def _import(decisions: Path, out: Path, *, page: Optional[Path], classes: list[str], json_out: Optional[Path]) -> None:
    from animalsnd.review.importer import import_decisions

    report = import_decisions(decisions, out, page=page, classes=classes)
    for p in report.problems:
        warn(p)
    if report.precision:
        console.print(precision_rich(report.precision))
    json_out = json_out or out / "precision.json"
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report.summary(), indent=2) + "\n", encoding="utf-8")
    clips = ", ".join(f"{k} {v}" for k, v in sorted(report.written.items())) or "none"
    line = (f"imported {sum(report.written.values())} clip(s) into {out} ({clips}); "
            f"{report.pending} card(s) undecided")
    if report.kept:
        line += f"; {report.kept} clip(s) of earlier imports kept"
    console.print(line + f"; precision -> {json_out}", soft_wrap=True, markup=False)


@app.command()
@handle_errors
def review(
    predictions: Optional[Path] = typer.Argument(None, help="predict's CSV or JSON output."),
    out: Path = typer.Option(..., "--out", help="The review folder to write (index.html, clips/, spec/); with --import, the training folder to add clips to."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="The folder that holds the recordings now (default: their paths as written in PREDICTIONS)."),
    top: int = typer.Option(10, "--top", help="Most confident detections per class to review."),
    random: int = typer.Option(10, "--random", help="Detections per class drawn at random from the rest (an unbiased precision estimate)."),
    every: bool = typer.Option(False, "--all", help="Review every detection."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random draw."),
    context: float = typer.Option(1.0, "--context", help="Seconds of audio before and after each detection."),
    clip_format: str = typer.Option("flac", "--clip-format", help="flac (lossless) or ogg (Vorbis, smaller)."),
    fmax: Optional[float] = typer.Option(None, "--fmax", help="Top of the spectrograms in Hz (default: the Nyquist rate, at most 12 kHz)."),
    jobs: int = typer.Option(-1, "--jobs", help="Threads writing clips and images (-1: one per core)."),
    model: Optional[Path] = typer.Option(None, "--model", help="The model folder that made PREDICTIONS: its classes are offered for relabelling."),
    classes: Optional[str] = typer.Option(None, "--classes", help="More labels to offer for relabelling (and, with --import, to accept), comma-separated."),
    import_: Optional[Path] = typer.Option(None, "--import", help="A decisions CSV exported by the page: write its clips into --out."),
    page: Optional[Path] = typer.Option(None, "--page", help="With --import: the review folder (default: the CSV's folder)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="With --import: where to write the precision estimate (default: OUT/precision.json)."),
) -> None:
    """Write an offline page to verify detections; --import its decisions as training clips."""
    if import_ is not None:
        if predictions is not None:
            fail("give either PREDICTIONS (build a review page) or --import DECISIONS.csv, not both")
        _import(import_, out, page=page, classes=_classes(classes), json_out=json_out)
        return
    if predictions is None:
        fail("give PREDICTIONS (predict's CSV or JSON output) or --import DECISIONS.csv")
    extra = _classes(classes)
    if model is not None:
        from animalsnd.review.plan import model_classes

        extra += model_classes(model)
    _build(predictions, out, audio=audio, top=top, random=random, seed=seed, every=every,
           classes=extra, context_s=context, jobs=jobs, clip_format=clip_format.lower(), fmax=fmax)
