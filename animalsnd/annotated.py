"""Training clips cut from annotated long recordings (``prepare RECORDINGS --annotations DIR``).

The annotation folder is read by :func:`animalsnd.annotations.read_annotations`
(Raven Pro selection tables matched to recordings by file stem, or
``file,start_s,end_s,label`` CSVs). Every audio file under RECORDINGS (any
depth) is a recording; only those with a table are used.

Rules
-----
* **Calls.** Each selection gives one clip labelled with its label: the
  selection plus :data:`CONTEXT_S` (0.5 s) on each side, widened evenly to at
  least :data:`MIN_CLIP_S` (1 s), both within the recording. The context
  never reaches into a selection of another label (it stops at its edge).
* **Overlaps.** Overlapping selections of the same label are one call (their
  union). Selections of different labels that overlap in time are both left
  out (a clip has one label), reported once per pair.
* **Background.** Stretches of an annotated recording at least
  :data:`BG_MARGIN_S` (2 s) away from every selection hold no animal: they
  give clips of :data:`BG_CLIP_S` (5 s) labelled ``background``, the first at
  the stretch's start and then one every :data:`BG_EVERY_S` (15 s) while a
  whole clip fits. A selection labelled ``background`` is not a call: its
  time counts as unannotated. A table with only its header means the whole
  recording is background.
* **Bad input**, one line each, the rest goes on: a table naming no
  recording, a recording named twice under RECORDINGS (the first is used),
  selections past the end (left out) or ending past it (cut there), and
  whatever :func:`~animalsnd.annotations.read_annotations` reports
  (zero-length or reversed selections, missing columns, unreadable times).

The clips are written as 16-bit WAV files at the recording's own sample rate
into ``CACHE/clips/<label>/<stem>_<start ms>-<end ms>.wav``, a folder-per-class
tree that ``prepare`` then prepares like any data folder, so the manifest
points at real files. The tree is rewritten on every run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from animalsnd.annotations import Event, check_events, read_annotations
from animalsnd.background import BACKGROUND
from animalsnd.errors import DatasetError

CONTEXT_S = 0.5
MIN_CLIP_S = 1.0
BG_MARGIN_S = 2.0
BG_CLIP_S = 5.0
BG_EVERY_S = 15.0
CLIPS_DIR = "clips"

__all__ = ["AnnotatedClips", "Clip", "call_clips", "background_clips", "cut_annotated", "is_clips_dir"]


@dataclass(frozen=True)
class Clip:
    stem: str
    start_s: float
    end_s: float
    label: str

    @property
    def name(self) -> str:
        return f"{self.stem}_{round(self.start_s * 1000):07d}-{round(self.end_s * 1000):07d}.wav"


@dataclass
class AnnotatedClips:
    folder: Path
    clips: list[Clip] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.clips:
            out[c.label] = out.get(c.label, 0) + 1
        return dict(sorted(out.items()))


def is_clips_dir(data_dir: str | Path, cache_dir: str | Path) -> bool:
    """True when ``data_dir`` is the clip tree this module writes inside ``cache_dir``."""
    return Path(data_dir).resolve() == (Path(cache_dir) / CLIPS_DIR).resolve()


def _conflicts(events: list[Event], problems: list[str]) -> list[Event]:
    """Events overlapping no event of another label (both of a clashing pair are reported and dropped)."""
    bad: set[int] = set()
    for i, a in enumerate(events):
        for j in range(i + 1, len(events)):
            b = events[j]
            if b.start_s >= a.end_s:
                break
            if a.label != b.label:
                problems.append(f"{a.source} ({a.label!r}) overlaps {b.source} ({b.label!r}): "
                                "different labels in one stretch; both left out")
                bad.update((i, j))
    return [e for k, e in enumerate(events) if k not in bad]


def call_clips(events: list[Event], duration_s: float) -> list[Clip]:
    """One clip per (checked, non-clashing, time-sorted) event, by the rules above."""
    out = []
    for e in events:
        lo, hi = 0.0, duration_s
        for o in events:  # the context stops at the edge of another label's selection
            if o.label != e.label:
                if o.end_s <= e.start_s:
                    lo = max(lo, o.end_s)
                elif o.start_s >= e.end_s:
                    hi = min(hi, o.start_s)
        a, b = max(lo, e.start_s - CONTEXT_S), min(hi, e.end_s + CONTEXT_S)
        short = MIN_CLIP_S - (b - a)
        if short > 0:  # widen evenly, then on whichever side has room
            a, b = max(lo, a - short / 2), min(hi, b + short / 2)
            short = MIN_CLIP_S - (b - a)
            if short > 0:
                a, b = max(lo, a - short), min(hi, b + short)
        out.append(Clip(e.stem, round(a, 3), round(b, 3), e.label))
    return out


def background_clips(stem: str, events: list[Event], duration_s: float) -> list[Clip]:
    """Background clips of the stretches at least BG_MARGIN_S from every event."""
    stretches, t = [], 0.0
    for e in sorted(events, key=lambda e: e.start_s):
        stretches.append((t, e.start_s - BG_MARGIN_S))
        t = max(t, e.end_s + BG_MARGIN_S)
    stretches.append((t, duration_s))
    out = []
    for a, b in stretches:
        s = a
        while s + BG_CLIP_S <= b + 1e-9:
            out.append(Clip(stem, round(s, 3), round(s + BG_CLIP_S, 3), BACKGROUND))
            s += BG_EVERY_S
    return out


def _recordings(root: Path, problems: list[str]) -> dict[str, Path]:
    from animalsnd.augment.noisebank import find_noise_files

    try:
        files = find_noise_files(root)
    except DatasetError:
        raise DatasetError(f"{root}: no audio files (.wav|flac|ogg|mp3|aiff) in the folder tree") from None
    out: dict[str, Path] = {}
    for p in files:
        if p.stem in out:
            problems.append(f"{p}: a second recording named {p.stem!r} (first: {out[p.stem]}); not used")
        else:
            out[p.stem] = p
    return out


def _write(path: Path, clips: list[Clip], folder: Path, problems: list[str]) -> list[Clip]:
    import soundfile as sf

    done = []
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            for c in clips:
                a, b = int(round(c.start_s * sr)), int(round(c.end_s * sr))
                f.seek(a)
                y = f.read(b - a, dtype="float32", always_2d=True).mean(axis=1)
                (folder / c.label).mkdir(parents=True, exist_ok=True)
                sf.write(str(folder / c.label / c.name), y, sr, subtype="PCM_16")
                done.append(c)
    except (RuntimeError, OSError) as exc:
        problems.append(f"{path}: cannot read ({exc}); its clips are left out")
    return done


def cut_annotated(recordings: str | Path, annotations: str | Path, cache_dir: str | Path) -> AnnotatedClips:
    """Cut call and background clips into ``CACHE/clips`` (see the module notes).

    Raises
    ------
    DatasetError
        RECORDINGS holds no audio, the annotation folder no table, or no
        recording has a usable table.
    """
    from animalsnd.stream import probe

    recordings = Path(recordings)
    if not recordings.is_dir():
        raise DatasetError(f"{recordings}: {'not a folder' if recordings.exists() else 'does not exist'}")
    ann = read_annotations(annotations)
    res = AnnotatedClips(Path(cache_dir) / CLIPS_DIR, problems=list(ann.problems))
    recs = _recordings(recordings, res.problems)
    shutil.rmtree(res.folder, ignore_errors=True)
    res.folder.mkdir(parents=True)
    for stem in sorted(ann.events):
        path = recs.get(stem)
        if path is None:
            res.problems.append(f"annotations for {stem!r}: no recording of that name under {recordings}; skipped")
            continue
        try:
            duration = probe(path).duration_s
        except Exception as exc:  # noqa: BLE001 - one line, the rest goes on
            res.problems.append(f"{path}: cannot read ({exc}); skipped")
            continue
        evs = ann.events[stem]
        labels = sorted({e.label for e in evs if e.label.lower() != BACKGROUND})
        kept = check_events(evs, duration_s=duration, classes=labels, problems=res.problems)
        calls = call_clips(_conflicts(kept, res.problems), duration)
        res.clips += _write(path, calls + background_clips(stem, kept, duration), res.folder, res.problems)
    if not res.clips:
        raise DatasetError(f"--annotations {annotations}: no clip could be cut (no table matches a recording "
                           f"under {recordings}, or no usable selection)")
    return res
