"""Detection on long recordings scored against annotated events.

The model scans every recording with ``predict``'s windows (the same
:func:`animalsnd.predict.predict` run, so the windows, the fold averaging and
the default output are exactly those of ``animalsnd predict``). Two scores:

**Window average precision.** Every window is a candidate for every class
(``background`` excluded). A window is *positive* for class ``c`` when it
overlaps an event of ``c`` by at least ``min(MIN_OVERLAP_S, half the
event)`` (:func:`needed_overlap`); a window that touches such an event by
less is *ignored* for ``c`` (neither right nor wrong: it holds part of a
call); every other window is *negative*. Per class, the windows are ranked
by the class's probability and the average precision computed
(scikit-learn's ``average_precision_score``); the mean over classes with at
least one positive window is the mAP.

**The output rows** (``predict``'s default output, or the rows a set of
per-class thresholds gives, :func:`threshold_rows`). A row of label ``c``
is *correct* when it overlaps an event of ``c`` in its recording by at least
``needed_overlap(event)``; an event is *found* when a row of its label
overlaps it so. Precision = correct rows / rows, recall = found events /
events, F1 their harmonic mean; per class and over all classes (micro).
Several windows on one long call are all correct and find it once. Rows
labelled ``unknown`` claim no class and are not counted.

Recordings annotated with no event (a table with only its header) count too:
every row in them is wrong; ``empty_flagged`` is the share of them with at
least one row (non-animal recordings given an animal label).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.annotations import Event, check_events, read_annotations
from animalsnd.background import BACKGROUND
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.pooling import POOLING, check_pooling, pool_windows  # noqa: F401  (public here too)

MIN_OVERLAP_S = 1.0


def needed_overlap(event: Event) -> float:
    """Seconds of overlap with ``event`` that make a window positive or a row correct."""
    return min(MIN_OVERLAP_S, 0.5 * event.duration_s)


def _overlap(a0, a1, b0: float, b1: float):
    return np.maximum(0.0, np.minimum(a1, b1) - np.maximum(a0, b0))


@dataclass
class ScoredFile:
    """One recording: its windows, probabilities, output rows and (checked) events."""

    path: Path
    duration_s: float
    spans_s: np.ndarray  # (n, 2)
    probs: np.ndarray  # (n, n_classes)
    rows: list  # predict.Detection
    events: list[Event]


def window_targets(spans_s: np.ndarray, events: Sequence[Event], classes: Sequence[str]) -> np.ndarray:
    """``(n_windows, n_classes)`` int8: 1 positive, 0 negative, -1 ignored (see the module doc)."""
    spans_s = np.asarray(spans_s, dtype=float).reshape(-1, 2)
    pos = np.zeros((len(spans_s), len(classes)), bool)
    part = np.zeros_like(pos)
    col = {c: j for j, c in enumerate(classes)}
    for e in events:
        j = col.get(e.label)
        if j is None:
            continue
        ov = _overlap(spans_s[:, 0], spans_s[:, 1], e.start_s, e.end_s)
        pos[:, j] |= ov >= needed_overlap(e) - 1e-9
        part[:, j] |= ov > 0
    return np.where(pos, 1, np.where(part, -1, 0)).astype(np.int8)


def scored_classes(classes: Sequence[str]) -> list[str]:
    """The classes detection is scored on: all but ``background``."""
    return [c for c in classes if c != BACKGROUND]


def window_ap(files: Sequence[ScoredFile], classes: Sequence[str]) -> dict[str, dict]:
    """Per scored class: ``ap`` (None without positives), ``positives``, ``windows``, and the PR ``curve``."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    if not files:
        return {}
    T = np.concatenate([window_targets(f.spans_s, f.events, classes) for f in files])
    P = np.concatenate([np.asarray(f.probs, float).reshape(-1, len(classes)) for f in files])
    out = {}
    for c in scored_classes(classes):
        j = list(classes).index(c)
        keep = T[:, j] >= 0
        y, s = T[keep, j], P[keep, j]
        entry = {"ap": None, "positives": int(y.sum()), "windows": int(keep.sum()), "curve": None}
        if y.any() and not y.all():
            entry["ap"] = float(average_precision_score(y, s))
            prec, rec, _ = precision_recall_curve(y, s)
            entry["curve"] = (prec, rec)
        elif y.any():
            entry["ap"] = 1.0
        out[c] = entry
    return out


