"""Apply a trained model to recordings of any length: files in, rows out.

::

    paths --collect_inputs--> audio files
          --load_predictor---> the model family's streaming predictor (folds averaged)
          --predictor.scan---> class probabilities per window of each file
          --detections-------> rows (top-k, unknown, thresholds, merged runs, per file)

The predictor and its window plan come from the bundle's family
(:func:`animalsnd.families.predictor_for`); this module knows none of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd import families
from animalsnd.audio import is_audio_file
from animalsnd.errors import AudioError, ConfigError
from animalsnd.predict.adapt import adapt_to_folder, adapt_windows, bundle_meta, per_file, with_calibration
from animalsnd.predict.detections import Detection, detections, drop_padded_tail
from animalsnd.windows import check_window_hop

__all__ = ["FileResult", "PredictOptions", "PredictRun", "collect_inputs", "default_min_support", "default_pool",
           "load_predictor", "option_rows", "predict", "predict_file", "window_plan", "with_calibration"]

#: ``progress(done_seconds, total_seconds)`` over the audio of all inputs.
Progress = Callable[[float, float], None]


def load_predictor(model_dir: str | Path, *, runtime: str = "auto", threads: int | None = None):
    """The streaming predictor of a bundle folder or a folder of ``fold-<k>`` bundles (their mean).

    Raises
    ------
    BundleError
        Missing folder, no bundle, corrupt bundle, folds that disagree.
    """
    return families.predictor_for(families.open_bundles(model_dir), runtime=runtime, threads=threads)


def default_min_support(predictor) -> int:
    """The model's own persistence rule (:attr:`PredictOptions.min_support`; 1 unless its family says otherwise)."""
    return int(getattr(predictor, "default_min_support", 1))


def default_pool(predictor) -> str:
    """The model's own pooling of overlapping windows (``none`` unless its family says otherwise)."""
    return getattr(predictor, "default_pool", "none")


def window_plan(predictor, opts: "PredictOptions"):
    """The predictor's windows for ``opts`` (without its screen / context check when
    ``opts.screen`` / ``opts.context`` is off; without the context check for ``per_file``,
    whose one row per file does not read it, and naming clips for ``per_file``)."""
    from dataclasses import replace

    plan = predictor.window_plan(opts.window_s, opts.hop_s)
    if not opts.screen and hasattr(plan, "screen"):
        plan = replace(plan, screen=False)
    if (not opts.context or opts.per_file) and hasattr(plan, "context"):
        plan = replace(plan, context=False)
    if opts.per_file and hasattr(plan, "name_clips"):  # naming each file, not detecting window by window
        plan = replace(plan, name_clips=True)
    return plan


