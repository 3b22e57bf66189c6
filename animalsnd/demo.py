"""The whole pipeline on the bundled synthetic dataset, as one library call.

``run_demo`` prepares ``sample_audio/`` (or another folder-per-class
dataset) with synthetic background clips as a "no animal" class, trains a
fast model on folds 1-4, evaluates it on held-out fold 0,
then writes a synthetic field recording with calls at known times and
predicts it window by window. Each step reports through callbacks, so the
CLI draws tables while the library stays silent.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import animalsnd
from animalsnd.errors import DatasetError

#: The model the demo trains, with its own recipe (150 epochs on clip descriptors,
#: no validation split): the most accurate model trained from scratch, and fast.
DEMO_TRAIN: dict = {}
DEMO_MODEL = "stats-mlp"
#: Synthetic "no animal" clips the demo adds as the background class, so that a
#: window of background alone is dropped instead of given the nearest animal.
BACKGROUND_CLIPS = 20
STEPS = ("prepare", "train", "eval", "predict")
#: ``animalsnd demo`` works in this folder (relative to the current one) by default.
DEMO_DIR = "demo"
#: The file that marks a folder as the demo's own (so a re-run may replace its outputs).
MARKER = ".animalsnd-demo"
#: The predict options of the demo's field recording (the model's own windows: 2 s every 1 s, max-pooled).
DEMO_PREDICT = dict(merge=True, unknown_below=0.5)


def sample_audio_dir() -> Path:
    """The ``sample_audio/`` folder shipped next to the package."""
    return Path(animalsnd.__file__).resolve().parents[1] / "sample_audio"


@dataclass
class CallMatch:
    """One true call of the field recording and the detection that found it."""

    kind: str
    start_s: float
    end_s: float
    label: str = ""  # label of the best overlapping detection ("" when none)
    det_start_s: float | None = None
    det_end_s: float | None = None

    @property
    def found(self) -> bool:
        return self.label == self.kind


@dataclass
class FieldResult:
    """The predict step: the recording, its truth, the run and the matching."""

    recording: Path
    truth: list[tuple[str, float, float]]
    run: object  # animalsnd.predict.PredictRun
    matches: list[CallMatch] = field(default_factory=list)
    false_detections: int = 0

    @property
    def recall(self) -> float:
        return sum(m.found for m in self.matches) / len(self.matches) if self.matches else float("nan")


@dataclass
class DemoResult:
    workdir: Path
    prepare: object
    train: object
    eval: object
    field: FieldResult
    outputs: dict[str, Path] = field(default_factory=dict)  # what the demo left in ``workdir``


def check_workdir(work: Path) -> None:
    """Refuse a ``--workdir`` that holds anything but an earlier demo's outputs.

    Raises
    ------
    ConfigError
        ``work`` is a file, or a non-empty folder without :data:`MARKER`.
    """
    from animalsnd.errors import ConfigError

    if work.exists() and not work.is_dir():
        raise ConfigError(f"{work}: exists and is not a folder; pass --workdir NEW_FOLDER")
    if work.is_dir() and any(work.iterdir()) and not (work / MARKER).is_file():
        raise ConfigError(f"{work}: folder exists and was not made by `animalsnd demo`; "
                          "pass --workdir NEW_FOLDER or remove it")


def write_outputs(work: Path, report, fr: FieldResult) -> dict[str, Path]:
    """Leave what the demo found in ``work``: predictions, Raven table, truth, eval figures."""
    from animalsnd import export
    from animalsnd.render_eval import plot_confusion, plot_per_class

    run = fr.run
    out = {"model": work / "model", "recording": fr.recording}
    export.write_text(export.to_csv(run.rows), work / "predictions.csv")
    out["predictions"] = work / "predictions.csv"
    high = run.cfg.fmax if run.cfg.fmax is not None else run.cfg.sr / 2
    export.write_per_file([(r.path, r.rows) for r in run.processed], work / "raven", fmt="raven",
                          low_hz=run.cfg.fmin, high_hz=high)
    out["raven"] = work / "raven"
    truth = "".join(f"{fr.recording.name},{s:.3f},{e:.3f},{k}\n" for k, s, e in fr.truth)
    export.write_text("file,start_s,end_s,label\n" + truth, work / "truth.csv")
    out["truth"] = work / "truth.csv"
    plot_confusion(report.metrics, work / "plots" / "confusion_matrix.png")
    plot_per_class(report.metrics, work / "plots" / "per_class.png")
    out["plots"] = work / "plots"
    return out


def match_calls(truth, rows, *, ignore=("unknown",)) -> tuple[list[CallMatch], int]:
    """Pair each true call with the overlapping detection of the same label.

    Parameters
    ----------
    truth : list of (kind, start_s, end_s)
    rows : list of Detection
        Merged detections of one file.
    ignore : labels that are not detections (``unknown``).

    Returns
    -------
    matches : list of CallMatch
        When no detection of the right label overlaps a call, the most
        confident overlapping one (of any label) is reported instead.
    false_detections : int
        Detections that overlap no call of their label.
    """
    dets = [d for d in rows if d.label not in ignore]
    used: set[int] = set()
    out = []
    for kind, s, e in truth:
        over = [i for i, d in enumerate(dets) if d.start_s < e and d.end_s > s]
        right = [i for i in over if dets[i].label == kind]
        pick = right or sorted(over, key=lambda i: -dets[i].confidence)[:1]
        used.update(right)
        if pick:
            d = dets[pick[0]]
            out.append(CallMatch(kind, s, e, d.label, d.start_s, d.end_s))
        else:
            out.append(CallMatch(kind, s, e))
    return out, len(dets) - len(used)


def background_clips(folder: Path, *, n: int = BACKGROUND_CLIPS, seed: int = 0) -> Path:
    """``n`` clips of 2-4 s of the field recording's kind of background (pink noise at -50 to -35 dBFS)."""
    import soundfile as sf

    from animalsnd.synth import SR, long_recording

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 7])
    for i in range(n):
        y, _ = long_recording(rng, duration_s=float(rng.uniform(2, 4)), calls=[],
                              background_db=float(rng.uniform(-50, -35)))
        sf.write(folder / f"background_{i:02d}.flac", y, SR)
    return folder


