"""5-fold cross-validation of several models on a real dataset.

Prepares the feature cache if needed (re-runs reuse it), trains every fold of
every model with its default recipe (plus any ``--set`` overrides), writes a
JSON report to benchmarks/out/ and prints a Markdown table::

    nice -n 5 python benchmarks/cv_bench.py --models cnn1d,cnn1d-enhanced

The dataset defaults to /work/shared/data/animal-sounds-10 (or
$ANIMALSND_REAL_DATA); when it is absent the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = Path(os.environ.get("ANIMALSND_REAL_DATA", "/work/shared/data/animal-sounds-10"))


def _value(text: str):
    """JSON when it parses (numbers, true/false, objects), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = _value(val.strip())
    return out


def markdown(results: list[dict]) -> str:
    lines = [
        "| model | accuracy | macro F1 | weighted F1 | train s / fold | epochs / fold |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        m, s = r["mean"], r["std"]
        lines.append(
            f"| {r['label']} | {m['accuracy']:.3f} ± {s['accuracy']:.3f} | "
            f"{m['macro_f1']:.3f} ± {s['macro_f1']:.3f} | {m['weighted_f1']:.3f} ± {s['weighted_f1']:.3f} | "
            f"{m['train_seconds']:.0f} ± {s['train_seconds']:.0f} | {r['mean_epochs']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="cnn1d,cnn1d-enhanced", help="Comma-separated model names.")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder-per-class dataset.")
    p.add_argument("--cache", type=Path, default=HERE / "out" / "cache-animal-sounds-10")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="Training seed.")
    p.add_argument("--fold-seed", type=int, default=0,
                   help="Seed of the fold split (prepare --seed); another seed needs another --cache.")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="Override a training option for every model, e.g. --set mixup=0.2 "
                        "or --set 'model_options={\"head_dropout\": 0.2}'.")
    p.add_argument("--label", default="", help="Suffix for the model column and file name.")
    p.add_argument("--out", type=Path, default=None, help="JSON report path.")
    args = p.parse_args(argv)

    if not (args.data.is_dir() and any(args.data.iterdir())):
        print(f"dataset not found at {args.data}; nothing to benchmark (set --data or ANIMALSND_REAL_DATA)")
        return 0

    from animalsnd.cache import prepare
    from animalsnd.config import FeatureConfig
    from animalsnd.train import TrainConfig, train

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    overrides = parse_sets(args.sets)
    configs = {m: TrainConfig.for_model(m, seed=args.seed, **overrides) for m in models}

    t0 = time.perf_counter()
    res = prepare(args.data, args.cache, cfg=FeatureConfig(), folds=args.folds, seed=args.fold_seed, jobs=args.jobs)
    print(f"prepare: {len(res.rows)} files, computed {res.computed}, reused {res.reused} "
          f"({time.perf_counter() - t0:.0f} s) -> {args.cache}", flush=True)

    suffix = f"-{args.label}" if args.label else ""
    results = []
    for model in models:
        label = model + suffix
        print(f"\n== {label}: {configs[model].to_dict()}", flush=True)

        def on_fold_end(r, label=label):
            m = r.metrics
            print(f"{label} fold {r.fold}: accuracy {m['accuracy']:.3f} macro F1 {m['macro_f1']:.3f} "
                  f"weighted F1 {m['weighted_f1']:.3f}  {r.epochs_run} epochs, {r.train_seconds:.0f} s",
                  flush=True)

        run = train(args.cache, HERE / "out" / "models" / label, config=configs[model], cv=True,
                    on_fold_end=on_fold_end)
        summary = run.summary()
        summary.update(
            label=label,
            mean_epochs=sum(f["epochs"] for f in summary["folds"]) / len(summary["folds"]),
            pooled={k: v for k, v in run.pooled_metrics().items() if k != "confusion"},
        )
        results.append(summary)

    import keras
    import tensorflow as tf

    report = {
        "command": shlex.join(["python", "benchmarks/cv_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": str(args.data),
        "n_clips": len([r for r in res.rows if r["status"] == "ok" and not r["duplicate_of"]]),
        "folds": args.folds,
        "fold_seed": args.fold_seed,
        "seed": args.seed,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "tensorflow": tf.__version__,
                    "keras": keras.__version__},
        "results": results,
    }
    out = args.out or HERE / "out" / f"cv_{'_'.join(models)}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("\n" + markdown(results))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
