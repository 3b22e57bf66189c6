"""`animalsnd demo`."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from animalsnd.cli._app import app, console, handle_errors, progress_bar, warn
from animalsnd.cli.predict import audio_progress, detections_table, run_header

_TITLES = {
    "prepare": "1/4 prepare: decode, features, folds (with synthetic background clips)",
    "train": "2/4 train: {model}, held-out fold 0",
    "eval": "3/4 eval: held-out fold 0",
    "predict": "4/4 predict: a synthetic field recording with calls at known times",
}


def truth_table(field) -> Table:
    """True calls of the field recording next to the detection that found each."""
    t = Table(title="Detections against the ground truth")
    for name, justify in [("true call", "left"), ("at s", "right"), ("detected", "left"),
                          ("detection s", "right"), ("", "center")]:
        t.add_column(name, justify=justify)
    for m in field.matches:
        span = f"{m.det_start_s:.1f}–{m.det_end_s:.1f}" if m.det_start_s is not None else ""
        mark = "[green]✓[/]" if m.found else "[red]✗[/]"
        t.add_row(escape(m.kind), f"{m.start_s:.1f}–{m.end_s:.1f}", escape(m.label or "—"), span, mark)
    return t


def outputs_note(outputs: dict, work: Path) -> str:
    """What the demo left in its folder, and the next command to try."""
    o = {k: Path(v) for k, v in outputs.items()}
    return (f"Left in {work}: {o['model']} (the model), {o['recording']}, {o['predictions']}, "
            f"{o['raven']}/ (a Raven selection table), {o['truth']} (the true calls), "
            f"{o['plots']}/ (eval figures). Next: animalsnd predict {o['model']} {o['recording']} "
            "--merge --unknown-below 0.5")


@app.command()
@handle_errors
def demo(
    data: Optional[Path] = typer.Option(None, "--data", help="A folder-per-class dataset. Default: the bundled sample_audio/."),
    workdir: Path = typer.Option(Path("demo"), "--workdir", help="Folder for the cache, model, recording, predictions, Raven table and figures; a re-run replaces an earlier demo's, any other non-empty folder is refused."),
    epochs: Optional[int] = typer.Option(None, "--epochs", envvar="ANIMALSND_DEMO_EPOCHS", help="Training epochs. [default: the model's recipe, 150]"),
    jobs: int = typer.Option(-1, "--jobs", help="Parallel workers for feature extraction (-1: all cores)."),
) -> None:
    """Run prepare, train, eval and predict on the bundled sample audio."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from animalsnd.cli.plain import make_progress

    from animalsnd.demo import DEMO_MODEL, check_workdir, run_demo, sample_audio_dir
    from animalsnd.render import prepare_table
    from animalsnd.render_eval import confusion_table, metrics_line, per_class_table

    t0 = time.perf_counter()
    data = data or sample_audio_dir()
    work = workdir
    check_workdir(work)  # before any work
    console.print(f"animalsnd demo on {data} (working in {work})", markup=False, soft_wrap=True)

    state: dict = {}
    bars = contextlib.ExitStack()  # one progress bar per step, closed when the step ends
    callbacks: dict = {}

    def on_start(step: str) -> None:
        console.rule(f"[bold]{_TITLES[step].format(model=DEMO_MODEL)}")
        if step == "prepare":
            callbacks["prepare"] = bars.enter_context(progress_bar("Extracting features"))
        elif step == "predict":
            callbacks["predict"] = bars.enter_context(audio_progress("Predicting"))
        elif step == "train":
            prog = make_progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("epochs"), TimeElapsedColumn(), TextColumn("{task.fields[stats]}"),
                                 console=console, unit="epochs", transient=False)
            state["prog"], state["task"] = prog, None
            prog.start()

    def on_epoch(s) -> None:
        prog = state["prog"]
        if state["task"] is None:
            state["task"] = prog.add_task("train", total=s.epochs, stats="")
        prog.update(state["task"], completed=s.epoch, stats=f"loss {s.loss:.3f} acc {s.accuracy:.3f}")

    def on_step(step: str, res) -> None:
        bars.close()
        if step == "prepare":
            console.print(prepare_table(res.rows))
            for r in res.failed:
                warn(f"{r['relpath']}: {r['error']}")
            console.print(f"{len(res.rows)} files, {len(res.classes)} classes, {res.n_folds} folds "
                          f"-> {res.cache_dir}", markup=False, soft_wrap=True)
        elif step == "train":
            state["prog"].stop()
            fold = res.folds[0]
            console.print(f"{fold.epochs_run} epochs in {fold.train_seconds:.0f} s, "
                          f"{fold.n_train} train / {fold.n_val} val / {fold.n_test} test clips -> {work / 'model'}",
                          markup=False, soft_wrap=True)
        elif step == "eval":
            console.print(f"held-out fold 0: {metrics_line(res.metrics)}")
            console.print(per_class_table(res.metrics))
            console.print(confusion_table(res.metrics, width=console.width))
        else:
            run = res.run
            console.print(f"{res.recording.name}: {len(res.truth)} calls in {run.audio_s:.0f} s; "
                          "predict --merge --unknown-below 0.5", markup=False, soft_wrap=True)
            console.print(run_header(run), markup=False, soft_wrap=True)
            table = detections_table(run, top_k=1)
            table.title = f"Merged detections in {res.recording.name}"
            console.print(table)
            console.print(truth_table(res))
            found = sum(m.found for m in res.matches)
            console.print(f"found {found} of {len(res.matches)} calls with the right label; "
                          f"{res.false_detections} detection(s) matched no call of their label", soft_wrap=True)

    try:
        result = run_demo(data_dir=data, workdir=work, epochs=epochs, jobs=jobs, on_start=on_start, on_step=on_step,
                 prepare_progress=lambda d, t: callbacks["prepare"](d, t), on_epoch=on_epoch,
                 predict_progress=lambda d, t: callbacks["predict"](d, t))
    finally:
        bars.close()
        if "prog" in state:
            state["prog"].stop()
    console.print(outputs_note(result.outputs, work), markup=False, soft_wrap=True)
    console.print(f"demo finished in {time.perf_counter() - t0:.0f} s; everything is in {work}", markup=False)
