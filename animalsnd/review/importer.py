"""``review --import``: the page's decisions -> a folder-per-class training set and a precision estimate.

Accepted detections become clips of their predicted label, relabelled ones
clips of the corrected label, rejected ones ``background`` clips: each is
the detection's span, cut from the review folder's clip, as FLAC in
``OUT/<label>/``. ``OUT/reviewed.csv`` lists every clip an import made
there; a later import (of the same or another review) adds to it, moves a
clip whose decision changed, and never removes a file it did not make, so
nothing reviewed before is lost and ``OUT`` may be an existing training
folder.

Precision per predicted label is accepted / reviewed, with a Wilson 95 %
interval, over every reviewed card and over the unbiased part of the sample
alone (the random draws, and labels reviewed whole): the top-N cards are the
most confident and make the first figure optimistic. The estimate for all
the label's detections counts the top cards as they were decided and the
rest of the detections at the random cards' rate (and its interval).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from animalsnd.background import BACKGROUND
from animalsnd.errors import DatasetError
from animalsnd.fileutil import atomic_write_csv
from animalsnd.review.page import DECISIONS, read_manifest
from animalsnd.review.plan import UNKNOWN

LEDGER = "reviewed.csv"
LEDGER_COLUMNS = ["run", "id", "file", "start_s", "end_s", "label", "decision", "class", "clip"]
Z95 = 1.959964


def wilson(k: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (``(0, 1)`` when ``n == 0``)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class ImportReport:
    decisions: Path
    page: Path
    out: Path
    run_id: str
    precision: dict[str, dict]  # predicted label -> counts and estimates
    written: dict[str, int]  # training label -> clips written by this import
    kept: int  # decided rows of earlier imports left as they were
    pending: int  # cards without a decision
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return dict(run=self.run_id, decisions=str(self.decisions), page=str(self.page), out=str(self.out),
                    precision=self.precision, written=self.written, pending=self.pending,
                    problems=list(self.problems))


def _read_decisions(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise DatasetError(f"{path}: decisions file does not exist")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    reader = csv.DictReader(text.splitlines())
    need = ("run", "file", "start_s", "end_s", "label", "decision", "corrected_label")
    missing = [c for c in need if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(f"{path}: not a decisions file exported by the review page: missing column(s) "
                           f"{', '.join(missing)}")
    return [(i + 2, r) for i, r in enumerate(reader)]


def _check_run(path: Path, rows, manifest: dict, page: Path) -> None:
    runs = sorted({r["run"] for _, r in rows if r.get("run")})
    if not runs:
        raise DatasetError(f"{path}: no decisions in it")
    if len(runs) > 1:
        raise DatasetError(f"{path}: mixes decisions of {len(runs)} review runs ({', '.join(runs)}); "
                           "import each run's own export")
    if runs[0] != manifest["run"]:
        raise DatasetError(f"{path}: decisions of review run {runs[0]}, but {page} is the review of run "
                           f"{manifest['run']} ({manifest.get('predictions')}); pass --page with the review "
                           "folder it was exported from")


def _match(rows, manifest: dict, path: Path, classes: set[str], problems: list[str]):
    """Decided rows -> (card, decision, training label); unknown ids, labels and decisions are reported."""
    by_id = {c["id"]: c for c in manifest["cards"]}
    by_span = {(c["file"], round(c["start_s"], 3), round(c["end_s"], 3), c["label"]): c for c in manifest["cards"]}
    out, seen, pending = [], set(), 0
    for line, r in rows:
        decision = (r.get("decision") or "").strip().lower()
        if not decision:
            pending += 1
            continue
        try:
            key = (r["file"], round(float(r["start_s"]), 3), round(float(r["end_s"]), 3), r["label"])
        except ValueError:
            problems.append(f"{path} line {line}: unreadable start_s/end_s; row left out")
            continue
        card = by_id.get(r.get("id") or "") or by_span.get(key)
        if card is None:
            problems.append(f"{path} line {line}: {r['file']} {r['start_s']}-{r['end_s']} s is not a card of "
                            "this review; row left out")
            continue
        if card["id"] in seen:
            problems.append(f"{path} line {line}: a second decision for the same card; the first is kept")
            continue
        if decision not in DECISIONS:
            problems.append(f"{path} line {line}: unknown decision {decision!r} (expected "
                            f"{', '.join(DECISIONS)}); row left out")
            continue
        if decision == "corrected":
            target = (r.get("corrected_label") or "").strip()
            if target not in classes and target != BACKGROUND:
                problems.append(f"{path} line {line}: unknown label {target!r} (known: {', '.join(sorted(classes))}"
                                f"; add it with --classes); row left out")
                continue
        elif decision == "accepted":
            target = card["label"]
            if target == UNKNOWN:
                problems.append(f"{path} line {line}: an accepted '{UNKNOWN}' detection has no class; "
                                "relabel it; row left out")
                continue
        else:
            target = BACKGROUND
        seen.add(card["id"])
        out.append((card, decision, target))
    return out, pending


def _estimate(mine, cards: list[dict], detections: int) -> dict | None:
    """Precision of all ``detections`` of a class: the top cards are a census, the random ones a sample of the rest.

    ``None`` when a top card is undecided or no random card is (the estimate
    would lean on the most confident detections alone).
    """
    decided = {c["id"]: d for c, d in mine}
    top = [c for c in cards if c["sample"] == "top"]
    if any(c["id"] not in decided for c in top):
        return None
    sample = [d for c, d in mine if c["sample"] in ("random", "all")]
    if not sample:
        return None
    k, n = sum(d == "accepted" for d in sample), len(sample)
    lo, hi = wilson(k, n)
    a_top, rest = sum(decided[c["id"]] == "accepted" for c in top), max(detections - len(top), 0)
    total = len(top) + rest
    share = (lambda p: (a_top + rest * p) / total) if total else (lambda p: p)
    return dict(detections=detections, precision=round(share(k / n), 4), ci95=[round(share(lo), 4), round(share(hi), 4)])


def precision_table(decided, manifest: dict) -> dict[str, dict]:
    """Per predicted label: precision with its Wilson 95 % interval over the reviewed cards, over the
    random ones (``unbiased``), and estimated for all the label's detections (``estimate``)."""
    out: dict[str, dict] = {}
    for label in sorted({c["label"] for c, _, _ in decided} - {UNKNOWN}):
        mine = [(c, d) for c, d, _ in decided if c["label"] == label]
        rand = [(c, d) for c, d in mine if c["sample"] in ("random", "all")]
        row = {}
        for name, group in (("reviewed", mine), ("unbiased", rand)):
            n, k = len(group), sum(d == "accepted" for _, d in group)
            lo, hi = wilson(k, n)
            row[name] = dict(n=n, accepted=k, precision=round(k / n, 4) if n else None,
                             ci95=[round(lo, 4), round(hi, 4)])
        cards = [c for c in manifest["cards"] if c["label"] == label]
        row["detections"] = manifest.get("detections", {}).get(label, len(cards))
        row["estimate"] = _estimate(mine, cards, row["detections"])
        row["rejected"] = sum(d == "rejected" for _, d in mine)
        row["corrected"] = sum(d == "corrected" for _, d in mine)
        out[label] = row
    return out


