"""A folder's own class proportions (``eval --data`` / ``predict --per-file``'s ``--adapt``), across sources.

    python benchmarks/folder_prior_bench.py --work runs/xsource-bg \\
        --models birdnet-head-noise,stats-mlp-noise+chain,stats-mlp-noise

Needs the models and clip folders ``xsource_bench.py --predict`` leaves in ``--work``
(``across-[halfN-]MODEL`` and ``across-[halfN-]MODEL-clips``: trained with the background
class on ``--cache runs/sc-cache``, once with ``--holdout dominant`` and with ``--holdout half
--seed 0/1/2``). Each model's probabilities on its across-sources clips (``eval --data``,
as a choice among the animal classes) are scored:

- as they are (``--no-adapt``) and with the classes weighted by their estimated share of the
  folder (:mod:`animalsnd.priors`) at strength 0.5 (damped; the default of most families), 0.75
  (``birdnet-head``'s default, ``folder_strength``) and 1 (the full estimate);
- on the whole folder, on folders holding only 3, 5 or 7 of its classes (every clip of a
  random choice of classes, 30 draws: a site with a few of the species), and on random folders
  of 5, 10, 20 and 50 clips (60 draws; below ``MIN_CLIPS`` nothing is weighted);
- on all the animal clips of the model's held-out fold 0 as one folder (for the single
  recorder, the 130 clips with the seven other classes' held-out clips; for the halves, the
  same clips as the folder);
- within: ``--within-work``'s ``within-MODEL`` (``xsource_bench.py --within``: trained on
  folds 1-4 of the cache without a background class) on its own fold 0, the clips of the
  training recorders that cross-validation sees, as one folder and in random folders.

Writes benchmarks/out/folder_prior_bench.json (``--out``) and the figure ``--figure``
(docs/figures/folder_prior.png); ``--strengths 0,0.25,0.5`` scores other strengths.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from _common import ROOT, require, write_json

STRENGTHS = {"as they are": 0.0, "adapted, damped (0.5)": 0.5, "adapted (0.75)": 0.75, "adapted, full (1.0)": 1.0}


def accuracy(P: np.ndarray, y: np.ndarray, strength: float) -> float:
    from animalsnd.priors import folder_weights

    return float(np.mean((P * folder_weights(P, strength=strength)).argmax(axis=1) == y))


def animal_probs(report) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities over the animal classes, labels) of a report's animal clips."""
    from animalsnd.background import BACKGROUND, without_background

    r = report.runs
    proba = np.concatenate([x.result.proba for x in r])
    labels = [report.classes[int(t)] for x in r for t in x.result.y_true]
    keep = np.array([c != BACKGROUND for c in labels])
    P, animals = without_background(proba[keep], report.classes) if BACKGROUND in report.classes \
        else (proba[keep], report.classes)
    return P, np.array([list(animals).index(c) for c, k in zip(labels, keep) if k])


def scores(P: np.ndarray, y: np.ndarray, rng: np.random.Generator, draws: int) -> dict:
    out = {"whole folder": {k: accuracy(P, y, s) for k, s in STRENGTHS.items()}}
    present = np.unique(y)
    for k in (3, 5, 7):
        if k < len(present):
            picks = [np.isin(y, rng.choice(present, k, replace=False)) for _ in range(draws)]
            out[f"{k} of its classes"] = {n: float(np.mean([accuracy(P[m], y[m], s) for m in picks]))
                                         for n, s in STRENGTHS.items()}
    for n in (5, 10, 20, 50):
        if n < len(y):
            picks = [rng.choice(len(y), n, replace=False) for _ in range(2 * draws)]
            out[f"{n} random clips"] = {k: float(np.mean([accuracy(P[m], y[m], s) for m in picks]))
                                        for k, s in STRENGTHS.items()}
    return out


PANELS = (("one recorder", "", "whole folder"), ("halves", "half", "whole folder"),
          ("halves, 3 classes", "half", "3 of its classes"), ("halves, 7 classes", "half", "7 of its classes"),
          ("halves, 20 random clips", "half", "20 random clips"), ("within", "within", "whole folder"))


