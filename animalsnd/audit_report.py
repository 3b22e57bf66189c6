"""The data audit of a prepared cache: recording properties per class and the shortcut score.

Every usable clip of the cache is measured once (:func:`animalsnd.audit.clip_properties`)
and the results are kept in ``CACHE/audit/properties.json``, keyed by the
clip's sha256, so a re-run only measures new clips.

The **shortcut score** asks whether the recording chain alone names the
class: a class-balanced random forest that sees only the recording properties
(no audio) is cross-validated over the cache's own folds. Its balanced
accuracy is compared with chance (``1 / n_classes``) and its accuracy with
the majority-class rate; each property on its own is scored the same way by
a class-balanced decision tree, and the forest's recall per class says which
classes the chain gives away.

A score is **well above chance** when it closes at least a third of the gap
between chance and a perfect score: ``balanced accuracy >= chance + (1 - chance) / 3``
(0.40 for 10 classes, four times chance; 0.67 for 2 classes). The audit
warns when the forest's score is; it then names the properties whose own
score is at least half-way to that line and the classes the forest recalls
at least that well.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.audit import ACTIVE_DB, BANDWIDTH_DB, PROPERTIES, clip_properties
from animalsnd.errors import DatasetError

STORE_NAME = "properties.json"
SPEC = {"version": 1, "bandwidth_db": BANDWIDTH_DB, "active_db": ACTIVE_DB}
NUMERIC = ("sample_rate", "bandwidth_hz", "channels", "bit_depth", "duration_s", "rms_dbfs", "peak_dbfs",
           "lead_silence_s", "trail_silence_s")
CATEGORICAL = ("sample_rate", "channels", "encoding", "bit_depth")  # summarised by their most common values
N_TREES = 100


def well_above(chance: float) -> float:
    """The balanced accuracy that counts as well above ``chance`` (see the module docstring)."""
    return chance + (1.0 - chance) / 3.0


@dataclass
class Shortcut:
    """Cross-validated scores of a classifier that sees only the recording properties."""

    accuracy: float
    balanced_accuracy: float
    majority_rate: float  # accuracy of always naming the most common class
    chance: float  # balanced accuracy of any guess that ignores the input: 1 / n_classes
    threshold: float  # well_above(chance)
    flagged: bool
    per_property: dict[str, dict]  # property -> {"accuracy", "balanced_accuracy"} (None when constant)
    per_class_recall: dict[str, float]
    properties: list[str] = field(default_factory=list)  # named in the warning
    classes: list[str] = field(default_factory=list)


@dataclass
class Audit:
    cache: str
    n_clips: int
    classes: list[str]
    clips: list[dict]  # relpath, label, fold, sha256 and the properties
    failed: list[dict]  # relpath, error
    per_class: dict[str, dict]
    sample_rates: list[int]
    shortcut: Shortcut | None
    measured: int
    reused: int
    kept: bool  # the measurements were saved in the store

    @property
    def warning(self) -> str | None:
        return warning_line(self)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["warning"] = self.warning
        return d


# ------------------------------------------------------------------ measuring
def _measure(path: str) -> dict:
    """Worker: the properties of one file, or why it could not be read."""
    from animalsnd.cache import failure_reason

    try:
        return clip_properties(path)
    except Exception as exc:  # noqa: BLE001 - reported per clip
        return {"error": failure_reason(path, exc)}


def _read_store(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("clips", {}) if data.get("spec") == SPEC else {}


def measure_rows(rows: list[dict], *, store: str | Path | None, jobs: int = -1,
                 progress: Callable[[int, int], None] | None = None) -> tuple[list[dict], int, int, bool]:
    """Properties of every manifest row (``{"error": ...}`` when unreadable), in order.

    Measurements already in ``store/properties.json`` are reused; new ones
    are added to it. Returns ``(properties, measured, reused, kept)``;
    ``kept`` is False when the store could not be written (a read-only cache).
    """
    from animalsnd.cache import atomic_write_text
    from animalsnd.parallel import TaskFailure, run_parallel

    path = Path(store) / STORE_NAME if store is not None else None
    known = _read_store(path) if path is not None else {}
    todo = sorted({r["sha256"]: r["path"] for r in rows if r["sha256"] not in known}.items())
    results = run_parallel(_measure, [(p,) for _, p in todo], jobs=jobs, progress=progress)
    for (sha, _), res in zip(todo, results):
        known[sha] = {"error": res.error} if isinstance(res, TaskFailure) else res
    kept = path is not None
    if todo and path is not None:
        try:
            atomic_write_text(path, json.dumps({"spec": SPEC, "clips": known}, indent=1, sort_keys=True) + "\n")
        except OSError:
            kept = False
    return [known[r["sha256"]] for r in rows], len(todo), len(rows) - len(todo), kept


# ------------------------------------------------------------------ summaries
def _summary(values: list, prop: str) -> dict:
    known = [v for v in values if v is not None]
    common = [[("unknown" if v is None else v), n] for v, n in Counter(values).most_common(3)]
    out: dict = {"most_common": common}
    if prop in NUMERIC and known:
        arr = np.asarray(known, dtype=float)
        out.update(median=float(np.median(arr)), p10=float(np.percentile(arr, 10)),
                   p90=float(np.percentile(arr, 90)))
    return out


def per_class_summary(clips: list[dict]) -> dict[str, dict]:
    """``{class: {"n": clips, property: {"most_common": [[value, n], ...], "median", "p10", "p90"}}}``."""
    out: dict[str, dict] = {}
    for label in sorted({c["label"] for c in clips}):
        mine = [c for c in clips if c["label"] == label]
        out[label] = {"n": len(mine), **{p: _summary([c[p] for c in mine], p) for p in PROPERTIES}}
    return out


# ------------------------------------------------------------------ the shortcut score
def _matrix(clips: list[dict], props: tuple[str, ...]) -> np.ndarray:
    cols = []
    for p in props:
        if p == "encoding":
            names = sorted({c[p] for c in clips})
            cols.append([names.index(c[p]) for c in clips])
        else:
            cols.append([-1.0 if c[p] is None else float(c[p]) for c in clips])
    return np.asarray(cols, dtype=float).T


def _model(n_props: int, n_train: int):
    """A class-balanced random forest; a single property gets one decision tree (a binning of it)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if n_props == 1:
        leaf = max(1, min(5, n_train // 20))
        return DecisionTreeClassifier(min_samples_leaf=leaf, class_weight="balanced", random_state=0)
    return RandomForestClassifier(n_estimators=N_TREES, min_samples_leaf=2, class_weight="balanced",
                                  random_state=0, n_jobs=1)


def _cv_predict(X: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions over the cache's own folds."""
    import warnings

    pred = np.empty_like(y)
    for k in np.unique(folds):
        test = folds == k
        with warnings.catch_warnings():  # many classes of few clips: sklearn asks whether y is a regression target
            warnings.simplefilter("ignore", UserWarning)
            clf = _model(X.shape[1], int((~test).sum())).fit(X[~test], y[~test])
        pred[test] = clf.predict(X[test])
    return pred


def shortcut_score(clips: list[dict], props: tuple[str, ...] = PROPERTIES) -> Shortcut | None:
    """The shortcut score of measured clips (with ``label`` and ``fold``) from the properties
    ``props``; None with fewer than two classes or folds."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score

    classes = sorted({c["label"] for c in clips})
    folds = np.array([int(c["fold"]) for c in clips])
    if len(classes) < 2 or len(np.unique(folds)) < 2:
        return None
    y = np.array([classes.index(c["label"]) for c in clips])
    chance = 1.0 / len(classes)
    threshold = well_above(chance)

    def scores(props: tuple[str, ...]) -> tuple[dict, np.ndarray]:
        pred = _cv_predict(_matrix(clips, props), y, folds)
        return {"accuracy": float(accuracy_score(y, pred)),
                "balanced_accuracy": float(balanced_accuracy_score(y, pred))}, pred

    full, pred = scores(tuple(props))
    per_property = {}
    for p in props:
        constant = len({c[p] for c in clips}) < 2
        per_property[p] = {"accuracy": None, "balanced_accuracy": None} if constant else scores((p,))[0]
    recall = recall_score(y, pred, labels=range(len(classes)), average=None, zero_division=0)
    flagged = full["balanced_accuracy"] >= threshold
    half = (chance + threshold) / 2
    named = sorted((p for p, s in per_property.items() if (s["balanced_accuracy"] or 0) >= half),
                   key=lambda p: -per_property[p]["balanced_accuracy"])
    return Shortcut(
        accuracy=full["accuracy"], balanced_accuracy=full["balanced_accuracy"],
        majority_rate=max(Counter(y.tolist()).values()) / len(y), chance=chance, threshold=threshold,
        flagged=flagged, per_property=per_property,
        per_class_recall={c: float(r) for c, r in zip(classes, recall)},
        properties=named if flagged else [],
        classes=[c for c, r in sorted(zip(classes, recall), key=lambda cr: -cr[1])
                 if flagged and r >= threshold],
    )


# ------------------------------------------------------------------ the audit
def audit_rows(rows: list[dict], *, cache: str = "", store: str | Path | None = None, jobs: int = -1,
               progress: Callable[[int, int], None] | None = None) -> Audit:
    """Audit manifest rows (``path``, ``relpath``, ``label``, ``fold``, ``sha256``)."""
    props, measured, reused, kept = measure_rows(rows, store=store, jobs=jobs, progress=progress)
    clips, failed = [], []
    for r, p in zip(rows, props):
        if "error" in p:
            failed.append({"relpath": r["relpath"], "error": p["error"]})
        else:
            clips.append({"relpath": r["relpath"], "label": r["label"], "fold": int(r["fold"]),
                          "sha256": r["sha256"], **p})
    if not clips:
        raise DatasetError(f"{cache or 'the audit'}: no clip could be measured")
    return Audit(cache=cache, n_clips=len(clips), classes=sorted({c["label"] for c in clips}), clips=clips,
                 failed=failed, per_class=per_class_summary(clips),
                 sample_rates=sorted({c["sample_rate"] for c in clips}),
                 shortcut=shortcut_score(clips), measured=measured, reused=reused, kept=kept)


def audit_cache(cache_dir: str | Path, *, store: str | Path | None = None, jobs: int = -1,
                progress: Callable[[int, int], None] | None = None) -> Audit:
    """Audit the usable clips of a prepared cache; measurements are kept in
    ``store`` (default ``CACHE/audit``).

    Raises
    ------
    DatasetError
        Not a cache, no usable clip, or none could be measured.
    """
    from animalsnd.cache import usable_rows

    rows = usable_rows(cache_dir)
    store = Path(cache_dir) / "audit" if store is None else store
    return audit_rows(rows, cache=str(cache_dir), store=store, jobs=jobs, progress=progress)


def warning_line(audit: Audit) -> str | None:
    """One line naming what gives the class away, or None when nothing does."""
    s = audit.shortcut
    if s is None or not s.flagged:
        return None
    props = ", ".join(s.properties) or "the recording properties together"
    classes = ", ".join(s.classes) or "no single class"
    return (f"the recording chain gives the class away: a classifier that sees only recording properties "
            f"scores {s.balanced_accuracy:.2f} balanced accuracy (chance {s.chance:.2f}, majority rate "
            f"{s.majority_rate:.2f}); most telling: {props}; classes it names: {classes} "
            f"(see `animalsnd audit`)")
