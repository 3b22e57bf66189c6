"""The reserved ``background`` class: non-target audio ("no animal").

``prepare DATA_DIR --background DIR`` adds every audio file under ``DIR``
(searched recursively, hidden files ignored) as clips of the class
``background``; they are hashed, featurised and split into folds like the
clips of any other class, so every model kind learns it. ``predict`` never
reports it: a window whose best class is ``background`` is dropped, as
``--min-confidence`` drops a window.

Rule for a ``DATA_DIR/background`` folder together with ``--background``:
both are used, merged into the one class. The clips of ``--background`` are
listed in the manifest under ``@background/<path inside DIR>`` so that they
can never collide with ``DATA_DIR/background/...``; a file present in both
places is one clip (duplicates are grouped by content, as always).
"""

from __future__ import annotations

from pathlib import Path

from animalsnd.dataset import Recording
from animalsnd.errors import DatasetError

BACKGROUND = "background"
#: manifest ``relpath`` prefix of the clips added with ``--background``
PREFIX = "@background"


def discover_background(root: str | Path) -> list[Recording]:
    """Audio files under ``root`` (any depth) as ``background`` recordings, sorted;
    a DatasetError when ``root`` is missing, not a folder, or holds no audio file."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"--background {root}: {'is not a folder' if root.exists() else 'does not exist'}")
    from animalsnd.augment.noisebank import find_noise_files

    try:
        files = find_noise_files(root)
    except DatasetError:
        raise DatasetError(f"--background {root}: no audio files (.wav|flac|ogg|mp3|aiff) in the folder tree") from None
    return [Recording(p, BACKGROUND, f"{PREFIX}/{p.relative_to(root).as_posix()}") for p in files]


def check_usable(rows: list[dict], root: str | Path) -> None:
    """Refuse a ``--background`` folder none of whose files could be decoded.

    Raises
    ------
    DatasetError
        No row from ``root`` (relpath under :data:`PREFIX`) has status ok.
    """
    mine = [r for r in rows if r["relpath"].startswith(PREFIX + "/")]
    if mine and not any(r["status"] == "ok" for r in mine):
        raise DatasetError(f"--background {root}: none of its {len(mine)} audio file(s) could be decoded")


def without_background(proba, classes):
    """``proba`` ``(n, n_classes)`` as a choice among the animal classes: the ``background``
    column removed and each row renormalised to sum to 1, and the animal classes.

    "Which animal, given there is one": ``eval``'s among-the-animals score and
    ``predict --per-file``'s default. A model without the class is returned as it is.
    """
    import numpy as np

    classes = list(classes)
    if BACKGROUND not in classes:
        return np.asarray(proba), classes
    b = classes.index(BACKGROUND)
    p = np.delete(np.asarray(proba, dtype=np.float64), b, axis=1)
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12), classes[:b] + classes[b + 1:]


def is_background(label: str) -> bool:
    return label == BACKGROUND