@dataclass
class FileResult:
    """What happened to one input."""

    path: Path
    duration_s: float = 0.0
    spans_s: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    rows: list[Detection] = field(default_factory=list)
    error: str | None = None
    #: birdnet-head: (segments, segments given the second view); None for other models
    views: tuple[int, int] | None = None
    #: birdnet-head's context check: which windows may be reported (None: not checked)
    keep: np.ndarray | None = None
    #: window by window with adapt: each animal class's weight in this recording (None: not weighted)
    weights: dict[str, float] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class PredictOptions:
    """Options that turn probabilities into rows, validated."""

    window_s: float | None = None
    hop_s: float | None = None
    min_confidence: float = 0.0
    top_k: int = 1
    unknown_below: float = 0.0
    merge: bool = False
    batch_size: int = 64
    per_file: bool = False  # one row per file (animalsnd.predict.detections.per_file_rows)
    #: with per_file: never answer background, name each file's most likely animal; None: True
    #: with per_file (:func:`animalsnd.predict.detections.per_file_rows`)
    animals_only: bool | None = None
    #: weigh the classes by their estimated share of the data (animalsnd.priors): with per_file, of
    #: the files; window by window, each recording's animals by their share of its windows. None:
    #: the default (per_file: on; window by window: the model's own, ``predictor.default_adapt``)
    adapt: bool | None = None
    calibrated: bool = True  # use MODEL_DIR/calibration.json when present (animalsnd.calibration)
    temperature: float = 1.0  # filled in by predict() from the calibration
    thresholds: tuple[tuple[str, float], ...] = ()
    #: pooling of overlapping windows' probabilities (:func:`animalsnd.pooling.pool_windows`):
    #: none, max or mean; None: the model's own (``predictor.default_pool``, "none" when it has none)
    pool: str | None = None
    #: birdnet-head: embed the double-speed view only where the model's one-view screen does not
    #: call the segment background (:mod:`animalsnd.families.birdnet_screen`); False: everywhere
    screen: bool = True
    #: birdnet-head: report a window only when it sounds more like its class's training clips than
    #: like the recording's quietest stretches around it (:mod:`animalsnd.families.birdnet_context`)
    context: bool = True
    #: a window is reported only when its label is the best class of at least this many of the
    #: raw windows around it (itself and its two neighbours; :func:`animalsnd.predict.detections`);
    #: None: the model's own (``predictor.default_min_support``: 2 for stats-mlp, 1 for the others)
    min_support: int | None = None

    @property
    def animal_each(self) -> bool:
        """``--per-file`` naming an animal for every file (unless ``--allow-background``)."""
        return self.per_file and self.animals_only is not False

    def __post_init__(self) -> None:
        if self.per_file and self.merge:
            raise ConfigError("--per-file gives one row per recording; it does not combine with --merge")
        if self.animals_only is not None and not self.per_file:
            raise ConfigError("--animals-only / --allow-background need --per-file (one row per recording); "
                              "window by window, background is what keeps noise from being reported")
        for name in ("min_confidence", "unknown_below"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} {v} must be between 0 and 1")
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ConfigError(f"--top-k {self.top_k!r} must be a positive integer")
        if self.min_support not in (None, 1, 2, 3):
            raise ConfigError(f"--min-support {self.min_support!r} must be 1, 2 or 3 "
                              "(of a window and its two neighbours)")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size!r} must be a positive integer")
        check_window_hop(self.window_s, self.hop_s)
        if self.pool is not None:
            from animalsnd.pooling import check_pooling

            check_pooling(self.pool)


