"""Out of distribution: every model kind, the study's features against the defaults.

For each feature preset (``study``: the full band; ``default``: the analysis
bandwidth measured from the recordings, ``prepare --cutoff auto``), each model
and each training recipe, a CV run on animal-sounds-10, then ``eval`` of the
fold models with every held-out clip re-rendered through recording chains
(``--chain``, by default ``all``: the six default chains plus Ogg, a
telephone line, a dull microphone, a hot (soft-clipped) and a quiet level and
a small room) and mixed with rain no model heard in training (``--noise``).
The recipes (``--recipes``):

``clean``
    the training clips only;
``noise``
    plus 100 noisy copies of every class from another noise source
    (``augment --snr 0:20 --per-class 100``, set ``bg-each-100``);
``noise+chain``
    the same noisy copies, each also through a random recording chain
    (``augment ... --chain random``, set ``bg-chain-each-100``).

Every step is the CLI a user runs; results go to
``benchmarks/out/ood_bench.json`` (and one JSON per run under ``--work``).
``--test-fold K`` (one held-out fold instead of ``--cv``) and ``--epochs N``
make a reduced run, recorded as such in the JSON and in the run names.

    nice -n 15 python benchmarks/ood_bench.py [--models stats-mlp,birdnet-head] [--presets study,default]
    nice -n 15 python benchmarks/ood_bench.py --models '' --presets default --audit   # the training data's shortcut only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import NOISE_DIR, OUT, REAL_DATA, require, write_json

MODELS = ("stats-mlp", "birdnet-head", "cnn1d-enhanced")
RECIPES = {"clean": None, "noise": "bg-each-100", "noise+chain": "bg-chain-each-100"}
DEFAULT_CHAINS = ("8k", "11k", "22k", "44k-lowpass", "44k-full", "mp3")  # animalsnd.chains.DEFAULT_CHAINS


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _worst(chain: dict, names) -> dict:
    clean = chain["clean"]["accuracy"]
    names = [n for n in names if n in chain]
    if not names:
        return {}
    worst = max(names, key=lambda n: clean - chain[n]["accuracy"])
    return {"chain": worst, "accuracy": chain[worst]["accuracy"], "drop": round(clean - chain[worst]["accuracy"], 4)}


def summarise(train: dict, ev: dict) -> dict:
    chain = ev.get("chain", {})
    names = [k for k in chain if k not in ("clean", "worst_drop")]
    return {
        "cv": train["mean"], "cv_std": train["std"],
        "chain": {k: {m: v[m] for m in ("accuracy", "macro_f1")} for k, v in chain.items() if k != "worst_drop"},
        "worst_default_chain": _worst(chain, DEFAULT_CHAINS),
        "worst_chain": _worst(chain, names),
        "rain": {k: {m: v[m] for m in ("accuracy", "macro_f1")} for k, v in ev.get("snr", {}).items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--presets", default="study,default")
    ap.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated from {', '.join(RECIPES)}")
    ap.add_argument("--work", default=str(OUT / "ood"), help="caches, models and per-run JSON")
    ap.add_argument("--snr", default="10,0")
    ap.add_argument("--chains", default="all", help="eval --chain")
    ap.add_argument("--train-noise", default=str(NOISE_DIR.parent / "background"),
                    help="noise of the copies (augment --snr 0:20 --per-class 100)")
    ap.add_argument("--test-fold", type=int, default=None, help="train --test-fold K instead of --cv: a reduced run")
    ap.add_argument("--epochs", type=int, default=None, help="train --epochs: a reduced run")
    ap.add_argument("--out", default="ood_bench.json", help="file name under benchmarks/out")
    ap.add_argument("--audit", action="store_true",
                    help="also the shortcut score of what the models hear of each recipe's training data")
    args = ap.parse_args()
    require(REAL_DATA)
    rain = require(NOISE_DIR / "rain")
    work = OUT.__class__(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "animalsnd"]
    split = ["--cv"] if args.test_fold is None else ["--test-fold", str(args.test_fold)]
    reduced = ["--epochs", str(args.epochs)] if args.epochs else []
    suffix = "".join(f"-{k}{v}" for k, v in (("fold", args.test_fold), ("e", args.epochs)) if v is not None)
    results, audits = {}, {}
    for preset in args.presets.split(","):
        cache = work / f"cache-{preset}"
        if not (cache / "config.json").exists():
            run([*cli, "prepare", str(REAL_DATA), "--cache", str(cache), "--preset", preset])
        cutoff = json.loads((cache / "config.json").read_text())["feature"].get("fmax")
        for recipe in args.recipes.split(","):
            name = RECIPES[recipe]
            if name and not (cache / "augment" / name / "manifest.csv").exists():
                run([*cli, "augment", str(cache), "--noise", args.train_noise, "--snr", "0:20", "--per-class", "100",
                     "--name", name, *(["--chain", "random"] if "chain" in recipe else [])])
        if args.audit:
            audits[preset] = audit_recipes(cache, args.recipes.split(","))
        for model, recipe in ((m, r) for m in args.models.split(",") if m for r in args.recipes.split(",")):
            key = f"{model}/{preset}/{recipe}{suffix}"
            tag = f"{model}-{preset}-{recipe.replace('+', '-')}{suffix}"
            models, train_json, eval_json = work / f"m-{tag}", work / f"train-{tag}.json", work / f"eval-{tag}.json"
            t0 = time.time()
            if not train_json.exists():
                name = RECIPES[recipe]
                run([*cli, "train", str(cache), "--model", model, *split, "--out", str(models), "--json",
                     str(train_json), *(["--augmented", name] if name else []), *reduced])
            if not eval_json.exists():
                run([*cli, "eval", str(models), "--chain", args.chains, "--noise", str(rain), "--snr", args.snr,
                     "--json", str(eval_json)])
            results[key] = {"model": model, "preset": preset, "cutoff_hz": cutoff, "recipe": recipe,
                            "augmented": RECIPES[recipe], "folds": "all" if args.test_fold is None else [args.test_fold], "epochs": args.epochs,
                            **summarise(json.loads(train_json.read_text()), json.loads(eval_json.read_text())),
                            "seconds": round(time.time() - t0, 1)}
            print(key, json.dumps({k: results[key][k] for k in ("cv", "worst_default_chain", "worst_chain")}),
                  flush=True)
    write_json(args.out, {"data": str(REAL_DATA), "rain": str(rain), "chains": args.chains, "results": results,
                          **({"training_shortcut": audits} if audits else {})})


def audit_recipes(cache, recipes) -> dict:
    """Shortcut scores of the waveform properties (all, and the level alone) of what the models hear
    of each recipe's training data: clean clips, copies, both."""
    from animalsnd.audit import WAVEFORM_PROPERTIES
    from animalsnd.audit_copies import LEVEL_PROPERTIES, heard_properties
    from animalsnd.audit_report import shortcut_score

    def score(clips, props) -> dict:
        v = shortcut_score(clips, props)
        return {"balanced_accuracy": round(v.balanced_accuracy, 4), "accuracy": round(v.accuracy, 4),
                "per_property": {p: d["balanced_accuracy"] for p, d in v.per_property.items()},
                "per_class_recall": {c: round(r, 3) for c, r in v.per_class_recall.items()}}

    clean = heard_properties(cache)
    out = {}
    for recipe in recipes:
        copies = heard_properties(cache, RECIPES[recipe]) if RECIPES[recipe] else []
        for label, props in (("audio", WAVEFORM_PROPERTIES), ("level", LEVEL_PROPERTIES)):
            views = {"clean": clean, **({"copies": copies, "clean+copies": clean + copies} if copies else {})}
            out[f"{recipe}/{label}"] = {k: score(v, props) for k, v in views.items()}
            print(recipe, label, {k: v["balanced_accuracy"] for k, v in out[f"{recipe}/{label}"].items()}, flush=True)
    return out

if __name__ == "__main__":
    main()
