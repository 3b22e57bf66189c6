"""`animalsnd compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from animalsnd.cli._app import app, console, fail, warn
from animalsnd.errors import AnimalsndError


@app.command()
def compare(
    cache_dir: Path = typer.Argument(..., help="A feature cache made by `animalsnd prepare`."),
    variants: Optional[str] = typer.Option(None, "--variants", help="Comma-separated variant names; the two best models are stats-mlp (clip descriptors, from scratch) and birdnet-head (BirdNET embeddings, pip install -e \".[birdnet]\"), e.g. --variants enhanced,stats-mlp,birdnet-head; protonet too. [default: baseline, simple-noise, alexnet-mel, transformer-mel, enhanced, enhanced-no-noise, enhanced-no-specaugment, enhanced-no-class-weights]"),
    noise: Optional[Path] = typer.Option(None, "--noise", help="Noise folder for the variants trained with noise copies (the augmented sets are built or reused)."),
    folds: str = typer.Option("all", "--folds", help="'all', or N: the first N folds as test folds."),
    seeds: int = typer.Option(1, "--seeds", help="Seeds 0..N-1 per fold."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs for every variant (a cap with early stopping). [default: each variant's recipe]"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the table: .md, .csv or .json."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Folder for the figures (compare_*.png)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every variant's mean/std and runs as JSON."),
    jobs: int = typer.Option(-1, "--jobs", help="Worker processes for the runs (each with its share of TensorFlow threads), augmentation and noisy features (-1: all cores; 1: one run after another). Results do not depend on it."),
    backend: str = typer.Option("local", "--backend", help="local (processes on this machine) or dask (one task per run on a cluster; the cache folder must be shared)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", envvar="ANIMALSND_DASK_SCHEDULER", help="Dask scheduler address (tcp://host:8786) or 'local'."),
    eval_noise: Optional[Path] = typer.Option(None, "--eval-noise", help="Also score every run's test fold with this noise mixed in."),
    eval_snr: str = typer.Option("10,0", "--eval-snr", help="SNRs (dB) for --eval-noise, comma-separated."),
    eval_chain: Optional[str] = typer.Option(None, "--eval-chain", help="Also score every run's test fold re-rendered through these recording chains (the names of `eval --chain`, or 'default' or 'all'); the table gains the worst chain's accuracy drop, --out and --json each chain's accuracy."),
    per_class: Optional[int] = typer.Option(None, "--per-class", help="Noise copies per class for the variants trained with noise (as `augment --per-class`). [default: the study's balancing: copies top up the smaller classes only]"),
    report_only: bool = typer.Option(False, "--report-only", help="Train nothing: tabulate the runs already stored."),
) -> None:
    """Run an ablation table over model variants: mean ± std over folds and seeds, resumable."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from animalsnd.cli.plain import make_progress

    from animalsnd.augment.noise import parse_snr_list
    from animalsnd.cache import atomic_write_text
    from animalsnd.chains import parse_chains
    from animalsnd.compare import compare as run_compare
    from animalsnd.render_compare import compare_table, render, to_json, write_figures

    progress = make_progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
        console=console, transient=False,
    )
    state: dict = {"trained": 0, "task": None, "aug": None, "aug_done": False, "started": False}

    def bar(description: str, total: int, unit: str) -> int:
        if not state["started"]:
            progress.start()
            state["started"] = True
        return progress.add_task(description, total=total, completed=0, unit=unit, last="")

    def on_augment(done: int, total: int) -> None:
        if total == 0:
            return
        if state["aug"] is None or state["aug_done"]:  # a new augmented set
            state["aug"] = bar("Mixing noise", total, "clips")
        progress.update(state["aug"], completed=done, total=total)
        state["aug_done"] = done >= total

    def on_start(info: dict) -> None:
        for mode, name in info["augmented"].items():
            progress.console.print(f"[dim]{mode} noise copies: augmented set {name!r}[/]")
        progress.console.print(
            f"[dim]{len(info['variants'])} variant(s) x {len(info['folds'])} fold(s) x {len(info['seeds'])} "
            f"seed(s) = {info['total']} runs; {info['stored']} already stored"
            + (f"; on {info['pool']}" if info.get("pool") and info["total"] > info["stored"] else "") + "[/]")
        if not report_only:
            state["task"] = bar("Comparing", info["total"], "runs")

    def on_run(r) -> None:
        if not r.reused:
            state["trained"] += 1
        if not r.reused:
            rec = r.record
            progress.console.print(
                f"[dim]{r.variant} fold {r.fold} seed {r.seed}: accuracy {rec['accuracy']:.3f}, macro F1 "
                f"{rec['macro_f1']:.3f}"
                + "".join(f", acc@{s}dB {d['accuracy']:.3f}" for s, d in rec["noisy"].items())
                + "".join(f", acc@{c} {d['accuracy']:.3f}" for c, d in rec.get("chains", {}).items())
                + f"; {rec['epochs_run']} epochs, {rec['train_seconds']:.0f} s[/]", soft_wrap=True)
        if state["task"] is not None:
            how = "stored" if r.reused else f"{r.record['train_seconds']:.0f} s"
            progress.update(state["task"], completed=r.done,
                            last=f"{r.variant} fold {r.fold} seed {r.seed}: acc {r.record['accuracy']:.3f} ({how})")

    try:
        if out is not None and out.suffix.lower() not in (".md", ".csv", ".json"):
            fail(f"--out {out}: the file name must end in .md, .csv or .json")
        snrs = parse_snr_list(eval_snr)
        chains = parse_chains(eval_chain, option="--eval-chain") if eval_chain is not None else None
        res = run_compare(cache_dir, variants=variants, noise_dir=noise, folds=folds, seeds=seeds,
                          epochs=epochs, jobs=jobs, backend=backend, scheduler=scheduler,
                          eval_noise=eval_noise, eval_snr=snrs, eval_chain=chains,
                          report_only=report_only, per_class=per_class, on_run=on_run, on_start=on_start,
                          augment_progress=on_augment)
    except AnimalsndError as exc:
        progress.stop()
        fail(str(exc))
    except KeyboardInterrupt:
        progress.stop()
        fail(f"interrupted; {state['trained']} run(s) finished in this call are stored in "
             f"{cache_dir / 'compare' / 'runs'} and a re-run resumes from there", 130)
    progress.stop()

    summary = res.summary()
    console.print(compare_table(summary, width=console.width))
    for note in res.notes:
        warn(note)
    written = []
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, render(summary, out))
        written.append(str(out))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_out, to_json(summary))
        written.append(str(json_out))
    if plots is not None:
        written += [str(p) for p in write_figures(summary, plots)]
    line = f"trained {res.trained} run(s), reused {res.reused} from {cache_dir / 'compare' / 'runs'}"
    if written:
        line += "; wrote " + ", ".join(written)
    console.print(line, soft_wrap=True, markup=False)
