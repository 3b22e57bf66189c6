"""Across sources: train on one recording source of a class, test on its others.

animal-sounds-10 mixes sources. For a class whose largest source (same
sample rate, channels and encoding) holds at least ``--share`` of its clips
(bird: 186 of 200 at 44.1 kHz; cat: 165 of 200 and dog: 114 of 200 at
16 kHz 16-bit), the benchmark trains on that source only and tests on every
other clip of the class: recordings of the same species made elsewhere, the
situation of a user's own recordings. The other classes keep their usual
held-out fold. A model that learnt the recorder calls the other sources'
clips something else; one that learnt the animal does not.

The derived cache (``<cache>-xsrc``, the same feature stores) puts the test
clips in fold 0 and spreads the rest over folds 1-4 (exact duplicates
follow their original). Every model and recipe is then the CLI a user runs
(``train --test-fold 0``), and scored by :func:`animalsnd.evaluate.evaluate`
on fold 0: the recall of each split class on its other sources
("across sources"), their pooled accuracy, and the accuracy of the whole
fold. The same runs on the cache's own fold 0 give the within-source
figure for comparison.

A cache prepared with ``--background`` keeps its ``background`` clips in their usual folds
(never split by source); a split class's clip called ``background`` counts as wrong, and
the JSON adds the score among the animal classes only (background never chosen, as
``eval`` reports it) and how many clips were called background.

``--predict`` also scores what a user reads off ``animalsnd predict --per-file`` on a folder
of the across-sources clips (links under ``--work``): an animal for every clip, the classes
weighted by their share of the folder (the default) and every clip on its own
(``--no-adapt``), and with a background class also ``--allow-background``, where a clip can
be called background (the variants after the first with ``--no-adapt``).

Recipes (``--recipes``): ``clean``; ``noise`` (``augment --noise
background --snr 0:20 --per-class 100``); ``noise+chain`` (the same through
random recording chains); ``chain`` (chain-only copies, ``augment --chain
random`` without noise, 100 per class).

    nice -n 15 python benchmarks/xsource_bench.py --cache runs/cache --models stats-mlp,birdnet-head \\
        --recipes clean,noise,noise+chain,chain --work runs/xsource
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from _common import SHARED, derived_cache, require, write_json

from animalsnd.background import BACKGROUND
from animalsnd.families.birdnet_screen import SCREEN_FILE

RECIPES = {
    "clean": None,
    "noise": ("bg-each-100", ["--noise", str(SHARED / "background"), "--snr", "0:20", "--per-class", "100"]),
    "noise+chain": ("bg-chain-each-100", ["--noise", str(SHARED / "background"), "--snr", "0:20",
                                          "--per-class", "100", "--chain", "random"]),
    "chain": ("chain-each-100", ["--per-class", "100", "--chain", "random"]),
}


def source_of(row: dict) -> tuple:
    return row["sample_rate"], row["channels"], row["subtype"]


def held_out_sources(rs: list[dict], mode: str, share: float, rng) -> set:
    """The sources of one class's clips ``rs`` that go to the test fold.

    ``dominant``: every source but the largest, when the largest holds at least ``share`` of
    the clips; ``half``: a random half (rounded down) of the sources other than the largest,
    when there are at least two of them (the largest and the other half are trained on)."""
    counts = Counter(source_of(r) for r in rs)
    (dom, n), = counts.most_common(1)
    if mode == "dominant":
        return set(counts) - {dom} if n >= share * len(rs) and n < len(rs) else set()
    others = sorted(k for k in counts if k != dom)
    if len(others) < 2:
        return set()
    return {others[i] for i in rng.permutation(len(others))[: len(others) // 2]}


def split_rows(rows: list[dict], share: float, n_folds: int, *, mode: str = "dominant",
               seed: int = 0) -> tuple[list[dict], dict]:
    """The rows with fold 0 = the test (the held-out sources of the split classes, the usual
    fold 0 of the others) and folds 1..n-1 the rest; and what was split."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ok = [r for r in rows if r["status"] == "ok" and not r["duplicate_of"]]
    by_class = defaultdict(list)
    for r in ok:
        by_class[r["label"]].append(r)
    split, held = {}, {}
    for label, rs in sorted(by_class.items()):
        if label == BACKGROUND:  # the "no animal" class (prepare --background) keeps its usual fold
            continue
        out = held_out_sources(rs, mode, share, rng)
        if out:
            held[label] = out
            n_test = sum(source_of(r) in out for r in rs)
            split[label] = {"test_sources": sorted("/".join(k) for k in out), "train_clips": len(rs) - n_test,
                            "test_clips": n_test}
    new_fold = {}
    k = 0
    for r in ok:
        if r["label"] in split:
            if source_of(r) in held[r["label"]]:
                new_fold[r["path"]] = 0
            else:
                new_fold[r["path"]] = 1 + k % (n_folds - 1)
                k += 1
        else:
            f = int(r["fold"])
            new_fold[r["path"]] = 0 if f == 0 else f
    out = []
    for r in rows:
        r = dict(r)
        if r["status"] == "ok":
            r["fold"] = str(new_fold.get(r["duplicate_of"] or r["path"], r["fold"]))
        out.append(r)
    return out, split


