"""Figure: window mAP and F1 of ``predict``'s rows with and without a recording's own animals.

    python benchmarks/recording_prior_figure.py runs/adapt-eval

Reads the ``animalsnd eval MODEL DIR --annotations DIR --json`` outputs of ``DIR`` named
``<set>-adapt.json`` (the default) and ``<set>-no-adapt.json`` (``--no-adapt``), one pair per
set of soundscapes, and draws docs/figures/recording_prior.png (docs/results.md, "A recording's
own animals").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import ROOT

LABELS = {"sc-sites": "sites, 2 species\n20 x 5 min", "sc-sites2": "sites, 3 species\n4 x 20 min",
          "sc-xsites": "sites, other\nrecorders", "sc-scapes": "rain 0", "sc-scapes-s1": "rain 1",
          "sc-scapes-s2": "rain 2", "sc-scapes-s3": "rain 3", "sc-scapes-proxy-wind": "wind proxy",
          "sc-chorus": "choruses"}


def pairs(folder: Path) -> dict[str, tuple[dict, dict]]:
    """Set name -> (``--no-adapt`` JSON, default JSON), for every set with both."""
    out = {}
    for off in sorted(folder.glob("*-no-adapt.json")):
        name = off.name[: -len("-no-adapt.json")]
        if (on := folder / f"{name}-adapt.json").exists():
            out[name] = (json.loads(off.read_text()), json.loads(on.read_text()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "recording_prior.png")
    args = ap.parse_args()
    got = pairs(args.folder)
    if not got:
        raise SystemExit(f"{args.folder}: no <set>-adapt.json / <set>-no-adapt.json pairs")
    import numpy as np

    from animalsnd.render_eval import _pyplot, save_figure

    names = [n for n in LABELS if n in got] + sorted(n for n in got if n not in LABELS)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    x = np.arange(len(names))
    for ax, (title, get) in zip(axes, (("window mAP", lambda d: d["map"]),
                                       ("F1 of predict's rows", lambda d: d["overall"]["f1"]))):
        for i, (label, which) in enumerate((("--no-adapt", 0), ("default (a recording's own animals)", 1))):
            ax.bar(x + (i - 0.5) * 0.38, [get(got[n][which]) for n in names], 0.38, label=label, color=f"C{i}")
        ax.set_xticks(x, [LABELS.get(n, n) for n in names], rotation=35, ha="right", fontsize=8)
        ax.set(ylim=(0.6, 1.0), title=title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("birdnet-head on field-like soundscapes: each recording's animals weighted by their share of its windows")
    print("wrote", save_figure(fig, args.figure))


if __name__ == "__main__":
    main()
