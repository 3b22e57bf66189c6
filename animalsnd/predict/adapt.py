"""``predict --per-file``: a folder's own class proportions (:mod:`animalsnd.priors`).

Each file's row comes from one window (:func:`~animalsnd.predict.detections.file_window`);
the rows of all files estimate how common each class is in the folder, every window's
probabilities are weighted by it, and the rows are made again from the weighted windows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from animalsnd.predict.detections import file_window, per_file_rows


def per_file(result, classes, opts):
    """The rows ``predict --per-file`` makes of one file's window probabilities under ``opts``."""
    return per_file_rows(str(result.path), result.duration_s, result.probs, classes,
                         min_confidence=opts.min_confidence, top_k=min(opts.top_k, len(classes)),
                         unknown_below=opts.unknown_below, animals_only=opts.animal_each)


def bundle_meta(predictor) -> dict | None:
    """The ``bundle.json`` of a predictor's (first) model, or None when it has none."""
    bundles = getattr(predictor, "bundles", None) or [None]
    return getattr(bundles[0], "meta", None)


def adapt_to_folder(results: list, classes: list[str], opts, meta: dict | None = None) -> dict[str, float] | None:
    """Re-make the rows of ``results`` (:class:`~animalsnd.predict.run.FileResult`, in place)
    with every class weighted by its estimated share of the files.

    Returns ``{class: weight}`` (the classes the rows choose among), or None when the files are
    too few (:data:`animalsnd.priors.MIN_CLIPS`) for an estimate or the model's bundle ``meta``
    says it was trained without class weights (:func:`animalsnd.priors.answers_evenly`)."""
    from animalsnd.priors import MIN_CLIPS, answers_evenly, folder_weights, reweight

    if meta is not None and not answers_evenly(meta):
        return None
    chosen = [c for r in results if r.ok and (c := file_window(r.probs, classes, animals_only=opts.animal_each))]
    if len(chosen) < MIN_CLIPS:
        return None
    among = chosen[0][1]
    w = folder_weights(np.stack([p for p, _ in chosen]))
    full = np.ones(len(classes))  # background keeps its weight when the rows never choose it
    for c, wc in zip(among, w):
        full[classes.index(c)] = wc
    for i, r in enumerate(results):
        if r.ok and len(r.probs):
            results[i] = replace(r, rows=per_file(replace(r, probs=reweight(r.probs, full)), classes, opts))
    return {c: float(x) for c, x in zip(among, w)}
