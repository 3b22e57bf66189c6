"""How well calibration holds on clips it was not fitted on (the README's calibration figure).

    nice -n 15 python benchmarks/calibration_bench.py MODEL_DIR[=NAME] ... [--out calibration_bench.json]
        [--figure docs/figures/calibration.png]

Each MODEL_DIR is a ``train --cv`` run. Its fold models' held-out predictions (one per clip,
by the model that did not train on it) are cross-fitted: for every fold, the temperature and
the per-class thresholds are fitted on the *other* folds (``calibration.fit_out_of_fold``)
and applied to this one. Reported: the reliability of the top-class confidence before and
after temperature scaling, and, for each ``--target-precision``, the precision and recall of
the animal labels the thresholds give (background and clips below their threshold get none).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import ROOT, write_json

TARGETS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)


def labelled(proba: np.ndarray, y: np.ndarray, classes: list[str], thresholds: dict) -> tuple[int, int, int]:
    """(rows, right rows, animal clips): the animal labels per-class thresholds give."""
    top, conf = proba.argmax(1), proba.max(1)
    thr = np.array([thresholds[c] for c in classes])
    animal = np.array([c != "background" for c in classes])
    keep = animal[top] & (conf >= thr[top])
    return int(keep.sum()), int(np.sum(keep & (top == y))), int(np.sum(animal[y]))


def cross_fitted(folds: dict, classes: list[str]) -> dict:
    from animalsnd.calibration import apply_temperature, fit_out_of_fold, reliability

    raw_p = np.concatenate([p for p, _ in folds.values()])
    ys = np.concatenate([y for _, y in folds.values()])
    scaled, per_target = [], {t: [0, 0, 0] for t in TARGETS}
    temps = {}
    for k, (p, y) in folds.items():
        others = [v for j, v in folds.items() if j != k]
        for t in TARGETS:
            cal = fit_out_of_fold(others, classes, target=t)
            q = apply_temperature(p, cal.temperature)
            per_target[t] = [a + b for a, b in zip(per_target[t], labelled(q, y, classes, cal.thresholds))]
        temps[k] = cal.temperature
        scaled.append(q)

    def plain(r):
        return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items()}

    return {"clips": int(len(ys)), "temperatures": temps,
            "raw": plain(reliability(raw_p, ys)), "scaled": plain(reliability(np.concatenate(scaled), ys)),
            "targets": [{"target": t, "rows": n, "precision": ok / n if n else None, "recall": ok / m if m else None}
                        for t, (n, ok, m) in per_target.items()]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+", help="train --cv folders, each optionally =NAME")
    ap.add_argument("--out", default="calibration_bench.json")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "calibration.png")
    a = ap.parse_args()
    from animalsnd.evaluate import evaluate
    from animalsnd.render_detection import plot_calibration

    results = {}
    for spec in a.models:
        path, _, name = spec.partition("=")
        rep = evaluate(Path(path), jobs=1, name_clips=False)  # as calibrate(): the window probabilities
        folds = {r.fold: (r.result.proba, r.result.y_true) for r in rep.runs}
        results[name or Path(path).name] = {"model": path, **cross_fitted(folds, list(rep.classes))}
        r = results[name or Path(path).name]
        print(f"{name or path}: ECE {r['raw']['ece']:.3f} -> {r['scaled']['ece']:.3f}; "
              + ", ".join(f"target {t['target']:g}: P {t['precision'] or 0:.2f} R {t['recall'] or 0:.2f}"
                          for t in r["targets"]))
    write_json(a.out, {"targets": list(TARGETS), "results": results})
    print(f"wrote {plot_calibration(results, a.figure)}")


if __name__ == "__main__":
    main()
