"""`animalsnd augment`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from animalsnd.cli._app import app, console, handle_errors, progress_bar, warn


def _snr(v: float | None) -> str:
    return "-" if v is None else ("no noise" if v == float("inf") else f"{v:.1f}")


def augment_table(summary: list[dict], *, title: str) -> Table:
    """Per class: source clips, augmented copies, realised SNR (mean, min/max)."""
    t = Table(title=title, show_footer=True)
    total_src = sum(s["sources"] for s in summary)
    total_cp = sum(s["copies"] for s in summary)
    t.add_column("class", footer="total")
    t.add_column("source clips", justify="right", footer=str(total_src))
    t.add_column("augmented copies", justify="right", footer=str(total_cp))
    t.add_column("after", justify="right", footer=str(total_src + total_cp))
    t.add_column("mean SNR dB", justify="right")
    t.add_column("min / max dB", justify="right")
    for s in summary:
        t.add_row(
            s["label"], str(s["sources"]), str(s["copies"]), str(s["sources"] + s["copies"]),
            _snr(s["snr_mean"]), f"{_snr(s['snr_min'])} / {_snr(s['snr_max'])}",
        )
    return t


@app.command()
@handle_errors
def augment(
    cache_dir: Path = typer.Argument(..., help="A cache written by `animalsnd prepare`."),
    noise: Path = typer.Option(None, "--noise", help="Folder of background-noise recordings (searched recursively). Without it, --chain random makes chain-only copies (the clean clip through a random recording chain)."),
    mode: str = typer.Option("calibrated", "--mode", help="calibrated (active-level SNR, balanced classes) or simple (whole-clip SNR, 0:20 dB, random clips)."),
    snr: str = typer.Option(None, "--snr", help="SNR range LOW:HIGH in dB (default: 10:20 calibrated, 0:20 simple)."),
    per_class: int = typer.Option(None, "--per-class", help="Augmented copies per class (default: enough to bring every class to the size of the largest)."),
    name: str = typer.Option(None, "--name", help="Name of the augmented set, a folder under CACHE_DIR/augment (default: the mode)."),
    chain: str = typer.Option("none", "--chain", help="random: each copy also goes through a random recording chain (room, microphone colouring and roll-off, level and soft clipping, storage rate, encoding; docs/augmentation.md) so models learn the animal, not the recorder; none: noise only."),
    background_snr: str = typer.Option(None, "--background-snr", help="SNR range LOW:HIGH in dB of the copies of `background` clips, or 'same' (--snr's). Default -20:0: the noise dominates them, so the 'no animal' class also learns noise beds on their own."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise, offset, SNR and chain draws."),
    jobs: int = typer.Option(-1, "--jobs", help="Parallel workers (-1: all cores); the result does not depend on it."),
    backend: str = typer.Option("local", "--backend", help="local (processes on this machine) or dask (a cluster)."),
    scheduler: str = typer.Option(None, "--scheduler", envvar="ANIMALSND_DASK_SCHEDULER",
                                  help="Dask scheduler address (tcp://host:8786) or 'local'."),
) -> None:
    """Mix background noise into the cached clips at a measured SNR (optionally through random recording chains) and cache the features."""
    from animalsnd.augment.chain import parse_chain
    from animalsnd.augment.store import build_augmented

    parse_chain(chain)  # a bad value fails before any work

    with progress_bar("Mixing noise", unit="clips") as cb:
        res = build_augmented(cache_dir, noise, mode=mode, snr=snr, per_class=per_class,
                              name=name, seed=seed, jobs=jobs, backend=backend,
                              scheduler=scheduler, progress=cb, chain=chain,
                              background_snr=background_snr)
    lo, hi = res.snr_db
    through = ", then random recording chains" if parse_chain(chain) else ""
    what = (f"{lo:g} to {hi:g} dB against the {res.reference} level{through}" if noise is not None
            else "no noise, random recording chains only")
    console.print(augment_table(res.per_class(), title=f"Augmented set {res.name!r}: {res.mode}, {what}"))
    for w in res.warnings:
        warn(w)
    shares = res.noisy_shares()
    if res.mode == "calibrated" and shares and max(shares.values()) - min(shares.values()) > 0.3:
        lo, hi = min(shares, key=shares.get), max(shares, key=shares.get)
        console.print(
            f"[yellow]Note:[/] noisy copies make {shares[lo]:.0%} of {lo!r} and {shares[hi]:.0%} of {hi!r} "
            "after augmentation, so a model can learn noise as a sign of the classes with most copies; "
            "--per-class N gives every class N copies (docs/augmentation.md, 'Noise in every class')",
            soft_wrap=True,
        )
    made = f"{len(res.rows)} copies from {res.n_noises} noise file(s)" if noise is not None \
        else f"{len(res.rows)} chain-only copies"
    console.print(f"{made}; computed {res.computed}, reused {res.reused} -> {res.out_dir}", soft_wrap=True)