def collect_inputs(paths: Iterable[str | Path], *, recursive: bool = False) -> list[tuple[Path, str | None]]:
    """Expand files and folders into ``(file, error)`` pairs, in the given order.

    A folder contributes its audio files (sorted; hidden ones ignored; every
    level with ``recursive``). A missing path, or a folder without audio,
    becomes one pair with an error message; a file given by name is always
    tried, whatever its extension.
    """
    out: list[tuple[Path, str | None]] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            files = sorted(
                f for f in it
                if is_audio_file(f) and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not files:
                hint = "" if recursive else " (use --recursive for sub-folders)"
                out.append((p, f"no audio files in folder{hint}"))
            for f in files:
                if f not in seen:
                    seen.add(f)
                    out.append((f, None))
        elif p.exists():
            if p not in seen:
                seen.add(p)
                out.append((p, None))
        else:
            out.append((p, "does not exist"))
    return out


def _reason(exc: AudioError, path: Path) -> str:
    msg = str(exc)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def predict_file(
    path: str | Path,
    predictor,
    opts: PredictOptions,
    *,
    plan=None,
    on_seconds: Callable[[float], None] | None = None,
) -> FileResult:
    """Windows, probabilities and rows of one file; unreadable audio becomes ``error``."""
    path = Path(path)
    plan = plan or window_plan(predictor, opts)
    seen, second = getattr(predictor, "segments_seen", None), getattr(predictor, "second_views", None)
    try:
        spans, probs, duration = predictor.scan(path, plan, batch_size=opts.batch_size, on_seconds=on_seconds)
    except AudioError as exc:
        return FileResult(path, error=_reason(exc, path))
    views = None if seen is None else (predictor.segments_seen - seen, predictor.second_views - second)
    keep = getattr(predictor, "last_keep", None)
    spans, probs = drop_padded_tail(spans, probs, window_s=plan.window / plan.cfg.sr)
    keep = None if keep is None or len(keep) < len(probs) else np.asarray(keep[: len(probs)], bool)
    if opts.temperature != 1.0:
        from animalsnd.calibration import apply_temperature

        probs = apply_temperature(probs, opts.temperature)
    probs, keep, weights = adapt_windows(predictor, probs, keep, opts)
    support = probs.argmax(axis=1) if len(probs) else None  # each window's own best class, before pooling
    pool = opts.pool if opts.pool is not None else default_pool(predictor)
    if pool != "none" and not opts.per_file:
        from animalsnd.pooling import pool_windows

        probs = pool_windows(spans, probs, mode=pool)
    out = FileResult(path, duration, spans, probs, views=views, keep=keep, weights=weights)
    if opts.per_file:
        out.rows = per_file(out, predictor.classes, opts)
    else:
        out.rows = option_rows(path, spans, probs, predictor.classes, opts, support=support,
                               min_support=opts.min_support or default_min_support(predictor), keep=keep)
    return out


def option_rows(path, spans_s: np.ndarray, probs: np.ndarray, classes, opts: PredictOptions, *,
                support: np.ndarray | None = None, min_support: int | None = None,
                keep: np.ndarray | None = None) -> list[Detection]:
    """The rows ``predict`` makes of (pooled) window probabilities under ``opts``: thresholds,
    top-k, unknown, merge, the persistence rule on ``support`` (each window's best class
    before pooling; ``min_support`` defaults to ``opts.min_support``, 1 when that is None)
    and ``keep`` (the windows that may be reported; None: all)."""
    return detections(str(path), spans_s, probs, classes, min_confidence=opts.min_confidence,
                      top_k=min(opts.top_k, len(classes)), unknown_below=opts.unknown_below, merge=opts.merge,
                      thresholds=dict(opts.thresholds), support=support,
                      min_support=min_support or opts.min_support or 1, keep=keep)


_WORKER_CACHE: dict[tuple, object] = {}


def _worker(model_dir: str, runtime: str, threads: int, path: str, opts: PredictOptions) -> FileResult:
    key = (model_dir, runtime, threads)
    if key not in _WORKER_CACHE:
        _WORKER_CACHE[key] = load_predictor(model_dir, runtime=runtime, threads=threads)
    return predict_file(path, _WORKER_CACHE[key], opts)


@dataclass
class PredictRun:
    """Everything ``predict`` produced, in input order."""

    model_dir: Path
    classes: list[str]
    cfg: object  # the predictor's input settings (a FeatureConfig for log-Mel models)
    plan: object  # its window plan
    options: PredictOptions
    runtime: str
    n_models: int
    results: list[FileResult]
    seconds: float
    model_pool: str = "none"  # the model's own pooling (what ``options.pool`` None stands for)
    screened: bool = False  # birdnet-head: the one-view screens were used
    folder_weights: dict[str, float] | None = None  # --per-file: each class's weight for these files

    @property
    def context_held(self) -> int | None:
        """birdnet-head's context check: windows it held back over the processed files (None: not run)."""
        k = [r.keep for r in self.processed if r.keep is not None]
        return int(sum((~m).sum() for m in k)) if k else None

    @property
    def adapted(self) -> int:
        """Window by window: recordings whose animals were weighted by their share of its windows."""
        return sum(r.weights is not None for r in self.processed)

    @property
    def views(self) -> tuple[int, int] | None:
        """birdnet-head: (segments, segments given the second view) over the processed files."""
        v = [r.views for r in self.processed if r.views is not None]
        return (sum(a for a, _ in v), sum(b for _, b in v)) if v else None

    @property
    def processed(self) -> list[FileResult]:
        return [r for r in self.results if r.ok]

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.results if not r.ok]

    @property
    def rows(self) -> list[Detection]:
        return [d for r in self.processed for d in r.rows]

    @property
    def audio_s(self) -> float:
        return sum(r.duration_s for r in self.processed)


