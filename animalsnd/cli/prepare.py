"""`animalsnd prepare`."""

from __future__ import annotations

from pathlib import Path

import typer

from animalsnd.cli._app import app, console, handle_errors, progress_bar, warn


@app.command()
@handle_errors
def prepare(
    data_dir: Path = typer.Argument(..., help="Folder with one sub-folder of recordings per class."),
    cache: Path = typer.Option(..., "--cache", help="Where features, manifest.csv and config.json go."),
    sr: int = typer.Option(16000, "--sr", help="Sample rate (Hz) audio is resampled to."),
    n_mels: int = typer.Option(128, "--n-mels", help="Mel bands."),
    n_fft: int = typer.Option(1024, "--n-fft", help="FFT size (samples)."),
    hop_length: int = typer.Option(512, "--hop-length", help="Hop between frames (samples)."),
    frames: int = typer.Option(500, "--frames", help="Frames per clip (pad or crop)."),
    norm: str = typer.Option("band", "--norm", help="z-normalisation per Mel band ('band', the study's), over the whole clip ('clip', keeps the bands' relative levels), per-channel energy normalisation then over the clip ('pcen'), or each band's level above its median, the clip's steady background, with what lies below set to 0 ('floor')."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds (stratified, duplicates grouped)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the fold assignment."),
    jobs: int = typer.Option(-1, "--jobs", help="Parallel workers (-1: all cores)."),
    min_per_class: int = typer.Option(2, "--min-per-class", help="Classes with fewer usable clips are reported and left out."),
    cutoff: str = typer.Option("auto", "--cutoff", help="Analysis bandwidth in Hz: nothing above it reaches any model (log-Mel, descriptors, BirdNET input), in prepare, eval and predict alike. 'auto' (default): the bandwidth nearly every recording carries, measured on the audio, so a class recorded with a wider-band chain cannot be told by its bandwidth; 'none': the full band (the study's)."),
    trim: bool = typer.Option(True, "--trim/--no-trim", help="Cut each clip to its active region (from the first to the last frame within 30 dB of its loudest) before its log-Mel features are computed, so a call inside a longer, quieter recording looks like the training clips; predict's windows are never cut. --no-trim: the whole clip (the study's)."),
    preset: str = typer.Option("default", "--preset", help="'default' (the settings that hold up best on recordings from elsewhere) or 'study' (the published pipeline exactly: per-band z-normalisation, the full band, whole clips; --cutoff, --norm and --trim are then ignored)."),
    backend: str = typer.Option("local", "--backend", help="local (processes on this machine) or dask (a cluster)."),
    scheduler: str = typer.Option(None, "--scheduler", envvar="ANIMALSND_DASK_SCHEDULER",
                                  help="Dask scheduler address (tcp://host:8786) or 'local'."),
    background: Path = typer.Option(None, "--background", help="Folder tree of non-target audio (wind, rain, people, machines), searched recursively: added as the reserved class 'background', which predict never reports. Merged with a DATA_DIR/background folder if there is one."),
    label_map: str = typer.Option(None, "--map", help="Prepare folders under other names as one class: hen=chicken,rooster=chicken,crow=bird, or a CSV file of folder,class rows."),
    annotations: Path = typer.Option(None, "--annotations", help="Raven Pro selection tables (or file,start_s,end_s,label CSVs) for the long recordings in DATA_DIR: a clip is cut around each selection (0.5 s each side, at least 1 s) and background clips from the unannotated stretches, into CACHE/clips, which is then prepared."),
) -> None:
    """Decode, featurise (log-Mel) and fold a folder-per-class dataset into a cache."""
    from animalsnd.cache import prepare as run
    from animalsnd.config import FeatureConfig
    from animalsnd.dataset import looped_links
    from animalsnd.fileutil import check_output_folder
    from animalsnd.render import prepare_table

    check_output_folder(cache, "--cache", inputs=[data_dir])  # before any work
    from animalsnd.parallel import check_backend

    check_backend(backend, scheduler)
    if annotations is not None:
        from animalsnd.cli.prepare_annotated import cut_clips

        data_dir = cut_clips(data_dir, annotations, cache)
    background_clips = []
    if background is not None:
        from animalsnd.background import discover_background

        # a missing or audio-less --background is refused before any work
        background_clips = [str(r.path) for r in discover_background(background)]
    from animalsnd.audit import choose_cutoff
    from animalsnd.presets import feature_preset

    norm, cutoff, trim = feature_preset(preset, norm=norm, cutoff=cutoff, trim=trim)
    FeatureConfig(sr=sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, frames=frames, norm=norm)  # checks first
    with progress_bar("Measuring bandwidth") as cb:
        fmax = choose_cutoff(data_dir, sr=sr, cutoff=cutoff, jobs=jobs, progress=cb, extra=background_clips)
    cfg = FeatureConfig(sr=sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, frames=frames, norm=norm,
                        fmax=fmax, trim=trim)
    console.print(f"analysis bandwidth: {'the full band' if fmax is None else f'0-{fmax:.0f} Hz'}"
                  + (" (measured: --cutoff auto)" if str(cutoff).lower() == "auto" else "")
                  + ("; clips cut to their active region (--no-trim: whole clips)" if trim else ""))
    from animalsnd.labelmap import parse_map, unused_entries, using

    mapping = parse_map(label_map)
    for name in unused_entries(mapping, data_dir):
        warn(f"--map {name}={mapping[name]}: {data_dir} has no folder {name!r}")
    with progress_bar("Extracting features") as cb, using(mapping):
        res = run(data_dir, cache, cfg=cfg, folds=folds, seed=seed, jobs=jobs,
                  min_per_class=min_per_class, backend=backend, scheduler=scheduler, progress=cb,
                  background=background)
    console.print(prepare_table(res.rows))
    for r in res.failed:
        warn(f"{r['relpath']}: {r['error']}")
    for label, n in res.low_classes.items():
        warn(f"class {label!r} has {n} usable clip(s), fewer than --min-per-class {min_per_class}; left out")
    for link in looped_links(data_dir):
        warn(f"{link}: a link back into the data folder; skipped")
    for label, n in res.small_classes.items():
        warn(f"class {label!r} has {n} unique clip(s), fewer than --folds {folds}; placed in {n} of the folds")
    for kept, dropped in res.label_conflicts:
        warn(f"{dropped} is the same recording as {kept} under another label; only {kept} is used "
             "(move or delete one copy)")
    for k, labels in res.missing_in_fold.items():
        warn(f"fold {k} has no clip of: {', '.join(labels)}")
    dups = sum(1 for r in res.rows if r["duplicate_of"])
    console.print(
        f"{len(res.rows)} files, {len(res.failed)} failed, {dups} exact duplicates "
        f"(kept in one fold), {len(res.classes)} classes, {res.n_folds} folds; "
        f"computed {res.computed}, reused {res.reused} from cache -> {cache}"
    )
    from animalsnd.cli.audit import warn_if_shortcut

    warn_if_shortcut(cache, jobs=jobs)
