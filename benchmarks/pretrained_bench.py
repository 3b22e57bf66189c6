"""5-fold cross-validation of ``birdnet-head`` and ``protonet`` on a real dataset.

Runs every requested variant with :func:`animalsnd.train.train` (``cv=True``)
on a prepared cache (prepared from the dataset when missing), writes
``benchmarks/out/pretrained_bench.json`` and prints a Markdown table::

    nice -n 5 python benchmarks/pretrained_bench.py                       # everything
    nice -n 5 python benchmarks/pretrained_bench.py --variants head:mean,head:meanstd

Variants: ``head:<pool>`` (birdnet-head with that pooling; ``head:<pool>:<N>``
with N shots per class), ``stats`` and ``stats:<N>`` (stats-mlp), ``protonet``
(all labelled clips) and ``protonet:<N>`` (N shots per class; every model draws
the same N clips for a seed and fold). ``--set KEY=VALUE`` overrides a
training option of every variant::

    nice -n 5 python benchmarks/pretrained_bench.py --variants head:meanmax:1,head:meanmax:5,head:meanmax:10,stats:5 \
        --out pretrained_bench_shots.json

BirdNET embeddings come from the cache's embedding store (computed once, in
parallel, then reused); the time to compute them is measured on this machine
(the whole store when it is built here, else a sample of clips embedded again)
and reported separately from the per-fold training time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import OUT, REAL_DATA, write_json

DEFAULT_VARIANTS = "head:mean,head:meanmax,head:meanstd,protonet:5,protonet"


def _value(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def variant_config(name: str, *, seed: int, sets: dict):
    from animalsnd.train import TrainConfig

    kind, _, arg = name.partition(":")
    if kind == "head":
        pool, _, shots = arg.partition(":")
        return TrainConfig.for_model("birdnet-head", pool=pool or "meanmax", shots=int(shots or 0), seed=seed, **sets)
    if kind == "stats":
        return TrainConfig.for_model("stats-mlp", shots=int(arg or 0), seed=seed, **sets)
    if kind == "protonet":
        return TrainConfig.for_model("protonet", shots=int(arg or 0), seed=seed, **sets)
    raise SystemExit(f"unknown variant {name!r}: use head:<pool>[:<shots>], stats[:<shots>], protonet or "
                     "protonet:<shots>")


def embedding_cost(cache: Path, *, jobs: int, sample: int = 40) -> dict:
    """Seconds to embed the cache: measured when the store is built now, else from a sample."""
    import numpy as np

    from animalsnd.embeddings import embed_file, ensure_embeddings, read_windows

    t0 = time.perf_counter()
    store, computed, reused = ensure_embeddings(cache, jobs=jobs)
    seconds = time.perf_counter() - t0
    out = {"store": str(store), "computed": computed, "reused": reused, "jobs": jobs}
    from animalsnd.cache import read_manifest

    rows = [r for r in read_manifest(cache) if r["status"] == "ok" and int(r["fold"]) >= 0 and not r["duplicate_of"]]
    n_windows = sum(len(read_windows(store, r["sha256"])) for r in rows)
    out.update(n_clips=len(rows), n_windows=n_windows)
    if computed == len(rows):
        out.update(seconds=round(seconds, 1), measured="whole store, built by this run")
        return out
    rng = np.random.default_rng(0)
    pick = [rows[i] for i in rng.choice(len(rows), min(sample, len(rows)), replace=False)]
    embed_file(pick[0]["path"])  # load the interpreter before timing
    t0 = time.perf_counter()
    w = sum(len(embed_file(r["path"])) for r in pick)
    per_window = (time.perf_counter() - t0) / w
    out.update(seconds_per_window_1_thread=round(per_window, 4),
               seconds=round(per_window * n_windows / max(1, jobs), 1),
               measured=f"{len(pick)} clips ({w} windows) embedded again in one process, scaled to "
                        f"{n_windows} windows over {jobs} workers")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default=DEFAULT_VARIANTS)
    p.add_argument("--data", type=Path, default=REAL_DATA)
    p.add_argument("--cache", type=Path, default=OUT / "cache-animal-sounds-10")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default="pretrained_bench.json", help="File name under benchmarks/out/.")
    args = p.parse_args(argv)

    from animalsnd.cache import prepare
    from animalsnd.config import FeatureConfig
    from animalsnd.train import train

    if not (args.cache / "manifest.csv").exists():
        if not (args.data.is_dir() and any(args.data.iterdir())):
            print(f"skipped: no cache at {args.cache} and no dataset at {args.data}")
            return 0
        prepare(args.data, args.cache, cfg=FeatureConfig(), folds=5, seed=0, jobs=args.jobs)
    sets = {}
    for item in args.sets:
        key, sep, val = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        sets[key.strip().replace("-", "_")] = _value(val.strip())
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    configs = {n: variant_config(n, seed=args.seed, sets=sets) for n in names}

    payload: dict = {"command": "python benchmarks/pretrained_bench.py " + " ".join(argv or sys.argv[1:]),
                     "cache": str(args.cache), "variants": {}}
    if any(c.model == "birdnet-head" for c in configs.values()):
        from animalsnd.backbones import birdnet

        payload["backbone"] = birdnet.backbone_version()
        payload["embedding"] = embedding_cost(args.cache, jobs=args.jobs)
        print(f"embeddings: {payload['embedding']}", flush=True)

    for name, config in configs.items():
        t0 = time.perf_counter()

        def on_fold_end(r, name=name):
            m = r.metrics
            print(f"{name} fold {r.fold}: accuracy {m['accuracy']:.3f} macro F1 {m['macro_f1']:.3f} "
                  f"weighted F1 {m['weighted_f1']:.3f}  {r.epochs_run} epochs, {r.train_seconds:.0f} s", flush=True)

        run = train(args.cache, OUT / "models" / f"pretrained-{name.replace(':', '-')}", config=config, cv=True,
                    jobs=args.jobs, on_fold_end=on_fold_end)
        summary = run.summary()
        summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
        summary["pooled"] = {k: v for k, v in run.pooled_metrics().items() if k != "confusion"}
        payload["variants"][name] = summary
        m, s = summary["mean"], summary["std"]
        print(f"== {name}: accuracy {m['accuracy']:.3f} ± {s['accuracy']:.3f}, macro F1 {m['macro_f1']:.3f} ± "
              f"{s['macro_f1']:.3f}, weighted F1 {m['weighted_f1']:.3f} ± {s['weighted_f1']:.3f}, "
              f"{summary['wall_seconds']:.0f} s", flush=True)
        write_json(args.out, payload)  # after every variant: a long run keeps what finished

    print("\n| variant | accuracy | macro F1 | weighted F1 | train s / fold | wall s |")
    print("|---|---|---|---|---|---|")
    for name, r in payload["variants"].items():
        m, s = r["mean"], r["std"]
        print(f"| {name} | {m['accuracy']:.3f} ± {s['accuracy']:.3f} | {m['macro_f1']:.3f} ± {s['macro_f1']:.3f} | "
              f"{m['weighted_f1']:.3f} ± {s['weighted_f1']:.3f} | {m['train_seconds']:.0f} | {r['wall_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