def derived(cache: Path, share: float, mode: str = "dominant", seed: int = 0) -> tuple[Path, dict]:
    """``<cache>-xsrc`` (``-xsrc-half<seed>`` for ``half``; :func:`_common.derived_cache`) with the
    folds of :func:`split_rows`, and the split."""
    from animalsnd.cache import read_config, read_manifest

    rows, split = split_rows(read_manifest(cache), share, int(read_config(cache)["folds"]), mode=mode, seed=seed)
    suffix = "-xsrc" if mode == "dominant" else f"-xsrc-half{seed}"
    return derived_cache(cache, suffix, lambda _: rows), split


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def ensure_set(cache: Path, recipe: str) -> str | None:
    if RECIPES[recipe] is None:
        return None
    name, args = RECIPES[recipe]
    if not (cache / "augment" / name / "config.json").exists():
        run([sys.executable, "-m", "animalsnd", "augment", str(cache), *args, "--name", name])
    return name


def fold0_rows(model: Path) -> list[dict]:
    """``eval``'s rows (``EvalReport.clip_rows``) of the model's fold-0 clips."""
    from animalsnd.evaluate import evaluate

    return [r for r in evaluate(model, jobs=1).clip_rows() if r["fold"] == 0]


def predict_scores(model: Path, clips: list[tuple[str, str]], work: Path, *, background: bool) -> dict:
    """Accuracy of ``animalsnd predict --per-file`` (an animal for every clip, adapted to the
    folder and with ``--no-adapt``; for a model with a background class also
    ``--allow-background``, and ``--no-screen`` for one with a screen, both with ``--no-adapt``)
    on a folder of ``clips`` (path, label): one sub-folder per label, as a user's folder of
    clips; a clip that gets no row counts as wrong. ``background``: the model has the class."""
    folder = work / f"{model.name}-clips"
    shutil.rmtree(folder, ignore_errors=True)
    for path, label in clips:
        (folder / label).mkdir(parents=True, exist_ok=True)
        (folder / label / Path(path).name).symlink_to(path)
    out = {}
    variants = [("per_file", []), ("per_file_no_adapt", ["--no-adapt"])]
    if background:
        variants.append(("per_file_allow_background", ["--allow-background", "--no-adapt"]))
    if (model / SCREEN_FILE).exists():  # birdnet-head's one-view screen: the head on every window
        variants.append(("per_file_no_screen", ["--no-screen", "--no-adapt"]))
    for name, flags in variants:
        table = work / f"{model.name}-{name}.csv"
        run([sys.executable, "-m", "animalsnd", "predict", str(model), str(folder), "-r", "--per-file", *flags,
             "--out", str(table)])
        rows = list(csv.DictReader(table.open()))
        correct = sum(r["label"] == Path(r["file"]).parent.name for r in rows)
        out[name] = {"accuracy": correct / len(clips), "rows": len(rows)}
    return out


