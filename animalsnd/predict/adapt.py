"""A run's probabilities adjusted to the model's calibration and to the data's own class proportions.

* :func:`with_calibration`: the temperature and per-class thresholds of ``calibration.json``;
* :func:`adapt_to_folder` (``predict --per-file``): each file's row comes from one window
  (:func:`~animalsnd.predict.detections.file_window`); the rows of all files estimate how
  common each class is in the folder (:mod:`animalsnd.priors`), every window's
  probabilities are weighted by it, and the rows are made again from the weighted windows;
* :func:`adapt_windows` (window by window): each recording's windows estimate how common
  each animal is in it, and its windows' animal probabilities are weighted by that.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from animalsnd.background import BACKGROUND
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
    from animalsnd.families import folder_strength

    among = chosen[0][1]
    w = folder_weights(np.stack([p for p, _ in chosen]), strength=folder_strength(meta))
    full = np.ones(len(classes))  # background keeps its weight when the rows never choose it
    for c, wc in zip(among, w):
        full[classes.index(c)] = wc
    for i, r in enumerate(results):
        if r.ok and len(r.probs):
            results[i] = replace(r, rows=per_file(replace(r, probs=reweight(r.probs, full)), classes, opts))
    return {c: float(x) for c, x in zip(among, w)}


def default_adapt(predictor) -> bool:
    """Whether the model weighs each recording's animals by their share of its windows unless
    told: ``predictor.default_adapt`` (False unless its family measured better with it), for a
    model with a ``background`` class (without one, the stretches of noise between calls would
    count as animals and make the estimate; not measured)."""
    return bool(getattr(predictor, "default_adapt", False)) and BACKGROUND in predictor.classes


def adapt_windows(predictor, probs: np.ndarray, keep: np.ndarray | None, opts):
    """One recording's window probabilities ``(windows, classes)`` with each animal class
    weighted by its share of the recording's windows (:func:`animalsnd.priors.recording_weights`),
    when ``opts`` and the model call for it; the context check's ``keep`` made again for the
    windows' new best classes. Returns ``(probs, keep, {animal: weight} or None)``."""
    from animalsnd.priors import among_animals, answers_evenly, recording_weights

    meta = bundle_meta(predictor)
    wanted = opts.adapt if opts.adapt is not None else default_adapt(predictor)
    if opts.per_file or not wanted or (meta is not None and not answers_evenly(meta)):
        return probs, keep, None
    classes = list(predictor.classes)
    animals = np.array([c != BACKGROUND for c in classes])
    w = recording_weights(probs, animals)
    if w is None:
        return probs, keep, None
    top = probs.argmax(axis=1)
    probs = among_animals(probs, w, animals)
    moved = probs.argmax(axis=1)
    if keep is not None and hasattr(predictor, "context_keep_for") and not np.array_equal(top, moved):
        keep = predictor.context_keep_for(moved)
    return probs, keep, {c: float(x) for c, x, a in zip(classes, w, animals) if a}


def with_calibration(options: PredictOptions, model_dir, classes) -> PredictOptions:
    """``options`` with the temperature and thresholds of ``model_dir``'s calibration,
    unless they are turned off or ``--min-confidence``/``--unknown-below`` decide instead."""
    from animalsnd.calibration import load_calibration

    if not options.calibrated or options.min_confidence > 0 or options.unknown_below > 0 or model_dir is None:
        return options
    cal = load_calibration(model_dir, list(classes))
    if cal is None:
        return options
    return replace(options, temperature=float(cal.temperature), thresholds=tuple(sorted(cal.thresholds.items())))
