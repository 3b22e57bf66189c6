"""`prepare --annotations`: cut the clips, say what was cut and what was wrong."""

from __future__ import annotations

from pathlib import Path

from animalsnd.cli._app import console, warn


def cut_clips(recordings: Path, annotations: Path, cache: Path) -> Path:
    """Cut the annotated clips into CACHE/clips (one warning line per problem); the folder to prepare."""
    from animalsnd.annotated import cut_annotated

    res = cut_annotated(recordings, annotations, cache)
    for line in res.problems:
        warn(line)
    counts = ", ".join(f"{label} {n}" for label, n in res.counts().items())
    console.print(f"cut {len(res.clips)} clips from annotated recordings ({counts}) -> {res.folder}")
    return res.folder