def score(rows: list[dict], split: dict) -> dict:
    """Scores of a model's fold-0 ``rows`` (:func:`fold0_rows`): the split classes' recall
    on their held-out sources and what they were called; with a background class, also as
    a choice among the animal classes (``animal_predicted``, as ``eval`` reports it)."""
    across = [r for r in rows if r["label"] in split]
    per = {}
    for c in split:
        rs = [r for r in across if r["label"] == c]
        wrong = Counter(r["predicted"] for r in rs if not r["correct"])
        per[c] = {"clips": len(rs), "recall": sum(r["correct"] for r in rs) / len(rs) if rs else None,
                  "called": dict(wrong.most_common(3))}
    out = {"accuracy": sum(r["correct"] for r in rows) / len(rows),
           "across_sources": sum(r["correct"] for r in across) / len(across),
           "clips_across": len(across), "per_class": per}
    if "animal_predicted" in rows[0]:  # a background class: eval's "among the animal classes only"
        out["across_sources_animal_classes_only"] = sum(r["animal_predicted"] == r["label"] for r in across) / len(across)
        out["called_background"] = sum(r["predicted"] == BACKGROUND for r in across)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True, help="a cache of animal-sounds-10 made by prepare")
    ap.add_argument("--models", default="stats-mlp,birdnet-head")
    ap.add_argument("--recipes", default="clean,noise,noise+chain,chain")
    ap.add_argument("--share", type=float, default=0.5, help="split a class whose largest source holds this share")
    ap.add_argument("--work", type=Path, default=Path("runs/xsource"))
    ap.add_argument("--within", action="store_true", help="also the same runs on the cache's own fold 0")
    ap.add_argument("--holdout", choices=("dominant", "half"), default="dominant",
                    help="dominant: train on each split class's largest source only; half: train on all but a "
                         "random half of the other sources of every class that has at least two")
    ap.add_argument("--seed", type=int, default=0, help="which half, with --holdout half")
    ap.add_argument("--predict", action="store_true",
                    help="also score predict --per-file (and --allow-background) on the across-sources clips")
    ap.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                    help="passed to train (repeatable); the runs' folders are named after them")
    ap.add_argument("--out", default="xsource_bench.json")
    a = ap.parse_args()
    options = [x for o in a.model_option for x in ("--model-option", o)]
    opt_tag = "".join(f"-{o.replace('=', '')}" for o in a.model_option)
    require(a.cache / "manifest.csv")
    require(SHARED / "background")
    xcache, split = derived(a.cache, a.share, a.holdout, a.seed)
    print("split:", json.dumps(split))
    a.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for model in [m for m in a.models.split(",") if m]:
        for recipe in [r for r in a.recipes.split(",") if r]:
            for which, cache in [("across", xcache)] + ([("within", a.cache)] if a.within else []):
                aug = ensure_set(cache, recipe)
                tag = "" if a.holdout == "dominant" or which == "within" else f"-half{a.seed}"
                out = a.work / f"{which}{tag}-{model}-{recipe}{opt_tag}"
                if not (out / "bundle.json").exists():
                    run([sys.executable, "-m", "animalsnd", "train", str(cache), "--model", model, "--test-fold", "0",
                         "--out", str(out), *(["--augmented", aug] if aug else []), *options])
                rows = fold0_rows(out)
                s = score(rows, split)
                if a.predict and which == "across":
                    s["predict"] = predict_scores(out, [(r["path"], r["label"]) for r in rows if r["label"] in split],
                                                  a.work, background="animal_predicted" in rows[0])
                    print(f"{model} {recipe}{opt_tag}: predict " + ", ".join(
                        f"{k} {v['accuracy']:.3f} ({v['rows']} rows)" for k, v in s["predict"].items()), flush=True)
                results.setdefault(f"{model} {recipe}{' '.join([''] + a.model_option)}", {})[which] = s
                among = (f" (among the animal classes only {s['across_sources_animal_classes_only']:.3f}, "
                         f"{s['called_background']} called background)" if "called_background" in s else "")
                print(f"{model} {recipe}{opt_tag} {which}: across sources {s['across_sources']:.3f}{among} "
                      f"({s['clips_across']} clips; " + ", ".join(
                          f"{c} {v['recall']:.2f}" for c, v in s["per_class"].items()) +
                      f"), fold accuracy {s['accuracy']:.3f}", flush=True)
                write_json(a.out, {"cache": str(a.cache), "derived": str(xcache), "share": a.share,
                                   "holdout": a.holdout, "seed": a.seed, "split": split, "results": results})


if __name__ == "__main__":
    main()
