"""Which detections to review: read ``predict``'s output, find the recordings, sample per class.

A predictions file is ``predict``'s CSV or JSON (columns ``file, start_s,
end_s, label, confidence`` and optionally ``label_k, prob_k``). Its ``file``
column holds each recording's path as ``predict`` was given it; ``--audio
ROOT`` says where the recordings are now (``ROOT/<file>``, or ``ROOT`` joined
with the file's trailing path parts, so ``demo/x.wav`` is found as
``ROOT/x.wav``).

Problems with single rows or recordings (a recording not found, a detection
past the end of its recording, duplicate rows, unreadable rows) are one line
each in :attr:`ReviewPlan.problems`, and the rest is planned; nothing usable
at all is a :class:`~animalsnd.errors.DatasetError`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.errors import ConfigError, DatasetError

REQUIRED = ("file", "start_s", "end_s", "label", "confidence")
UNKNOWN = "unknown"
#: a detection may end this far past the end of its recording (rounding) before it is refused
END_TOLERANCE_S = 0.05
#: how a card was chosen: the class's most confident, a random draw of the rest, or every detection
SAMPLES = ("top", "random", "all")


@dataclass(frozen=True)
class Card:
    """One detection to review."""

    id: str
    file: str  # as written in the predictions file
    path: Path  # where the recording is now
    start_s: float
    end_s: float
    label: str
    confidence: float
    top: tuple[tuple[str, float], ...] = ()
    sample: str = "all"
    row: int = 0  # line of the predictions file (CSV) or index + 1 (JSON)


@dataclass
class ReviewPlan:
    """The cards of one predictions file, and what was left out and why."""

    predictions: Path
    run_id: str
    cards: list[Card]
    classes: list[str]
    n_rows: int
    per_class: dict[str, int]  # detections per label in the whole file
    problems: list[str] = field(default_factory=list)
    sampling: dict = field(default_factory=dict)


def card_id(file: str, start_s: float, end_s: float, label: str) -> str:
    """A short stable id of one detection (the page, the clips and the decisions use it)."""
    key = f"{file}|{start_s:.3f}|{end_s:.3f}|{label}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def run_id_of(path: Path) -> str:
    """The review run's id: the hash of the predictions file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# ------------------------------------------------------------------ reading
