"""Folder names to model classes, for scoring someone else's folder-per-class data.

``eval --data DIR --map hen=chicken,rooster=chicken,crow=bird`` scores the
clips of ``DIR/hen`` and ``DIR/rooster`` as ``chicken`` and those of
``DIR/crow`` as ``bird``. The map may also be a CSV file of ``folder,class``
rows (a header row ``folder,class`` is allowed). A folder that is neither a
class of the model nor mapped to one is reported and not scored.

``prepare DATA_DIR --map ...`` uses the same map: the clips of a mapped
folder are prepared, trained and scored as that class.

The data loaders of :mod:`animalsnd.evaluate` look labels up through
:func:`class_index`, and :func:`animalsnd.dataset.discover` names a class
folder through :func:`folder_label`; both apply the map made active by
:func:`using`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from animalsnd.errors import ConfigError

_ACTIVE: ContextVar[dict[str, str]] = ContextVar("animalsnd_label_map", default={})


def _pairs_from_csv(path: Path) -> list[tuple[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--map {path}: cannot read ({exc})") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0]] == ["folder", "class"]:
        rows = rows[1:]
    for r in rows:
        if len(r) != 2:
            raise ConfigError(f"--map {path}: row {','.join(r)!r} must be folder,class")
    return [(a, b) for a, b in rows]


def parse_map(spec: str | Path | None) -> dict[str, str]:
    """``"hen=chicken,crow=bird"`` or a CSV file of ``folder,class`` rows -> ``{folder: class}``.

    Raises
    ------
    ConfigError
        A malformed entry, an empty name, or a folder mapped twice to
        different classes.
    """
    if spec is None or str(spec).strip() == "":
        return {}
    path = Path(str(spec))
    if path.is_file():
        pairs = _pairs_from_csv(path)
    else:
        pairs = []
        for item in str(spec).split(","):
            if item.count("=") != 1:
                raise ConfigError(f"--map entry {item.strip()!r} must be FOLDER=CLASS (or give a CSV file)")
            a, b = item.split("=")
            pairs.append((a, b))
    out: dict[str, str] = {}
    for a, b in pairs:
        a, b = a.strip(), b.strip()
        if not a or not b:
            raise ConfigError(f"--map entry {a}={b} needs both a folder name and a class")
        if out.get(a, b) != b:
            raise ConfigError(f"--map maps {a!r} to both {out[a]!r} and {b!r}")
        out[a] = b
    return out


def check_map(mapping: dict[str, str], classes: Sequence[str]) -> dict[str, str]:
    """Every target must be one of the model's classes; returns the map with each target spelled
    as its class (a target in another case, or in the plural, finds its class as a folder does).

    Raises
    ------
    ConfigError
        Naming the unknown target(s) and the model's classes.
    """
    known = ClassIndex({c: i for i, c in enumerate(classes)})
    bad = sorted({c for c in mapping.values() if c not in known})
    if bad:
        raise ConfigError(f"--map: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not a class of the model "
                          f"({', '.join(classes)})")
    return {folder: classes[known[target]] for folder, target in mapping.items()}


@contextmanager
def using(mapping: dict[str, str] | None) -> Iterator[None]:
    """Make ``mapping`` the active folder -> class map inside the ``with`` block."""
    token = _ACTIVE.set(dict(mapping or {}))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def folder_label(name: str) -> str:
    """The class a folder named ``name`` holds under the active map (its own name if unmapped)."""
    return _ACTIVE.get().get(name, name)


def unused_entries(mapping: dict[str, str], root: str | Path) -> list[str]:
    """Map entries that name no folder of ``root`` (a typo, or another data set's names)."""
    root = Path(root)
    return sorted(k for k in mapping if not (root / k).is_dir())


def _loose(name: str) -> str:
    return " ".join(name.casefold().replace("_", " ").replace("-", " ").split())


def _forms(name: str) -> set[str]:
    """``name`` ignoring case and spacing, and its singular when it looks like an English plural
    (``Dogs`` -> ``dog``, ``Finches`` -> ``finch``, ``Puppies`` -> ``puppy``)."""
    base = _loose(name)
    out = {base}
    if base.endswith("ies") and len(base) > 4:
        out.add(base[:-3] + "y")
    if base.endswith("es") and len(base) > 3:
        out.add(base[:-2])
    if base.endswith("s") and not base.endswith("ss") and len(base) > 2:
        out.add(base[:-1])
    return out


class ClassIndex(dict):
    """``{label: class index}``; a label that is no key but fits exactly one class once case,
    spaces, hyphens, underscores and an English plural are set aside (``Dog``, ``dogs``,
    ``Red-Fox`` for ``red fox``) finds that class, and is remembered in :attr:`loose` for the
    note that says so. A label that fits two classes is not guessed."""

    def __init__(self, exact: dict[str, int]) -> None:
        super().__init__(exact)
        self.loose: dict[str, str] = {}
        self._by_form: dict[str, set[str]] = {}
        for name in exact:
            for form in _forms(name):
                self._by_form.setdefault(form, set()).add(name)

    def _match(self, label: str) -> str | None:
        hits = set().union(*(self._by_form.get(f, set()) for f in _forms(label)))
        targets = {super(ClassIndex, self).__getitem__(h) for h in hits}
        return min(hits) if len(targets) == 1 else None

    def __missing__(self, label: str) -> int:
        name = self._match(label) if isinstance(label, str) else None
        if name is None:
            raise KeyError(label)
        self.loose[label] = name
        return super().__getitem__(name)

    def __contains__(self, label: object) -> bool:
        return self.get(label) is not None

    def get(self, label, default=None):
        try:
            return self[label]
        except KeyError:
            return default


def class_index(classes: Sequence[str]) -> ClassIndex:
    """``{label: class index}`` for the model's classes and every active alias of them
    (:class:`ClassIndex`: ``Dog`` and ``dogs`` find ``dog``).

    A mapped name counts as its target even when it is a class itself, as
    :func:`folder_label` names such a folder.
    """
    known = {c: i for i, c in enumerate(classes)}
    for folder, target in _ACTIVE.get().items():
        if target in classes:
            known[folder] = classes.index(target)
    return ClassIndex(known)


def loose_notes(known: dict[str, int]) -> list[str]:
    """The note (none or one) naming folders matched to a class by :class:`ClassIndex` despite case,
    spacing or a plural."""
    loose = getattr(known, "loose", {})
    if not loose:
        return []
    return ["folders matched to the model's classes by name, ignoring case, spacing and plurals: " + ", ".join(
        f"{k} -> {v}" for k, v in sorted(loose.items()))]


def no_match_message(source: str, unknown: dict[str, int], classes: Sequence[str],
                     root: str | Path | None = None) -> str:
    """The one line when no clip belongs to a class of the model; when ``root`` is given and one of
    its folders holds folders named as classes (an archive unpacked into a folder of its own), it
    says where the class folders are."""
    folders = ", ".join(f"{k} ({v} clip{'s' if v != 1 else ''})" for k, v in sorted(unknown.items()))
    verb = "is" if len(unknown) == 1 else "are"
    msg = (f"{source}: no clips of the model's classes to evaluate: {folders} {verb} no class of the "
           f"model ({', '.join(classes)})")
    known = class_index(classes)
    for k in sorted(unknown) if root is not None else []:
        d = Path(root) / k
        if d.is_dir() and any(c.is_dir() and c.name in known for c in d.iterdir()):
            return f"{msg}; the class folders seem to be one level down: --data {d}"
    return f"{msg}; --map FOLDER=CLASS scores a folder as one of them"


def unmatched_note(unknown: dict[str, int]) -> str:
    """The warning for labels (folders) that are no class of the model."""
    n = sum(unknown.values())
    listed = ", ".join(f"{k} ({v})" for k, v in sorted(unknown.items()))
    return (f"{n} clip(s) in folders with no class in the model were not scored: {listed}; "
            "--map FOLDER=CLASS scores them as one of its classes")