@dataclass(frozen=True)
class WindowScores:
    """How window scores are made beyond ``predict``'s own scan.

    ``shifts_s``: each recording is also scanned started this many seconds
    later (one more grid of windows per shift, interleaved with the first:
    for a model whose hop cannot be shorter than its window, e.g.
    ``birdnet-head``'s 3-s segments, a shift of half a window gives windows
    every half window). ``pooling``: :func:`pool_windows` over the windows
    that overlap by half a window; None: the model's own (``predict``'s
    default, see :func:`animalsnd.predict.default_pool`). The default output
    rows are then made from these scores by ``predict``'s own rule (its
    thresholds and options).
    """

    shifts_s: tuple[float, ...] = ()
    pooling: str | None = None

    def __post_init__(self) -> None:
        if any(not s > 0 for s in self.shifts_s):
            raise ConfigError(f"window shifts {self.shifts_s} must be positive seconds")
        if self.pooling is not None:
            check_pooling(self.pooling, flag="pooling")

    @property
    def plain(self) -> bool:
        """Nothing beyond predict's own scan and pooling."""
        return not self.shifts_s and self.pooling is None


def shifted_scan(model_dir: str | Path, paths: Sequence[Path], shift_s: float, *, options,
                 jobs: int = 1) -> dict[Path, tuple[np.ndarray, np.ndarray]]:
    """Windows and probabilities of ``paths`` scanned from ``shift_s`` seconds in.

    Each recording is decoded at its own sample rate, cut, and written to a
    temporary WAV that ``predict`` scans with ``options``; the windows are
    moved back to the recording's time. Returns ``{path: (spans_s, probs)}``
    (recordings shorter than the shift are left out).
    """
    import tempfile

    import soundfile as sf

    from animalsnd.audio import load
    from animalsnd.predict import predict
    from animalsnd.stream import probe

    out = {}
    with tempfile.TemporaryDirectory(prefix="animalsnd-shift-") as tmp:
        cut = {}
        for i, p in enumerate(paths):
            sr = probe(p).sample_rate
            y, _ = load(p, sr=sr)
            k = int(round(shift_s * sr))
            if y.size - k >= sr // 10:
                dst = Path(tmp) / f"{i:05d}.wav"
                sf.write(dst, y[k:], sr, subtype="FLOAT")
                cut[dst] = Path(p)
        run = predict(model_dir, list(cut), options=options, jobs=jobs)
        for r in run.processed:
            out[cut[r.path]] = (np.asarray(r.spans_s, float) + shift_s, np.asarray(r.probs))
    return out


