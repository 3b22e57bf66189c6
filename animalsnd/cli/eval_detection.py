"""`animalsnd eval MODEL RECORDINGS --annotations DIR`: detection scored against annotations."""

from __future__ import annotations

from pathlib import Path

from animalsnd.cli._app import console, warn


def eval_detection(model_dir: Path, recordings: Path | None, annotations: Path | None, *,
                   json_out: Path | None, plots: Path | None, jobs: int, window: float | None = None,
                   hop: float | None = None, calibration: bool | None = None,
                   min_confidence: float | None = None, shift: float | None = None,
                   pool: str | None = None, screen: bool | None = None, context: bool | None = None,
                   adapt: bool | None = None) -> None:
    """Scan RECORDINGS with the model, score against the annotations, print, write JSON and PR plots."""
    from animalsnd.cache import atomic_write_text
    from animalsnd.detection import WindowScores, evaluate_detection
    from animalsnd.errors import ConfigError
    from animalsnd.predict import PredictOptions
    from animalsnd.render_detection import detection_line, detection_table, output_line, plot_pr_curves

    if annotations is None:
        raise ConfigError("RECORDINGS needs --annotations DIR (Raven selection tables or a file,start_s,end_s,label CSV)")
    if recordings is None:
        raise ConfigError("--annotations needs the RECORDINGS to score: animalsnd eval MODEL RECORDINGS --annotations DIR")
    from animalsnd.cli.predict import audio_progress

    scores = WindowScores(shifts_s=(shift,) if shift is not None else (), pooling=pool)  # bad values fail first
    with audio_progress("Scanning") as cb:
        report = evaluate_detection(model_dir, recordings, annotations, jobs=jobs, progress=cb, scores=scores,
                                    options=PredictOptions(window_s=window, hop_s=hop,
                                                           calibrated=calibration is not False,
                                                           min_confidence=min_confidence or 0.0,
                                                           screen=screen is not False,
                                                           context=context is not False, adapt=adapt))
    for line in report.problems:
        warn(line)
    summary = report.summary()
    console.print(f"{model_dir} on {len(report.files)} recording(s), {summary['audio_s'] / 60:.1f} min, "
                  f"{summary['events']} event(s); window {report.window_s:g} s, hop {report.hop_s:g} s")
    console.print(detection_table(summary))
    console.print(detection_line(summary))
    console.print(output_line(summary["output"]))
    if plots is not None:
        aps = {c: s.get("ap") for c, s in summary["per_class"].items()}
        written = plot_pr_curves(report.scores["curves"], plots, aps=aps)
        console.print(f"Wrote {len(written)} precision-recall plot(s) to {plots}")
    if json_out is not None:
        import json

        json_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_out, json.dumps(summary, indent=2) + "\n")
        console.print(f"Wrote {json_out}")
