"""Write the review folder: ``index.html`` (one file, everything inline) and ``review.json``.

The page needs no server and no network: open ``index.html`` from disk. Its
cards are built in one pass from the manifest inlined in the page; the
spectrograms load lazily and a single audio element plays the clip asked
for, so 500 cards stay fast. Decisions are kept in the browser's
``localStorage`` under the review run's id (a reload loses nothing) and
exported as CSV (:data:`DECISION_COLUMNS`).

``review.json`` holds the same cards for ``review --import``.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from pathlib import Path

from animalsnd import __version__
from animalsnd.errors import DatasetError
from animalsnd.fileutil import atomic_write_text
from animalsnd.review.assets import CSS, HTML, JS
from animalsnd.review.clips import folder_bytes
from animalsnd.review.names import MANIFEST, PAGE

#: the columns of the CSV the page exports (and ``review --import`` reads)
DECISION_COLUMNS = ["run", "id", "file", "start_s", "end_s", "label", "confidence", "sample",
                    "decision", "corrected_label"]
DECISIONS = ("accepted", "rejected", "corrected")


@dataclass
class ReviewFolder:
    """What :func:`write_page` wrote."""

    folder: Path
    page: Path
    run_id: str
    cards: int
    per_class: dict[str, int]  # cards per label
    detections: int  # detections in the predictions file that could be reviewed
    detections_per_class: dict[str, int]
    size_bytes: int
    problems: list[str]


def read_manifest(folder: str | Path) -> dict | None:
    """The review folder's ``review.json``, or ``None`` when there is none."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DatasetError(f"{path}: corrupt review manifest; build the review again") from None
    if not isinstance(data, dict) or "run" not in data or "cards" not in data:
        raise DatasetError(f"{path}: not a review manifest written by `animalsnd review`")
    return data


def check_review_folder(folder: str | Path, run_id: str) -> dict | None:
    """Refuse a folder that holds anything but this run's review; returns its earlier manifest.

    Raises
    ------
    DatasetError
        A non-empty folder that is not a review folder, or the review of
        another predictions file (whose decisions would be orphaned).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"--out {folder} is a file; give a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    old = read_manifest(folder)
    if old is None:
        raise DatasetError(f"--out {folder}: a non-empty folder that is not a review folder; "
                           "choose a new or empty folder")
    if old["run"] != run_id:
        raise DatasetError(f"--out {folder}: holds the review of another predictions file "
                           f"({old.get('predictions')}, run {old['run']}); choose another folder")
    return old


def _card_dict(card, clip) -> dict:
    return dict(id=card.id, file=card.file, start_s=round(card.start_s, 3), end_s=round(card.end_s, 3),
                label=card.label, confidence=round(card.confidence, 4),
                top=[[lab, round(p, 4)] for lab, p in card.top], sample=card.sample, row=card.row,
                audio=clip.audio, image=clip.image, clip_start_s=clip.clip_start_s,
                clip_end_s=clip.clip_end_s, sr=clip.sr, fmax=clip.fmax)


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Clips and images no card uses any more (another sampling, another clip format) are removed."""
    for sub in ("clips", "spec"):
        for p in (folder / sub).iterdir():
            if p.is_file() and f"{sub}/{p.name}" not in keep:
                p.unlink()


def write_page(folder: str | Path, plan, clips: dict, *, options) -> ReviewFolder:
    """Write ``review.json`` and ``index.html`` for ``plan``'s cards and their cut ``clips``."""
    folder = Path(folder)
    cards = [_card_dict(c, clips[c.id]) for c in plan.cards]
    per_class: dict[str, int] = {}
    for c in plan.cards:
        per_class[c.label] = per_class.get(c.label, 0) + 1
    manifest = dict(
        run=plan.run_id, predictions=str(plan.predictions), created=time.strftime("%Y-%m-%d %H:%M:%S"),
        version=__version__, classes=plan.classes, detections=plan.per_class, sampling=plan.sampling,
        clip_options=options.to_dict(), decision_columns=DECISION_COLUMNS, cards=cards,
    )
    _remove_stale(folder, {c[k] for c in cards for k in ("audio", "image")})
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    reviewable = sum(plan.per_class.values())
    summary = f"{len(cards)} of {reviewable} detection(s), {len(per_class)} class(es)"
    page_manifest = {k: manifest[k] for k in ("run", "classes", "cards")}
    inline = json.dumps(page_manifest, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    text = (HTML.replace("__CSS__", CSS).replace("__JS__", JS)
            .replace("__TITLE__", html.escape(plan.predictions.name))
            .replace("__RUN__", plan.run_id).replace("__SUMMARY__", html.escape(summary))
            .replace("__MANIFEST__", inline))
    atomic_write_text(folder / PAGE, text)
    return ReviewFolder(folder=folder, page=folder / PAGE, run_id=plan.run_id, cards=len(cards),
                        per_class=per_class, detections=reviewable, detections_per_class=dict(plan.per_class),
                        size_bytes=folder_bytes(folder),
                        problems=list(plan.problems))


__all__ = ["DECISION_COLUMNS", "DECISIONS", "ReviewFolder", "check_review_folder", "read_manifest", "write_page"]