def interleave(*grids: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Windows of several grids of one recording, in order of start: ``(spans_s, probs)``."""
    spans = np.concatenate([np.asarray(s, float).reshape(-1, 2) for s, _ in grids])
    probs = np.concatenate([np.asarray(p) for _, p in grids])
    order = np.argsort(spans[:, 0], kind="stable")
    return spans[order], probs[order]


def threshold_rows(f: ScoredFile, classes: Sequence[str], thresholds: float | Mapping[str, float]) -> list:
    """The rows per-class thresholds give: each window whose best class ``c`` is not
    ``background`` and whose probability of ``c`` is at least ``thresholds[c]``
    (a float: one threshold for all; a class missing from the mapping: never reported)."""
    from animalsnd.predict import Detection

    rows = []
    for (s, e), p in zip(np.asarray(f.spans_s).reshape(-1, 2), np.asarray(f.probs)):
        j = int(np.argmax(p))
        c = classes[j]
        thr = thresholds if isinstance(thresholds, (int, float)) else thresholds.get(c, np.inf)
        if c != BACKGROUND and p[j] >= thr:
            rows.append(Detection(str(f.path), float(s), float(e), c, float(p[j]), ((c, float(p[j])),)))
    return rows


def _prf(correct: int, n_rows: int, found: int, n_events: int) -> dict:
    p = correct / n_rows if n_rows else 0.0
    r = found / n_events if n_events else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "rows": n_rows, "correct": correct,
            "events": n_events, "found": found}


def found_events(events: Sequence[Event], rows: Sequence) -> list[bool]:
    """For each event, whether a row of its label overlaps it by at least :func:`needed_overlap`."""
    return [any(d.label == e.label and _overlap(d.start_s, d.end_s, e.start_s, e.end_s) >= needed_overlap(e) - 1e-9
                for d in rows) for e in events]


def match_rows(files: Sequence[ScoredFile], rows_per_file: Sequence[list], classes: Sequence[str]) -> dict:
    """Precision, recall and F1 of output rows against the events (see the module doc).

    Returns ``{"per_class": {class: {...}}, "overall": {...}, "empty_recordings", "empty_flagged"}``.
    """
    counts = {c: [0, 0, 0, 0] for c in scored_classes(classes)}  # correct, rows, found, events
    n_empty = flagged = 0
    for f, rows in zip(files, rows_per_file):
        rows = [d for d in rows if d.label in counts]
        if not f.events:
            n_empty += 1
            flagged += bool(rows)
        for d in rows:
            hit = any(e.label == d.label and _overlap(d.start_s, d.end_s, e.start_s, e.end_s)
                      >= needed_overlap(e) - 1e-9 for e in f.events)
            counts[d.label][0] += hit
            counts[d.label][1] += 1
        for e, found in zip(f.events, found_events(f.events, rows)):
            if e.label in counts:
                counts[e.label][3] += 1
                counts[e.label][2] += found
    per_class = {c: _prf(*v) for c, v in counts.items()}
    total = np.sum(list(counts.values()), axis=0) if counts else [0, 0, 0, 0]
    return {"per_class": per_class, "overall": _prf(*map(int, total)), "empty_recordings": n_empty,
            "empty_flagged": flagged / n_empty if n_empty else None}


def score_files(files: Sequence[ScoredFile], classes: Sequence[str], *,
                thresholds: float | Mapping[str, float] | None = None) -> dict:
    """Window AP per class and mAP, and P/R/F1 of the rows: ``predict``'s own rows
    (``thresholds=None``) or those of :func:`threshold_rows`."""
    ap = window_ap(files, classes)
    rows = [f.rows if thresholds is None else threshold_rows(f, classes, thresholds) for f in files]
    out = match_rows(files, rows, classes)
    aps = [v["ap"] for v in ap.values() if v["ap"] is not None]
    for c, v in ap.items():
        out["per_class"][c].update(ap=v["ap"], positive_windows=v["positives"], windows=v["windows"])
    out["map"] = float(np.mean(aps)) if aps else None
    out["curves"] = {c: v["curve"] for c, v in ap.items() if v["curve"] is not None}
    return out


@dataclass
class DetectionReport:
    """``eval MODEL RECORDINGS --annotations DIR``: what was scored and how well."""

    model_dir: Path
    classes: list[str]
    files: list[ScoredFile]
    scores: dict
    problems: list[str] = field(default_factory=list)
    window_s: float = 0.0
    hop_s: float = 0.0
    output: dict = field(default_factory=dict)  # how the rows were chosen (:func:`output_rule`)

    def summary(self) -> dict:
        """JSON-ready: mAP, overall and per-class scores, the matching rule, the problems."""
        s = {k: v for k, v in self.scores.items() if k != "curves"}
        return {
            "model": str(self.model_dir), "recordings": len(self.files),
            "audio_s": round(sum(f.duration_s for f in self.files), 2),
            "events": sum(len(f.events) for f in self.files),
            "window_s": self.window_s, "hop_s": self.hop_s,
            "rule": f"overlap >= min({MIN_OVERLAP_S:g} s, half the event)", "output": dict(self.output),
            **s, "problems": list(self.problems),
        }


def output_rule(options) -> dict:
    """How ``predict`` chose its rows under these (effective) options: ``calibrated`` (the
    temperature and per-class thresholds of ``calibration.json`` were applied), ``temperature``,
    ``thresholds``, ``min_confidence``, ``unknown_below`` and ``min_support``."""
    return {"calibrated": bool(options.thresholds), "temperature": float(options.temperature),
            "thresholds": dict(options.thresholds) or None, "min_confidence": float(options.min_confidence),
            "unknown_below": float(options.unknown_below), "min_support": int(options.min_support or 1)}


def scan_windows(model_dir: str | Path, paths: Sequence[Path], *, options, scores: WindowScores = WindowScores(),
                 jobs: int = 1, progress=None) -> tuple:
    """``predict`` on ``paths``, with the extra grids and pooling of ``scores``.

    Returns ``(run, [(spans_s, probs, rows), ...])``: predict's run (its
    results in input order; ``run.options`` the effective options) and per
    result the windows, their (pooled) probabilities and the rows predict's
    rule makes of them (``None`` for an unreadable input).
    """
    from dataclasses import replace

    from animalsnd.predict import option_rows, predict

    if not scores.plain:  # the raw window scores: pooled below, once, over every grid
        options = replace(options, pool="none")
    run = predict(model_dir, list(paths), options=options, jobs=jobs, progress=progress)
    pooling = scores.pooling if scores.pooling is not None else run.model_pool
    ok = [res.path for res in run.results if res.ok]
    shifted = [shifted_scan(model_dir, ok, s, options=run.options, jobs=jobs) for s in scores.shifts_s]
    out = []
    for res in run.results:
        if not res.ok:
            out.append(None)
            continue
        spans, probs, rows = res.spans_s, res.probs, res.rows
        if not scores.plain:
            spans, probs = interleave((spans, probs), *[g[res.path] for g in shifted if res.path in g])
            support = probs.argmax(axis=1) if len(probs) else None
            probs = pool_windows(spans, probs, mode=pooling)
            # remade from pooled scores of several grids: without birdnet-head's context check
            rows = option_rows(res.path, spans, probs, list(run.classes), run.options, support=support)
        out.append((spans, probs, rows))
    return run, out


def evaluate_detection(
    model_dir: str | Path,
    recordings: str | Path | Sequence[str | Path],
    annotations: str | Path,
    *,
    options=None,
    scores: WindowScores = WindowScores(),
    jobs: int = 1,
    progress: Callable[[float, float], None] | None = None,
) -> DetectionReport:
    """Scan the annotated recordings with the model and score them (see the module doc).

    ``scores``: extra window grids and pooling (:class:`WindowScores`); the
    rows are then remade from the pooled scores by ``predict``'s rule.

    Recordings are matched to annotation tables by file stem. A recording
    without a table, a table naming no recording, an unreadable recording
    and every bad selection is one line in ``problems``; the rest is scored.

    Raises
    ------
    DatasetError
        Bad annotation folder, or no recording left to score.
    BundleError
        Missing or unusable model.
    """
    from animalsnd.predict import PredictOptions, collect_inputs

    options = options or PredictOptions()
    ann = read_annotations(annotations)
    problems = list(ann.problems)
    paths = [recordings] if isinstance(recordings, (str, Path)) else list(recordings)
    by_stem: dict[str, Path] = {}
    for p, err in collect_inputs(paths, recursive=True):
        if err is not None:
            problems.append(f"{p}: {err}")
        elif p.stem in by_stem:
            problems.append(f"{p}: same name as {by_stem[p.stem]}; only the first is scored")
        elif p.stem not in ann.events:
            problems.append(f"{p}: no annotation table; not scored")
        else:
            by_stem[p.stem] = p
    for stem in sorted(set(ann.events) - set(by_stem)):
        problems.append(f"annotations for {stem!r}: no such recording in {', '.join(map(str, paths))}; skipped")
    if not by_stem:
        raise DatasetError(f"no annotated recording to score in {', '.join(map(str, paths))} "
                           f"(tables are matched by file stem: <stem>.Table.1.selections.txt, <stem>.txt)")
    run, scanned = scan_windows(model_dir, list(by_stem.values()), options=options, scores=scores, jobs=jobs,
                                progress=progress)
    classes = list(run.classes)
    files = []
    for res, got in zip(run.results, scanned):
        if got is None:
            problems.append(f"{res.path}: unreadable, not scored ({res.error})")
            continue
        events = check_events(ann.events[res.path.stem], duration_s=res.duration_s,
                              classes=scored_classes(classes), problems=problems)
        files.append(ScoredFile(res.path, res.duration_s, *got, events))
    if not files:
        raise DatasetError("no annotated recording could be read")
    spans = max((f.spans_s for f in files), key=len)
    hop = float(spans[1, 0] - spans[0, 0]) if len(spans) > 1 else 0.0
    return DetectionReport(Path(model_dir), classes, files, score_files(files, classes), problems,
                           window_s=float(np.max(spans[:, 1] - spans[:, 0])) if len(spans) else 0.0, hop_s=hop,
                           output={**output_rule(run.options), "shifts_s": list(scores.shifts_s),
                                   "pooling": scores.pooling if scores.pooling is not None else run.model_pool,
                                   "merge": bool(run.options.merge),
                                   **({"screen": {"segments": run.views[0], "second_view": run.views[1]}}
                                      if run.screened and run.views else {}),
                                   **({"context_held": run.context_held}
                                      if run.context_held is not None and scores.plain else {}),
                                   "adapted": run.adapted})