def field_recording(path: Path, kinds: list[str], *, seconds: float, seed: int = 0):
    """Write a synthetic recording with one call every 12 s; return its truth."""
    import soundfile as sf

    from animalsnd.synth import SR, long_recording

    rng = np.random.default_rng(seed)
    onsets = np.arange(3.0, seconds - 4.0, 12.0)
    order = [kinds[i % len(kinds)] for i in rng.permutation(len(onsets))]
    calls = [(k, float(t + rng.uniform(0, 2))) for k, t in zip(order, onsets)]
    y, truth = long_recording(rng, duration_s=seconds, calls=calls)
    sf.write(path, y, SR, subtype="PCM_16")
    return truth


def run_demo(
    *,
    data_dir: str | Path | None = None,
    workdir: str | Path | None = None,
    epochs: int | None = None,
    recording_s: float = 96.0,
    jobs: int = -1,
    seed: int = 0,
    on_start: Callable[[str], None] | None = None,
    on_step: Callable[[str, object], None] | None = None,
    prepare_progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable | None = None,
    predict_progress: Callable[[float, float], None] | None = None,
) -> DemoResult:
    """prepare -> train -> eval -> predict, reporting each step.

    Parameters
    ----------
    data_dir : path, optional
        Folder-per-class dataset (default: :func:`sample_audio_dir`).
    workdir : path, optional
        Where the cache, the model, the field recording and the outputs go
        (:func:`write_outputs`; default: a new temporary folder, left in
        place). An earlier demo's folder is reused (its cache is kept, the
        rest replaced); any other non-empty folder is refused.
    epochs : int, optional
        Training epochs (default: the recipe of :data:`DEMO_MODEL`).
    recording_s : float
        Length of the synthetic field recording.
    on_start : callable, optional
        ``on_start(step)`` before each of :data:`STEPS`.
    on_step : callable, optional
        ``on_step(step, result)`` after each: a PrepareResult, TrainRun,
        EvalReport and :class:`FieldResult`.

    Raises
    ------
    DatasetError
        Missing or unusable dataset.
    ConfigError
        A ``workdir`` that is not a demo's folder (:func:`check_workdir`).
    """
    import shutil

    from animalsnd.cache import prepare
    from animalsnd.evaluate import evaluate
    from animalsnd.predict import PredictOptions, predict
    from animalsnd.synth import CLASSES
    from animalsnd.train import TrainConfig, train

    data_dir = Path(data_dir) if data_dir is not None else sample_audio_dir()
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: data folder does not exist")
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="animalsnd-demo-"))
    check_workdir(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).write_text("made by `animalsnd demo`; a re-run replaces everything here but cache/\n")
    for old in ("model", "raven", "plots"):
        shutil.rmtree(work / old, ignore_errors=True)
    start = on_start or (lambda step: None)
    done = on_step or (lambda step, result: None)

    start("prepare")
    background = background_clips(work / "background", seed=seed).absolute()  # worker processes may have another cwd
    prep = prepare(data_dir, work / "cache", background=background, jobs=jobs, seed=seed, progress=prepare_progress)
    done("prepare", prep)

    start("train")
    config = TrainConfig.for_model(DEMO_MODEL, **{**DEMO_TRAIN, "epochs": epochs}, seed=seed)  # None: recipe
    trained = train(work / "cache", work / "model", config=config, test_fold=0, on_epoch=on_epoch)
    done("train", trained)

    start("eval")
    report = evaluate(work / "model", jobs=jobs)
    done("eval", report)

    start("predict")
    kinds = [k for k in CLASSES if k in trained.classes] or list(CLASSES)
    recording = work / "field_recording.wav"
    truth = field_recording(recording, kinds, seconds=recording_s, seed=seed)
    run = predict(work / "model", [recording], options=PredictOptions(**DEMO_PREDICT), progress=predict_progress)
    matches, false = match_calls(truth, run.rows)
    fr = FieldResult(recording, truth, run, matches, false)
    outputs = write_outputs(work, report, fr)
    done("predict", fr)
    return DemoResult(work, prep, trained, report, fr, outputs)