def _read_ledger(out: Path) -> dict[tuple[str, str], dict]:
    path = out / LEDGER
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {(r["run"], r["id"]): r for r in csv.DictReader(f)}


def _write_ledger(out: Path, ledger: dict) -> None:
    atomic_write_csv(out / LEDGER, ({k: ledger[key].get(k, "") for k in LEDGER_COLUMNS} for key in sorted(ledger)),
                     LEDGER_COLUMNS)


def _clip_name(card: dict) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in Path(card["file"]).stem)
    return f"{stem}_{card['start_s']:.2f}-{card['end_s']:.2f}s_{card['id'][:8]}.flac"


def _write_clip(page: Path, card: dict, dest: Path) -> None:
    import soundfile as sf

    src = page / card["audio"]
    with sf.SoundFile(str(src)) as f:
        sr = f.samplerate
        i0 = max(0, int(round((card["start_s"] - card["clip_start_s"]) * sr)))
        i1 = min(f.frames, int(round((card["end_s"] - card["clip_start_s"]) * sr)))
        f.seek(i0)
        y = f.read(i1 - i0, dtype="float32")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    sf.write(str(tmp), y, sr, format="FLAC", subtype="PCM_16")
    tmp.replace(dest)


def import_decisions(
    decisions: str | Path,
    out: str | Path,
    *,
    page: str | Path | None = None,
    classes=(),
) -> ImportReport:
    """Turn a decisions CSV exported by the review page into training clips under ``out``.

    Parameters
    ----------
    decisions : path
        The CSV the page exported (:data:`~animalsnd.review.page.DECISION_COLUMNS`).
    out : path
        The training folder: ``out/<label>/*.flac``, ``out/background/*.flac``
        and ``out/reviewed.csv``. It may already hold other clips.
    page : path, optional
        The review folder the decisions were made in. Default: the decisions
        file's folder.
    classes : sequence of str
        Labels accepted as corrections besides the review's own.

    Raises
    ------
    DatasetError
        No review folder, a decisions file of another review run, or not a
        decisions file at all.
    """
    decisions, out = Path(decisions), Path(out)
    page = Path(page) if page is not None else decisions.parent
    manifest = read_manifest(page)
    if manifest is None:
        raise DatasetError(f"{page}: not a review folder (no review.json); pass --page with the folder "
                           "`animalsnd review` wrote")
    rows = _read_decisions(decisions)
    _check_run(decisions, rows, manifest, page)
    problems: list[str] = []
    known = set(manifest.get("classes", [])) | set(classes)
    decided, pending = _match(rows, manifest, decisions, known, problems)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    ledger = _read_ledger(out)
    written: dict[str, int] = {}
    for card, decision, target in decided:
        key = (manifest["run"], card["id"])
        rel = f"{target}/{_clip_name(card)}"
        old = ledger.get(key)
        if old and old["clip"] != rel and (out / old["clip"]).is_file():
            (out / old["clip"]).unlink()  # the decision changed: the clip moves to its new class
        if not (old and old["clip"] == rel and (out / rel).is_file()):
            try:
                _write_clip(page, card, out / rel)
            except (RuntimeError, OSError) as exc:
                problems.append(f"{page / card['audio']}: cannot read the clip ({exc}); "
                                f"{card['file']} {card['start_s']}-{card['end_s']} s left out")
                continue
        ledger[key] = dict(run=manifest["run"], id=card["id"], file=card["file"], start_s=card["start_s"],
                           end_s=card["end_s"], label=card["label"], decision=decision, **{"class": target},
                           clip=rel)
        written[target] = written.get(target, 0) + 1
    _write_ledger(out, ledger)
    mine = {(manifest["run"], c["id"]) for c, _, _ in decided}
    return ImportReport(decisions=decisions, page=page, out=out, run_id=manifest["run"],
                        precision=precision_table(decided, manifest), written=written,
                        kept=sum(k not in mine for k in ledger), pending=pending, problems=problems)