def _read_rows(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise DatasetError(f"{path}: predictions file does not exist")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: not a JSON predictions file ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DatasetError(f"{path}: expected a JSON list of rows as `predict --format json` writes")
        return [(i + 1, r) for i, r in enumerate(data)]
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(f"{path}: not a predictions file: missing column(s) {', '.join(missing)} "
                           "(expected `predict --format csv` output)")
    return [(i + 2, r) for i, r in enumerate(reader)]


def _top(r: dict) -> tuple[tuple[str, float], ...]:
    out, k = [], 1
    while f"label_{k}" in r:
        lab, p = r.get(f"label_{k}"), r.get(f"prob_{k}")
        if lab not in (None, "") and p not in (None, ""):
            out.append((str(lab), float(p)))
        k += 1
    return tuple(out)


def _parse(path: Path, rows: list[tuple[int, dict]], problems: list[str]) -> list[dict]:
    """Rows as dicts with typed fields; unreadable rows and exact duplicates are reported and left out."""
    out, seen, dups, bad = [], set(), [], []
    for line, r in rows:
        try:
            d = dict(file=str(r["file"]), start_s=float(r["start_s"]), end_s=float(r["end_s"]),
                     label=str(r["label"]).strip(), confidence=float(r["confidence"]), top=_top(r), row=line)
        except (KeyError, TypeError, ValueError):
            bad.append(line)
            continue
        if not d["file"] or not d["label"] or not (math.isfinite(d["start_s"]) and math.isfinite(d["end_s"])) \
                or d["start_s"] < 0 or d["end_s"] <= d["start_s"]:
            bad.append(line)
            continue
        key = (d["file"], round(d["start_s"], 3), round(d["end_s"], 3), d["label"])
        if key in seen:
            dups.append(line)
            continue
        seen.add(key)
        out.append(d)
    if bad:
        problems.append(f"{path}: {len(bad)} unreadable row(s) left out (missing or bad value, or end "
                        f"before start; first: line {bad[0]})")
    if dups:
        problems.append(f"{path}: {len(dups)} duplicate row(s) left out (same file, span and label; "
                        f"first: line {dups[0]})")
    return out


# ------------------------------------------------------------------ recordings
def candidates(file: str, audio: Path | None, base: list[Path]) -> list[Path]:
    """Where the recording named ``file`` may be now, in order of preference."""
    p = Path(file)
    if audio is None:
        return [p] if p.is_absolute() else [b / p for b in base]
    parts = p.parts[1:] if p.is_absolute() else p.parts
    return [audio.joinpath(*parts[k:]) for k in range(len(parts))]


def locate(files: list[str], *, audio: Path | None, predictions: Path) -> dict[str, Path | None]:
    """Each file name -> its path now, or ``None`` when it is nowhere to be found."""
    base = [Path.cwd(), predictions.parent]
    found = {}
    for f in files:
        found[f] = next((c for c in candidates(f, audio, base) if c.is_file()), None)
    return found


def _durations(paths: dict[str, Path | None], problems: list[str]) -> dict[str, float]:
    import soundfile as sf

    out = {}
    for f, p in paths.items():
        if p is None:
            continue
        try:
            info = sf.info(str(p))
            out[f] = info.frames / info.samplerate
        except (RuntimeError, sf.LibsndfileError) as exc:
            problems.append(f"{p}: not a readable audio file ({str(exc).splitlines()[0]}); "
                            "its detections are left out")
    return out


# ------------------------------------------------------------------ sampling
def sample_cards(rows: list[dict], *, top: int, random: int, seed: int, every: bool) -> list[tuple[dict, str]]:
    """Per label: the ``top`` most confident and ``random`` drawn from the rest (seeded).

    A label with no more than ``top + random`` detections (or ``every``) is
    reviewed whole (sample ``"all"``). Ordered by label, then confidence.
    """
    rng = np.random.default_rng(seed)
    out = []
    for label in sorted({r["label"] for r in rows}):
        mine = sorted((r for r in rows if r["label"] == label),
                      key=lambda r: (-r["confidence"], r["file"], r["start_s"]))
        if every or len(mine) <= top + random:
            out += [(r, "all") for r in mine]
            continue
        rest = mine[top:]
        pick = sorted(rng.choice(len(rest), size=random, replace=False)) if random else []
        out += [(r, "top") for r in mine[:top]] + [(rest[i], "random") for i in pick]
    return out


def model_classes(model_dir: str | Path) -> list[str]:
    """The classes of a model folder (one bundle or a ``--cv`` folder), read from its ``bundle.json``."""
    from animalsnd.bundle import find_bundles, load_bundle

    return list(load_bundle(find_bundles(model_dir)[0]).classes)


def plan_review(
    predictions: str | Path,
    *,
    audio: str | Path | None = None,
    top: int = 10,
    random: int = 10,
    seed: int = 0,
    every: bool = False,
    classes=(),
    keep: dict[str, str] | None = None,
) -> ReviewPlan:
    """Read a predictions file, check it against its recordings and pick the cards.

    Parameters
    ----------
    predictions : path
        ``predict``'s CSV or JSON output.
    audio : path, optional
        The folder that holds the recordings now (see the module docstring).
        Default: the paths as written, from the current folder or the
        predictions file's folder.
    top, random : int
        Cards per label: the most confident, and a seeded random draw of the rest.
    every : bool
        Review every detection instead.
    classes : sequence of str
        Labels offered for relabelling besides those in the file (a model's
        classes: :func:`model_classes`).
    keep : dict, optional
        Card id -> sample of the cards of an earlier review of this file:
        they stay cards whatever the new sampling, so no decision is orphaned.

    Raises
    ------
    DatasetError
        The file is unreadable, or none of its detections can be reviewed
        (no recording found, all past their ends).
    ConfigError
        ``top``/``random`` negative, or ``audio`` not a folder.
    """
    predictions = Path(predictions)
    if top < 0 or random < 0 or top + random == 0 and not every:
        raise ConfigError(f"--top {top} and --random {random} must be >= 0 and not both 0")
    audio = None if audio is None else Path(audio)
    if audio is not None and not audio.is_dir():
        raise ConfigError(f"--audio {audio}: not a folder")
    problems: list[str] = []
    raw = _read_rows(predictions)
    rows = _parse(predictions, raw, problems)
    if not rows:
        raise DatasetError(f"{predictions}: no detections to review")
    files = list(dict.fromkeys(r["file"] for r in rows))
    where = locate(files, audio=audio, predictions=predictions)
    lost = [f for f in files if where[f] is None]
    looked = f"under --audio {audio}" if audio is not None else f"from {Path.cwd()} or {predictions.parent}"
    if len(lost) == len(files):
        hint = "is that the folder that holds them now?" if audio is not None \
            else "pass --audio ROOT, the folder that holds them now"
        raise DatasetError(f"{predictions}: none of its {len(files)} recording(s) found {looked} "
                           f"(first: {lost[0]}); {hint}")
    for f in lost:
        n = sum(r["file"] == f for r in rows)
        problems.append(f"{predictions}: recording {f} not found {looked}; its {n} detection(s) left out")
    durations = _durations(where, problems)
    kept = []
    for f in files:
        mine = [r for r in rows if r["file"] == f]
        if f not in durations:
            continue
        dur = durations[f]
        past = [r for r in mine if r["end_s"] > dur + END_TOLERANCE_S]
        if past:
            problems.append(
                f"{predictions}: {len(past)} detection(s) of {f} end past the end of the recording "
                f"({dur:.2f} s; first: line {past[0]['row']}, {past[0]['start_s']:g}-{past[0]['end_s']:g} s); "
                "left out: is it the recording they were predicted on?")
        kept += [r for r in mine if r["end_s"] <= dur + END_TOLERANCE_S]
    if not kept:
        raise DatasetError(f"{predictions}: no detection lies within its recording; nothing to review")
    chosen = sample_cards(kept, top=top, random=random, seed=seed, every=every)
    if keep:
        ids = {id(r) for r, _ in chosen}
        extra = [(r, keep[cid]) for r in kept if id(r) not in ids
                 and (cid := card_id(r["file"], r["start_s"], r["end_s"], r["label"])) in keep]
        chosen = sorted(chosen + extra, key=lambda rs: (rs[0]["label"], -rs[0]["confidence"], rs[0]["file"],
                                                        rs[0]["start_s"]))
    cards = [Card(id=card_id(r["file"], r["start_s"], r["end_s"], r["label"]), file=r["file"],
                  path=where[r["file"]], start_s=r["start_s"], end_s=min(r["end_s"], durations[r["file"]]),
                  label=r["label"], confidence=r["confidence"], top=r["top"], sample=s, row=r["row"])
             for r, s in chosen]
    labels = {r["label"] for r in kept} | {lab for r in kept for lab, _ in r["top"]} | set(classes)
    per_class: dict[str, int] = {}
    for r in kept:
        per_class[r["label"]] = per_class.get(r["label"], 0) + 1
    return ReviewPlan(predictions=predictions, run_id=run_id_of(predictions), cards=cards,
                      classes=sorted(labels - {UNKNOWN}), n_rows=len(raw), per_class=per_class,
                      problems=problems, sampling=dict(top=top, random=random, seed=seed, every=every))
