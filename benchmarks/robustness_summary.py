"""Summarise `animalsnd eval --noise ... --json` files: clean, per-SNR accuracy and the loss per fold.

Each argument is the JSON written by ``animalsnd eval MODEL --noise DIR --snr 10,0 --json FILE``
for a ``train --cv`` model. Prints one markdown row per file and writes
benchmarks/out/robustness_summary.json::

    python benchmarks/robustness_summary.py runs/floor-tuned-020-rain.json runs/floor-tuned-each200-rain.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import write_json


def summarise(path: Path) -> dict:
    """Mean ± std accuracy per SNR, and the per-fold loss against clean at every SNR."""
    d = json.loads(path.read_text())
    snr = d.get("snr")
    if not snr or "clean" not in snr:
        raise SystemExit(f"{path}: no 'snr' scores; write it with `animalsnd eval MODEL --noise DIR --json FILE`")
    clean = [f["accuracy"] for f in snr["clean"]["folds"]]
    out = {"model_dir": d.get("model_dir"), "scores": {}, "loss_per_fold": {}}
    for key, s in snr.items():
        out["scores"][key] = {"accuracy": s["accuracy"], "std": s["std"]["accuracy"], "macro_f1": s["macro_f1"]}
        if key != "clean":
            out["loss_per_fold"][key] = [round(c - f["accuracy"], 4) for c, f in zip(clean, s["folds"])]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", default="robustness_summary.json")
    args = p.parse_args(argv)
    rows = {str(f): summarise(f) for f in args.files}
    for name, r in rows.items():
        sc = r["scores"]
        cells = [f"{sc[k]['accuracy']:.3f} ± {sc[k]['std']:.3f}" for k in sc]
        # the change against clean, in points: −4.1 is a loss, +1.0 a gain
        changes = [f"{k} dB: {100 * (sc[k]['accuracy'] - sc['clean']['accuracy']):+.1f}".replace("-", "−")
                   for k in sc if k != "clean"]
        print(f"| {name} | " + " | ".join(cells) + " | " + ", ".join(changes) + " |")
    write_json(args.out, {"runs": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
