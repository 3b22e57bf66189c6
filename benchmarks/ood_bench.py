"""Out of distribution: every model kind, the study's features against the defaults.

For each feature preset (``study``: the full band; ``default``: the analysis
bandwidth measured from the recordings, ``prepare --cutoff auto``) and each
model, a 5-fold CV run on animal-sounds-10, then ``eval`` of the fold models
with every held-out clip re-rendered through the default recording chains
(``--chain``) and mixed with rain no model heard in training (``--noise``);
each model also with noisy copies of every class from another noise source
(``augment --snr 0:20 --per-class 100``, the "+noise" rows).
Every step is the CLI a user runs; results go to
``benchmarks/out/ood_bench.json`` (and one JSON per run under
``benchmarks/out/ood/``).

    nice -n 5 python benchmarks/ood_bench.py [--models stats-mlp,birdnet-head] [--presets study,default]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import NOISE_DIR, OUT, REAL_DATA, require, write_json

MODELS = ("stats-mlp", "birdnet-head", "cnn1d-enhanced")


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--presets", default="study,default")
    ap.add_argument("--work", default=str(OUT / "ood"), help="caches, models and per-run JSON")
    ap.add_argument("--snr", default="10,0")
    ap.add_argument("--train-noise", default=str(NOISE_DIR.parent / "background"),
                    help="noise for the '+noise' variants (augment --snr 0:20 --per-class 100); '' to skip them")
    args = ap.parse_args()
    require(REAL_DATA)
    rain = require(NOISE_DIR / "rain")
    work = OUT.__class__(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "animalsnd"]
    results = {}
    for preset in args.presets.split(","):
        cache = work / f"cache-{preset}"
        if not (cache / "config.json").exists():
            run([*cli, "prepare", str(REAL_DATA), "--cache", str(cache), "--preset", preset])
        cutoff = json.loads((cache / "config.json").read_text())["feature"].get("fmax")
        noisy = [""]
        if args.train_noise:
            noisy.append("+noise")
            if not (cache / "augment" / "noise-each-100" / "manifest.csv").exists():
                run([*cli, "augment", str(cache), "--noise", args.train_noise, "--snr", "0:20", "--per-class", "100",
                     "--name", "noise-each-100"])
        for model, extra in ((m, x) for m in args.models.split(",") for x in noisy):
            key = f"{model}{extra}/{preset}"
            tag = f"{model}{'-noise' if extra else ''}-{preset}"
            models, train_json = work / f"m-{tag}", work / f"train-{tag}.json"
            t0 = time.time()
            if not train_json.exists():
                run([*cli, "train", str(cache), "--model", model, "--cv", "--out", str(models),
                     "--json", str(train_json), *(["--augmented", "noise-each-100"] if extra else [])])
            eval_json = work / f"eval-{tag}.json"
            if not eval_json.exists():
                run([*cli, "eval", str(models), "--chain", "default", "--noise", str(rain), "--snr", args.snr,
                     "--json", str(eval_json)])
            ev = json.loads(eval_json.read_text())
            results[key] = {"model": model, "preset": preset, "cutoff_hz": cutoff, "noise_copies": bool(extra),
                            "cv": json.loads(train_json.read_text())["mean"],
                            "cv_std": json.loads(train_json.read_text())["std"],
                            "chain": {k: (v if k == "worst_drop" else {m: v[m] for m in ("accuracy", "macro_f1")})
                                      for k, v in ev["chain"].items()},
                            "rain": {k: {m: v[m] for m in ("accuracy", "macro_f1")} for k, v in ev["snr"].items()},
                            "seconds": round(time.time() - t0, 1)}
            print(key, json.dumps(results[key]["chain"]["worst_drop"]), flush=True)
    write_json("ood_bench.json", {"data": str(REAL_DATA), "rain": str(rain), "results": results})


if __name__ == "__main__":
    main()
