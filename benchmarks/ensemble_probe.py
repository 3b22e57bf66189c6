"""Probe: average the class probabilities of several cross-validated models.

Each MODEL_DIR is the output of ``animalsnd train --cv`` on the same cache
(one ``fold-k`` bundle per fold, trained without seeing fold k). For every
fold, each member predicts the fold's clips; the ensemble takes the mean of
the members' probabilities. Prints each member's and each ensemble's 5-fold
accuracy and writes ``benchmarks/out/ensemble_probe.json``::

    python benchmarks/ensemble_probe.py runs/tuned runs/tuned-seed1 runs/tuned-0-20

Every member must have been trained on the cache's folds. Log-Mel members
with the cache's feature settings score its features; members with other
features (another ``FeatureConfig``, ``stats-mlp``, ``birdnet-head``) score
their own held-out fold, which must hold the same clips.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from _common import OUT, write_json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path, help="--cv model folders (fold-0 ... fold-K-1)")
    p.add_argument("--cache", type=Path, default=OUT / "cache-animal-sounds-10")
    p.add_argument("--out", default="ensemble_probe.json")
    args = p.parse_args(argv)
    if not args.cache.exists():
        print(f"skipped: {args.cache} not present")
        return 0

    from animalsnd.errors import AnimalsndError

    try:
        return _probe(args)
    except AnimalsndError as exc:  # a bad cache or bundle: one line, like the CLI
        raise SystemExit(f"Error: {exc}") from None


def _probe(args) -> int:
    from animalsnd.bundle import load_bundle
    from animalsnd.cache import load_features
    from animalsnd.evaluate import load_data
    from animalsnd.inputs import check_cfg as _check_cfg

    fs = load_features(args.cache)
    folds = np.asarray(fs.folds)
    y = np.asarray(fs.y)
    names = [m.name for m in args.models]
    probs: dict[str, dict[int, np.ndarray]] = {n: {} for n in names}
    fold_ids = sorted(set(folds.tolist()))
    for name, model_dir in zip(names, args.models):
        for k in fold_ids:
            b = load_bundle(model_dir / f"fold-{k}")
            if b.test_fold != k:
                raise SystemExit(f"{model_dir}/fold-{k}: trained with test fold {b.test_fold}")
            if list(b.classes) != list(fs.classes):
                raise SystemExit(f"{model_dir}/fold-{k}: classes differ from the cache's")
            want = [fs.paths[i] for i in np.flatnonzero(folds == k)]
            if b.kind == "logmel" and b.cfg == fs.cfg:
                _check_cfg(fs.cfg, b, args.cache)
                probs[name][k] = b.predict_proba(fs.X[folds == k])
                continue
            # other features (another FeatureConfig, clip descriptors, BirdNET embeddings): the bundle's
            # own held-out data, from the cache it was trained on
            d = load_data(b, None)
            if sorted(d.paths) != sorted(want):
                raise SystemExit(f"{model_dir}/fold-{k}: its held-out clips are not fold {k} of {args.cache}")
            p = b.predict_proba(d.X)
            row = {path: i for i, path in enumerate(d.paths)}
            probs[name][k] = p[[row[path] for path in want]]

    results = {}
    for r in range(1, len(names) + 1):
        for combo in itertools.combinations(names, r):
            accs = [float((np.mean([probs[n][k] for n in combo], 0).argmax(1) == y[folds == k]).mean())
                    for k in fold_ids]
            label = " + ".join(combo)
            results[label] = {"members": list(combo), "folds": accs,
                              "mean": float(np.mean(accs)), "std": float(np.std(accs))}
            print(f"| {label} | {np.mean(accs):.3f} ± {np.std(accs):.3f} |", flush=True)
    write_json(args.out, {"cache": str(args.cache), "models": [str(m) for m in args.models],
                          "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