def plot(results: dict, models: list[str], path: Path) -> Path:
    """One panel per model: accuracy as they are and at each strength, per kind of folder."""
    from animalsnd.render_eval import _pyplot, save_figure

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 4.2), squeeze=False)
    for ax, model in zip(axes[0], models):
        labels, rows = [], []
        for label, split, cond in PANELS:
            names = ([f"within-{model}"] if split == "within" else [f"across-{model}"] if not split
                     else [f"across-half{h}-{model}" for h in range(3)])
            got = [results[n][cond] for n in names if n in results and cond in results[n]]
            if got:
                labels.append(label)
                rows.append([float(np.mean([g[k] for g in got])) for k in STRENGTHS])
        x = np.arange(len(labels))
        width = 0.8 / len(STRENGTHS)
        for i, k in enumerate(STRENGTHS):
            ax.bar(x + (i - (len(STRENGTHS) - 1) / 2) * width, [r[i] for r in rows], width, label=k, color=f"C{i}")
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.set(ylim=(0.6, 1.0), ylabel="accuracy (halves: mean of 3)", title=model)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle("A folder's own class proportions: across sources and within")
    return save_figure(fig, path)


def _show(name: str, res: dict) -> None:
    print(name, {k: ({n: round(x, 3) for n, x in v.items()} if isinstance(v, dict) else v)
                 for k, v in res.items()}, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("runs/xsource-bg"))
    ap.add_argument("--models", default="birdnet-head-noise,stats-mlp-noise+chain,stats-mlp-noise")
    ap.add_argument("--within-work", type=Path, default=Path("runs/xsource"))
    ap.add_argument("--draws", type=int, default=30)
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "folder_prior.png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strengths", default="", help="comma-separated strengths to score instead of 0.5,0.75,1")
    ap.add_argument("--out", default="folder_prior_bench.json")
    args = ap.parse_args()
    if args.strengths:
        STRENGTHS.clear()
        STRENGTHS.update({("as they are" if float(x) == 0 else f"adapted ({float(x):g})"): float(x)
                          for x in args.strengths.split(",")})
    warnings.filterwarnings("ignore")
    from animalsnd.evaluate import evaluate

    work = require(args.work)
    results: dict[str, dict] = {}
    for model in args.models.split(","):
        for split in ("", "half0-", "half1-", "half2-"):
            name = f"across-{split}{model}"
            if not (work / name).exists():
                print(f"{name}: not in {work}; skipped", flush=True)
                continue
            rng = np.random.default_rng(args.seed)
            P, y = animal_probs(evaluate(work / name, data=work / f"{name}-clips", jobs=2, adapt=False))
            res = {"clips": len(y), **scores(P, y, rng, args.draws)}
            P0, y0 = animal_probs(evaluate(work / name))  # its own fold 0: clips of the training recorders too
            res["held-out fold 0"] = {"clips": len(y0), **{k: accuracy(P0, y0, s) for k, s in STRENGTHS.items()}}
            results[name] = res
            _show(name, res)
        name = f"within-{model}"
        if (args.within_work / name).exists():
            P, y = animal_probs(evaluate(args.within_work / name))
            results[name] = {"clips": len(y), **scores(P, y, np.random.default_rng(args.seed), args.draws)}
            _show(name, results[name])
    from animalsnd.bundle import find_bundles, load_bundle
    from animalsnd.families import folder_strength

    defaults = {m: folder_strength(load_bundle(find_bundles(work / f"across-{m}")[0]).meta)
                for m in args.models.split(",") if (work / f"across-{m}").exists()}
    write_json(args.out, {"work": str(work), "draws": args.draws, "seed": args.seed,
                          "default_strength": defaults, "results": results})
    models = [m for m in args.models.split(",") if f"across-{m}" in results][:2]
    if models:
        print("wrote", plot(results, models, args.figure))


if __name__ == "__main__":
    main()
