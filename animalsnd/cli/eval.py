"""`animalsnd eval`."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer

from animalsnd.cli._app import app, console, handle_errors, progress_bar, warn


@app.command(name="eval")
@handle_errors
def eval_(
    model_dir: Path = typer.Argument(..., help="A model folder from `animalsnd train` (or its --cv parent)."),
    recordings: Optional[Path] = typer.Argument(None, help="With --annotations: a folder (searched recursively) or file of long recordings to score detection on."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", help="Folder of Raven selection tables (<stem>.Table.1.selections.txt or <stem>.txt) or file,start_s,end_s,label CSVs for RECORDINGS: score detection (window AP per class, mAP, precision/recall/F1 of predict's default output)."),
    window: Optional[float] = typer.Option(None, "--window", help="With --annotations: predict's --window (seconds). [default: the model's]"),
    hop: Optional[float] = typer.Option(None, "--hop", help="With --annotations: predict's --hop (seconds). [default: half a window]"),
    calibration: Optional[bool] = typer.Option(None, "--calibration/--no-calibration", help="With --annotations: score predict's output with (default) or without the model folder's calibration.json, as predict --no-calibration does."),
    shift: Optional[float] = typer.Option(None, "--shift", help="With --annotations: also scan every recording started this many seconds later and interleave the two grids of windows (birdnet-head, whose hop is a multiple of its 3-s window: --shift 1.5 gives a window every 1.5 s)."),
    pool: Optional[str] = typer.Option(None, "--pool", help="With --annotations: pool each window's scores with the windows overlapping it by half a window: none, max or mean. [default: the model's own, as predict: max for stats-mlp, none for the others]"),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", help="With --annotations: predict's --min-confidence; it replaces the calibration (temperature and per-class thresholds)."),
    screen: Optional[bool] = typer.Option(None, "--screen/--no-screen", help="With --annotations: birdnet-head's one-view screen on (default, as predict) or off (both BirdNET views on every window)."),
    context: Optional[bool] = typer.Option(None, "--context/--no-context", help="With --annotations: birdnet-head's context check on (default, as predict: a window is reported only when it sounds more like its class than like the recording's quietest stretches) or off. Window AP does not change; the output's rows do. Not applied with --shift or --pool, whose rows are remade from pooled scores."),
    data: Optional[Path] = typer.Option(None, "--data", help="A prepared cache or a raw folder-per-class directory. [default: the model's own held-out fold]"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON."),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="Write a CSV row per scored clip: its path, fold, label, the predicted class, confidence, correct (1/0) and top 3 (and the best animal class for a model with a background class): the clips to listen to."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Folder for confusion-matrix and per-class PNGs."),
    jobs: int = typer.Option(-1, "--jobs", help="Parallel workers for raw-folder features (-1: all cores)."),
    noise: Optional[Path] = typer.Option(None, "--noise", help="Also score with background noise from this folder (searched recursively) mixed into every clip."),
    snr: Optional[str] = typer.Option(None, "--snr", help="SNRs in dB for --noise, comma-separated. [default: 20,10,5,0]"),
    chain: Optional[str] = typer.Option(None, "--chain", help="Also score every clip re-rendered through other recording chains: comma-separated names from 8k, 11k, 22k, 44k-lowpass, 44k-full, mp3, ogg, phone, dull-mic, hot, quiet, room, or 'default' (the first six) or 'all'. A model that listens to the animal, not the recorder, keeps its score."),
    label_map: Optional[str] = typer.Option(None, "--map", help="Score --data folders under other names as model classes: hen=chicken,rooster=chicken,crow=bird, or a CSV file of folder,class rows."),
    adapt: Optional[bool] = typer.Option(None, "--adapt/--no-adapt", help="With --data: weigh the model's classes by how common each is among these clips, estimated from its own probabilities on them (a site holds a few of the classes, in its own proportions), as predict --per-file does for a folder of 10 or more clips (the default); --no-adapt: every clip on its own (both figures are printed). With --annotations: as predict window by window (each recording's animals by their share of its windows; the default for birdnet-head with a background class)."),
    allow_background: bool = typer.Option(False, "--allow-background", help="A model with a background class on --data with no background clip: count a clip the model calls background as wrong. Default: each clip scored as its most likely animal, as predict --per-file names clips (both figures are printed)."),
) -> None:
    """Score a trained model: accuracy, F1, per-class table and confusion matrix."""
    from animalsnd.fileutil import check_output_file, check_output_folder
    from animalsnd.parallel import check_jobs

    check_jobs(jobs)  # before any work
    check_output_file(json_out, "--json")
    check_output_file(predictions, "--predictions")
    check_output_folder(plots, "--plots")
    if annotations is not None or recordings is not None:
        from animalsnd.cli.eval_detection import eval_detection

        for flag, given in (("--predictions", predictions is not None), ("--allow-background", allow_background)):
            if given:
                from animalsnd.errors import ConfigError

                raise ConfigError(f"{flag} is for labelled clips; long recordings are scored window by window "
                                  "(use `animalsnd predict` for their rows)")

        return eval_detection(model_dir, recordings, annotations, json_out=json_out, plots=plots, jobs=jobs,
                              window=window, hop=hop, calibration=calibration, min_confidence=min_confidence,
                              shift=shift, pool=pool, screen=screen, context=context, adapt=adapt)
    for flag, value in (("--no-calibration", calibration), ("--min-confidence", min_confidence), ("--shift", shift),
                        ("--pool", pool), ("--no-screen", screen), ("--no-context", context)):
        if value is not None:
            from animalsnd.errors import ConfigError

            raise ConfigError(f"{flag} scores predict's output on long recordings: it needs RECORDINGS --annotations DIR")
    from animalsnd.cache import atomic_write_text
    from animalsnd.evaluate import evaluate, is_cache
    from animalsnd.render_eval import (
        confusion_table,
        folds_table,
        heaviest,
        mean_std_line,
        metrics_line,
        per_class_table,
        plot_confusion,
        plot_per_class,
    )

    from animalsnd.errors import ConfigError
    from animalsnd.labelmap import parse_map

    from animalsnd.chains import parse_chains

    names = parse_chains(chain) if chain is not None else []  # a bad name fails before any work
    snrs = None
    if snr is not None and noise is None:
        raise ConfigError("--snr needs --noise NOISE_DIR")
    if label_map is not None and data is None:
        raise ConfigError("--map needs --data DIR (the model's own held-out fold has its classes)")
    mapping = parse_map(label_map)
    if noise is not None:
        from animalsnd.augment.noise import parse_snr_list
        from animalsnd.augment.noisebank import load_noise_bank
        from animalsnd.bundle import find_bundles, load_bundle

        snrs = parse_snr_list(snr or "20,10,5,0")
        # an empty or unusable noise folder fails before any scoring
        load_noise_bank(noise, sr=load_bundle(find_bundles(model_dir)[0]).cfg.sr)
    raw = data is not None and data.is_dir() and not is_cache(data)
    with progress_bar("Extracting features") if raw else nullcontext(None) as cb:
        report = evaluate(model_dir, data=data, jobs=jobs, progress=cb, label_map=mapping,
                          allow_background=allow_background, adapt=adapt is not False)
    for w in report.warnings():
        warn(w)
    summary = report.summary()
    m = report.metrics
    if report.is_cv:
        source = "each fold's held-out clips" if data is None else str(data)
        console.print(f"{model_dir}: {len(report.runs)} fold models on {source}")
        console.print(folds_table(summary["folds"], summary["mean"], summary["std"], title="Per fold"))
        console.print(f"mean ± std: {mean_std_line(summary['mean'], summary['std'])}")
        console.print(f"all predictions together: {metrics_line(m)}")
    else:
        model = f"mean of {report.averaged} fold models" if report.averaged else "1 model"
        console.print(f"{model_dir} ({model}, as predict uses it) on {report.runs[0].data.source}", markup=False,
                      soft_wrap=True)
        console.print(metrics_line(m))
    console.print(per_class_table(m))
    console.print(confusion_table(m, width=console.width))
    if data is None or report.is_cv:
        console.print("[dim]These held-out clips share the training clips' recorders: recordings from elsewhere "
                      "usually score lower (README, 'Which model for which job'); measure that with --chain all, "
                      "or --data on clips from other recorders.[/dim]")
    if report.folder_weights is not None:
        console.print(f"Classes weighted by how common each is among these {m['n']} clips, estimated from the "
                      f"model's probabilities (heaviest: {heaviest(summary['folder_weights'])}); every clip on "
                      "its own (--no-adapt): "
                      f"{metrics_line(summary['without_adapting'])}")
    if report.animals_only:
        a = summary["animal_classes_only"]
        console.print(f"No clip here is labelled background: each is scored as its most likely animal, as "
                      f"predict --per-file names it. The model as it is calls {a['called_background']} of the "
                      f"{a['n']} background (accuracy {a['accuracy_with_background']:.3f} counting them wrong: "
                      "--allow-background).")
    elif "animal_classes_only" in summary:
        a = summary["animal_classes_only"]
        console.print(f"among the animal classes only (background never chosen; {a['n']} animal clips, "
                      f"{a['called_background']} of them called background above): {metrics_line(a)}")
    if noise is not None:
        from animalsnd.evaluate import evaluate_noise
        from animalsnd.render_compare import plot_snr, snr_table

        with progress_bar("Mixing noise", unit="SNR x data sets") as cb:
            noisy = evaluate_noise(report, noise, snrs=snrs, jobs=jobs, progress=cb)
        for name, why in noisy.skipped:
            warn(f"noise {name}: {why}; skipped")
        summary["snr"] = noisy.summary()
        console.print(snr_table(summary["snr"], title=f"Noise robustness: {noise} ({noisy.n_noises} file(s))"))
    if chain is not None:
        from animalsnd.chain_eval import chain_labels, evaluate_chains
        from animalsnd.render_eval import chain_table

        with progress_bar("Rendering chains", unit="chains x data sets") as cb:
            chained = evaluate_chains(report, names, jobs=jobs, progress=cb)
        for line in chained.problems:
            warn(line)
        summary["chain"] = chained.summary()
        if chained.problems:
            summary["chain"]["problems"] = list(chained.problems)
        console.print(chain_table(summary["chain"], chain_labels(names)))
        console.print(f"largest loss against clean: {summary['chain']['worst_drop']:.3f}")
    if plots is not None:
        cm_png = plot_confusion(m, plots / "confusion_matrix.png")
        pc_png = plot_per_class(m, plots / "per_class.png")
        console.print(f"Wrote {cm_png} and {pc_png}")
        if noise is not None:
            console.print(f"Wrote {plot_snr(summary['snr'], plots / 'snr.png')}")
    if predictions is not None:
        from animalsnd.fileutil import atomic_write_csv

        rows = report.clip_rows()
        predictions.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_csv(predictions, rows, list(rows[0]))
        wrong = sum(1 - r["correct"] for r in rows)
        console.print(f"Wrote {predictions} ({len(rows)} clips, {wrong} wrong)")
    if json_out is not None:
        import json

        json_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_out, json.dumps(summary, indent=2) + "\n")
        console.print(f"Wrote {json_out}")
