"""A recording's own class proportions, window by window: does weighting every window by how
common each animal is in its recording help ``predict``'s default output?

    python benchmarks/recording_prior_probe.py --model runs/sc-models4/birdnet-head+bgsynth-150-bgn-cv \\
        --scapes runs/sc-scapes runs/sc-sites ...

``predict --per-file`` and ``eval --data`` weight a folder's clips by the classes' shares
among them (:mod:`animalsnd.priors`). A long field recording is such a folder too: a site
holds a few of the species. Each recording is scanned once with ``predict``'s defaults
(calibration, context check); then, per recording, the animal classes' shares are
estimated by expectation-maximisation from its windows and the windows' probabilities
weighted by them before the rows are made again by ``predict``'s own rule
(:func:`animalsnd.predict.option_rows`, the context check's windows kept):

- ``animals``: EM over the animal classes only (each window's probabilities renormalised
  over them, the window weighted by its animal probability, 1 - p(background)); the
  weights ``(share * n_animals) ** strength`` move probability among the animals only, a
  window's total animal probability unchanged: which animal it holds moves (and with it
  whether its best animal beats background and the class's threshold).
- ``all``: plain EM over every class, background included (Saerens et al. 2002); the
  background's share of a field recording is large, so fewer windows are reported.

At strength 0.5 (the folder default) and 1.0, with a prior of 0, 1 or 3 windows' worth of
every class towards equal shares (``pseudo``: few calls cannot name the recording's animals
alone), for recordings of at least ``--min-windows``
windows (predict's own weighting, ``--adapt``, turned off for the scan). Scored by
``animalsnd.detection``: the window mAP and the event matching of the rows (P / R / F1).
Writes benchmarks/out/recording_prior_probe.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import write_json


def adapted(probs: np.ndarray, animals: np.ndarray, mode: str, strength: float, pseudo: float = 0.0) -> np.ndarray:
    """``probs`` (n, classes) weighted by the recording's own shares (see the module doc)."""
    from animalsnd.priors import among_animals, folder_weights, recording_weights, reweight

    if mode == "all":  # every window a clip of the "folder", background included
        return reweight(probs, folder_weights(probs, strength=strength, pseudo=pseudo))
    w = recording_weights(probs, animals, strength=strength, pseudo=pseudo)
    return probs if w is None else among_animals(probs, w, animals)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--scapes", type=Path, nargs="+", required=True)
    ap.add_argument("--min-windows", type=int, default=10)
    ap.add_argument("--out", default="recording_prior_probe.json")
    a = ap.parse_args()

    from animalsnd.annotations import read_annotations
    from animalsnd.background import BACKGROUND
    from dataclasses import replace

    from animalsnd.detection import ScoredFile, match_rows, window_ap
    from animalsnd.pooling import pool_windows
    from animalsnd.predict import PredictOptions, option_rows, predict
    from animalsnd.predict.run import default_min_support, load_predictor

    predictor = load_predictor(a.model)
    results = {}
    for folder in a.scapes:
        ann = read_annotations(folder)
        events = ann.events
        # raw windows: each window's own best class is the persistence rule's support, and the
        # weights act before the model's pooling, as they would inside predict
        run = predict(a.model, [folder], options=PredictOptions(pool="none", adapt=False), predictor=predictor)
        classes = list(run.classes)
        min_support = default_min_support(predictor)
        animals = np.array([c != BACKGROUND for c in classes])
        variants = {"as is": None, **{f"{m} {s:g}, pseudo {a:g}": (m, s, a) for m in ("animals", "all")
                                      for s in (0.5, 1.0) for a in (0.0, 1.0, 3.0)}}
        rows = {v: [] for v in variants}
        probs = {v: [] for v in variants}
        files = []
        for res in run.results:
            if not res.ok:
                continue
            evs = events.get(res.path.stem, [])
            files.append(ScoredFile(res.path, res.duration_s, res.spans_s, res.probs, res.rows, evs))
            support = res.probs.argmax(1) if len(res.probs) else None
            for v, how in variants.items():
                p = res.probs
                if how is not None and len(p) >= a.min_windows:
                    p = adapted(p, animals, *how)
                if run.model_pool != "none":
                    p = pool_windows(res.spans_s, p, mode=run.model_pool)
                probs[v].append(p)
                rows[v].append(option_rows(res.path, res.spans_s, p, classes, run.options, support=support,
                                           min_support=min_support, keep=res.keep))
        got = {}
        for v in variants:
            m = match_rows(files, rows[v], classes)
            o = m["overall"]
            got[v] = {k: round(o[k], 3) if isinstance(o[k], float) else o[k] for k in o}
            got[v]["empty_flagged"] = m["empty_flagged"]
            aps = [x["ap"] for x in window_ap([replace(f, probs=q) for f, q in zip(files, probs[v])],
                                              classes).values() if x["ap"] is not None]
            got[v]["map"] = round(float(np.mean(aps)), 3)
        same = None  # "as is" against predict's own rows (made unpooled here: comparable without pooling)
        if run.model_pool == "none":
            same = [len(r) for r in rows["as is"]] == [len(f.rows) for f in files]
        results[str(folder)] = {"recordings": len(files), "as_is_matches_predict": same, "scores": got}
        print(folder, flush=True)
        for v, o in got.items():
            print(f"  {v:28s} mAP {o['map']:.3f} P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f} "
                  f"rows {o['rows']}",
                  flush=True)
    write_json(a.out, {"model": str(a.model), "min_windows": a.min_windows, "results": results})


if __name__ == "__main__":
    main()
