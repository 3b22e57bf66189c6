"""Calibrated decisions: a temperature for the probabilities, a threshold per class.

``train --cv`` (or ``animalsnd calibrate MODEL_DIR``) scores every fold model
on its own held-out fold, which gives one out-of-fold probability vector per
clip that no model trained on. From these:

- **temperature scaling**: one number ``T``, chosen to minimise the negative
  log-likelihood of the true classes, turns a probability vector ``p`` into
  ``softmax(log p / T)``, so that a confidence of 0.9 is right about 90 % of
  the time on held-out clips;
- **per-class thresholds** for a target precision (default 0.9): for class
  ``c``, the held-out clips whose top class is ``c`` are ranked by
  confidence, and the threshold lies halfway between the least confident one
  that still keeps their precision at the target and the next one, which
  would bring it below. When every clip given label ``c`` keeps the target,
  there is no evidence for a threshold and it is 0. A class that never
  reaches the target gets the threshold of its most precise point (the
  highest-precision confidence with at least :data:`MIN_SUPPORT` clips above
  it).

Both are written to ``MODEL_DIR/calibration.json`` and used by ``predict`` by
default: a window is reported only when its (calibrated) confidence reaches
its class's threshold. ``--min-confidence`` or ``--unknown-below`` replace the
thresholds; ``--no-calibration`` ignores the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.errors import BundleError, ConfigError

__all__ = ["CALIBRATION_FILE", "Calibration", "apply_temperature", "calibrate", "fit", "fit_out_of_fold",
           "load_calibration", "reliability"]

CALIBRATION_FILE = "calibration.json"
DEFAULT_TARGET = 0.9
MIN_SUPPORT = 3
_FORMAT = 1


@dataclass(frozen=True)
class Calibration:
    """What ``predict`` applies to a model's window probabilities."""

    temperature: float
    thresholds: dict[str, float]
    target_precision: float
    n_clips: int
    achieved: dict[str, dict] = field(default_factory=dict)  # per class: precision, recall at its threshold
    source: str = ""

    def to_dict(self) -> dict:
        return {"format": _FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        keys = ("temperature", "thresholds", "target_precision", "n_clips", "achieved", "source")
        return cls(**{k: d[k] for k in keys if k in d})


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row; ``T == 1`` returns ``proba`` unchanged."""
    if temperature == 1.0:
        return proba
    logp = np.log(np.clip(np.asarray(proba, np.float64), 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _nll(proba: np.ndarray, y: np.ndarray, temperature: float) -> float:
    p = apply_temperature(proba, temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature in [0.05, 20] with the lowest held-out negative log-likelihood."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    losses = [_nll(proba, y, t) for t in grid]
    best = int(np.argmin(losses))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    fine = np.exp(np.linspace(np.log(lo), np.log(hi), 41))
    return float(fine[int(np.argmin([_nll(proba, y, t) for t in fine]))])


def reliability(proba: np.ndarray, y: np.ndarray, *, bins: int = 10) -> dict:
    """How often the top class is right, per band of confidence (a reliability diagram).

    Returns ``{"edges": (bins + 1,), "confidence": (bins,), "accuracy": (bins,),
    "count": (bins,), "ece": float}``: per band of top-class confidence, the mean
    confidence and the share of right top classes (NaN in an empty band), and the
    expected calibration error (their count-weighted mean absolute gap).
    """
    proba, y = np.asarray(proba, np.float64), np.asarray(y, int)
    if bins < 1 or len(y) != len(proba) or not len(y):
        raise ConfigError(f"reliability needs bins >= 1 and one label per probability row (bins={bins})")
    conf, right = proba.max(axis=1), proba.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    band = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(band, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(band, conf, minlength=bins) / count
        acc = np.bincount(band, right, minlength=bins) / count
    ece = float(np.nansum(count * np.abs(mean_conf - acc)) / len(y))
    return {"edges": edges, "confidence": mean_conf, "accuracy": acc, "count": count, "ece": ece}


def class_threshold(conf: np.ndarray, correct: np.ndarray, *, target: float) -> tuple[float, float, int]:
    """Threshold, its precision and the number of clips above it, for one class.

    ``conf``: the confidence of the clips whose top class is this class;
    ``correct``: whether each of them is this class.
    """
    if conf.size == 0:
        return 1.0, 0.0, 0
    order = np.argsort(-conf, kind="stable")
    c, ok = conf[order], correct[order].astype(float)
    precision = np.cumsum(ok) / np.arange(1, c.size + 1)  # keeping the k most confident clips
    meets = np.nonzero(precision >= target)[0]
    if meets.size:
        k = int(meets[-1])
        if k == c.size - 1:  # every prediction of the class meets the target: no evidence for a threshold
            return 0.0, float(precision[k]), int(c.size)
        # halfway to the next, less confident prediction, which brings precision below the target
        return float((c[k] + c[k + 1]) / 2), float(precision[k]), k + 1
    else:
        supported = np.arange(MIN_SUPPORT - 1, c.size) if c.size >= MIN_SUPPORT else np.arange(c.size)
        k = int(supported[np.argmax(precision[supported])])
    return float(c[k]), float(precision[k]), k + 1


def fit(proba: np.ndarray, y: np.ndarray, classes: list[str], *, target: float = DEFAULT_TARGET,
        source: str = "") -> Calibration:
    """Temperature and per-class thresholds from held-out probabilities ``proba`` (n, C) and true ``y`` (n,)."""
    if not 0.0 < target < 1.0:
        raise ConfigError(f"--target-precision {target} must be between 0 and 1 (exclusive)")
    proba, y = np.asarray(proba, np.float64), np.asarray(y, int)
    if len(y) < 2:
        raise ConfigError("calibration needs held-out predictions of at least two clips")
    temperature = fit_temperature(proba, y)
    p = apply_temperature(proba, temperature)
    top, conf = p.argmax(axis=1), p.max(axis=1)
    thresholds, achieved = {}, {}
    for c, name in enumerate(classes):
        mine = top == c
        t, prec, kept = class_threshold(conf[mine], y[mine] == c, target=target)
        thresholds[name] = round(t, 6)
        total = int(np.sum(y == c))
        achieved[name] = {"precision": round(prec, 4), "recall": round(kept * prec / total, 4) if total else 0.0,
                          "clips": total}
    return Calibration(temperature=round(temperature, 6), thresholds=thresholds, target_precision=target,
                       n_clips=int(len(y)), achieved=achieved, source=source)


def fit_out_of_fold(folds: Sequence[tuple[np.ndarray, np.ndarray]], classes: list[str], *,
                    target: float = DEFAULT_TARGET, source: str = "") -> Calibration:
    """:func:`fit` on out-of-fold predictions pooled over folds.

    Parameters
    ----------
    folds : sequence of (proba, y)
        Per fold, the probabilities ``(n_k, C)`` that the model which did not
        train on fold ``k`` gives its clips, and their true class indices
        ``(n_k,)``. Each clip is scored once, by a model that never saw it,
        so one temperature and one threshold per class fitted on the pool
        hold for clips that no model trained or calibrated on (a soundscape
        built from a fold outside ``folds``).
    classes : list of str
        The ``C`` class names, in column order.

    Raises
    ------
    ConfigError
        No fold, a fold whose shapes disagree with ``classes`` or its labels,
        fewer than two clips in all, or a bad ``target``.
    """
    if not folds:
        raise ConfigError("out-of-fold calibration needs the held-out predictions of at least one fold")
    probas, ys = [], []
    for k, (proba, y) in enumerate(folds):
        proba, y = np.asarray(proba, np.float64), np.asarray(y, int)
        if proba.ndim != 2 or proba.shape[1] != len(classes) or len(y) != len(proba):
            raise ConfigError(f"fold {k}: probabilities of shape {proba.shape} and {len(y)} labels "
                              f"for {len(classes)} classes")
        if y.size and not 0 <= y.min() <= y.max() < len(classes):
            raise ConfigError(f"fold {k}: a label index outside 0-{len(classes) - 1}")
        probas.append(proba)
        ys.append(y)
    source = source or f"out-of-fold predictions of {len(folds)} fold(s)"
    return fit(np.concatenate(probas), np.concatenate(ys), classes, target=target, source=source)


def calibrate(model_dir: str | Path, *, target: float = DEFAULT_TARGET, jobs: int = -1) -> Calibration:
    """Fit a calibration on the held-out folds of ``model_dir``'s bundles and write it there.

    Under ``--cv`` every clip of the cache is scored once, by the fold model
    that did not train on it. A single bundle is calibrated on its own test
    fold: its later ``eval`` on that fold is then no longer independent.
    """
    from animalsnd.evaluate import evaluate

    report = evaluate(model_dir, jobs=jobs, name_clips=False)  # the probabilities predict thresholds
    source = "out-of-fold predictions" if len(report.runs) > 1 else f"held-out fold {report.runs[0].fold}"
    cal = fit_out_of_fold([(r.result.proba, r.result.y_true) for r in report.runs], list(report.classes),
                          target=target, source=source)
    from animalsnd.fileutil import atomic_write_text

    atomic_write_text(Path(model_dir) / CALIBRATION_FILE, json.dumps(cal.to_dict(), indent=2) + "\n")
    return cal


def load_calibration(model_dir: str | Path, classes: list[str]) -> Calibration | None:
    """``MODEL_DIR/calibration.json`` if there is one (None otherwise)."""
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        cal = Calibration.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path}: unreadable calibration ({exc}); re-run `animalsnd train` or delete it") from None
    if set(cal.thresholds) != set(classes) or not cal.temperature > 0:
        raise BundleError(f"{path}: calibration for other classes than the model's; re-run training or delete it")
    return cal