def predict(
    model_dir: str | Path,
    paths: Sequence[str | Path],
    *,
    options: PredictOptions = PredictOptions(),
    recursive: bool = False,
    jobs: int = 1,
    runtime: str = "auto",
    predictor=None,
    backend: str = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> PredictRun:
    """Classify every window of every input with the model(s) in ``model_dir``.

    Parameters
    ----------
    model_dir : path
        A bundle, or a folder of ``fold-<k>`` bundles (their mean is used).
    paths : sequence of path
        Files and folders (see :func:`collect_inputs`).
    options : PredictOptions
    jobs : int
        Worker processes across files (joblib); results keep input order.
        One file, or ``jobs=1``, runs in this process.
    backend, scheduler : str
        ``"dask"`` sends one task per file to a Dask cluster (see
        :func:`animalsnd.parallel.run_parallel`); workers load the bundle once
        and must see the same paths. Results are identical to a local run.
    predictor : optional
        An already loaded predictor (:func:`load_predictor`) (``model_dir`` is then only recorded and
        everything runs in this process).
    progress : callable, optional
        ``progress(done_seconds, total_seconds)``.

    Returns
    -------
    PredictRun
        Unreadable inputs are in ``run.skipped`` with a reason; nothing is
        raised for them.

    Raises
    ------
    BundleError
        Missing, corrupt or unusable model bundle.
    ConfigError
        Invalid options.
    """
    from animalsnd.parallel import TaskFailure, check_backend, run_parallel
    from animalsnd.stream import probe

    t0 = time.perf_counter()
    check_backend(backend, scheduler)
    if not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ConfigError(f"--jobs {jobs!r} must be a positive integer or -1 (all cores)")
    n_cpu = os.cpu_count() or 1
    inputs = collect_inputs(paths, recursive=recursive)
    todo = [i for i, (_, err) in enumerate(inputs) if err is None]
    workers = 1 if predictor is not None else min(n_cpu if jobs == -1 else jobs, len(todo)) or 1
    threads = max(1, n_cpu // workers)
    pred = predictor or load_predictor(model_dir, runtime=runtime, threads=threads)
    options = with_calibration(options, model_dir, pred.classes)
    if options.pool is None or options.min_support is None:  # the model's own, recorded in the run's options
        from dataclasses import replace

        options = replace(options, pool=options.pool or default_pool(pred),
                          min_support=options.min_support or default_min_support(pred))
    plan = window_plan(pred, options)
    if workers == 1 and todo:
        pred.preload()

    results: list[FileResult | None] = [
        None if err is None else FileResult(p, error=err) for p, err in inputs
    ]
    durations = {}
    for i in todo:
        try:
            durations[i] = probe(inputs[i][0]).duration_s
        except AudioError as exc:
            results[i] = FileResult(inputs[i][0], error=_reason(exc, inputs[i][0]))
    todo = [i for i in todo if results[i] is None]
    total = float(sum(durations[i] for i in todo))
    done = 0.0
    if progress:
        progress(0.0, total)

    if backend == "dask" and predictor is None and todo:
        tasks = [(str(Path(model_dir).resolve()), pred.runtime, 1, str(Path(inputs[i][0]).resolve()), options)
                 for i in todo]

        def tick_files(n: int, _total: int) -> None:
            if progress:
                progress(min(sum(durations[i] for i in todo[:n]), total), total)

        out = run_parallel(_worker, tasks, backend="dask", scheduler=scheduler, progress=tick_files)
        for i, res in zip(todo, out):
            if isinstance(res, TaskFailure):
                res = FileResult(inputs[i][0], error=res.error)
            res.path = inputs[i][0]
            results[i] = res
    elif workers == 1 or len(todo) <= 1:
        for i in todo:
            def tick(sec: float, _base=done, _cap=durations[i]) -> None:
                if progress:
                    progress(min(_base + sec, _base + _cap, total), total)

            results[i] = predict_file(inputs[i][0], pred, options, plan=plan, on_seconds=tick)
            done += durations[i]
            if progress:
                progress(min(done, total), total)
    else:
        from joblib import Parallel, delayed

        tasks = (delayed(_worker)(str(model_dir), pred.runtime, threads, str(inputs[i][0]), options)
                 for i in todo)
        gen = Parallel(n_jobs=workers, return_as="generator")(tasks)
        for i, res in zip(todo, gen):
            res.path = inputs[i][0]
            results[i] = res
            done += durations[i]
            if progress:
                progress(min(done, total), total)
    results = [r for r in results if r is not None]
    weights = (adapt_to_folder(results, pred.classes, options, bundle_meta(pred))
               if options.per_file and options.adapt is not False else None)
    return PredictRun(Path(model_dir), pred.classes, pred.cfg, plan, options, pred.runtime,
                      len(pred.bundles) if hasattr(pred, "bundles") else 1, results, time.perf_counter() - t0,
                      default_pool(pred), screened=bool(getattr(pred, "screens_active", lambda _: False)(plan)),
                      folder_weights=weights)
