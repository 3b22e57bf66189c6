"""How common each class is in a folder of recordings, estimated from the folder itself.

A model learns its classes in the proportions it was trained with (every default recipe
weights classes equally, as if each were as common as the others). A folder of a user's
clips rarely holds them so: most sites have a few of the classes, in their own
proportions. :func:`folder_weights` estimates those proportions from the model's own
probabilities on the folder by expectation-maximisation (Saerens, Latinne & Decaestecker,
2002, "Adjusting the outputs of a classifier to new a priori probabilities"), and
:func:`reweight` moves every clip's probabilities towards them. The weights are damped
(``strength`` 0.5: the square root of the estimated ratio), which measured as well as the
full estimate where the folder holds a few classes and better where it holds them all or
few clips; a model family whose probabilities bear a stronger estimate says so
(``folder_strength``: 0.75 for ``birdnet-head``; :func:`animalsnd.families.folder_strength`;
docs/results.md, "A folder's own class proportions").

``eval --data`` and ``predict --per-file`` apply it to folders of at least
:data:`MIN_CLIPS` clips (``--no-adapt`` turns it off) of a model trained with class weights
(:func:`answers_evenly`); the model's own held-out folds, the cross-validation figures,
never are.

A long recording is such a folder too: one site, a few species. Window by window,
:func:`recording_weights` estimates how common each *animal* class is among a recording's
windows (background left out: a field recording is mostly background, and how much of it
is says nothing about which animal called) and :func:`among_animals` moves each window's
animal probability towards them, its total kept. ``predict`` applies it for models whose
family measured better with it on field-like soundscapes (``birdnet-head`` with a
``background`` class;
docs/results.md, "A recording's own animals").
"""

from __future__ import annotations

import numpy as np

MIN_CLIPS = 10  #: smaller folders are scored as they are: too few clips to estimate proportions
MIN_WINDOWS = 10  #: shorter recordings are scanned as they are (window by window)
#: window by window: each animal class starts from three windows of its own, so a recording with
#: a few calls stays near equal shares (docs/results.md, "A recording's own animals")
WINDOW_PSEUDO = 3.0
STRENGTH = 0.5  #: exponent on the estimated ratio of a class's share to its training share


def answers_evenly(meta: dict) -> bool:
    """Whether a bundle's probabilities treat every class as equally common, the starting point
    of :func:`folder_weights`: trained with class weights (every recipe but the study's
    ``cnn1d`` baseline, whose probabilities carry its training proportions)."""
    return bool((meta.get("train") or {}).get("class_weights", False))


def folder_weights(proba: np.ndarray, *, strength: float = STRENGTH, pseudo: float = 0.0, iters: int = 200,
                   tol: float = 1e-7) -> np.ndarray:
    """Per-class weights ``(n_classes,)`` for the clips of one folder.

    ``proba`` ``(n_clips, n_classes)`` are the model's probabilities of each clip (rows
    summing to one), made as if every class were equally common. Returns
    ``(share / (1 / n_classes)) ** strength`` for the estimated share of every class in the
    folder (every class starting from ``pseudo`` clips of its own, :func:`shares`): ones when
    ``strength`` is 0 or the folder has fewer than :data:`MIN_CLIPS` clips.
    """
    p = np.asarray(proba, dtype=np.float64)
    k = p.shape[1] if p.ndim == 2 else 0
    if p.ndim != 2 or len(p) < MIN_CLIPS or k < 2 or strength == 0:
        return np.ones(k)
    return (shares(p, pseudo=pseudo, iters=iters, tol=tol) * k) ** strength


def shares(proba: np.ndarray, weights: np.ndarray | None = None, *, pseudo: float = 0.0, iters: int = 200,
           tol: float = 1e-7) -> np.ndarray:
    """The classes' shares ``(n_classes,)`` among rows of probabilities made as if every class
    were equally common, by expectation-maximisation; each row counts by its ``weights``
    (None: alike), and every class starts with ``pseudo`` rows of its own (a prior towards
    equal shares that few rows cannot overrule)."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, None)
    p /= p.sum(axis=1, keepdims=True)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64)
    k = p.shape[1]
    share = np.full(k, 1.0 / k)
    for _ in range(iters):
        q = p * share  # posteriors under the current shares (the training shares are equal)
        q /= q.sum(axis=1, keepdims=True)
        new = ((q * w[:, None]).sum(axis=0) + pseudo) / max(float(w.sum()) + k * pseudo, 1e-12)
        done = np.abs(new - share).max() < tol
        share = new
        if done:
            break
    return share


def recording_weights(proba: np.ndarray, animals: np.ndarray, *, strength: float = STRENGTH,
                      pseudo: float = WINDOW_PSEUDO) -> np.ndarray | None:
    """Weights ``(n_classes,)`` for the windows of one recording: each animal class by how
    common it is among the recording's animal windows, ``background`` (where ``animals`` is
    False) left out of the estimate; None for fewer than :data:`MIN_WINDOWS` windows.

    The shares come from each window's probabilities over the animal classes, the window
    counting by its probability of holding an animal (1 - p(background)), so the long stretches
    of noise between calls barely speak, and every animal class starts with ``pseudo`` windows
    of its own, so a recording with a few calls stays near equal shares while an hour of one
    species does not; :func:`among_animals` applies them."""
    p = np.asarray(proba, dtype=np.float64)
    animals = np.asarray(animals, bool)
    if p.ndim != 2 or len(p) < MIN_WINDOWS or animals.sum() < 2 or strength == 0:
        return None
    pa = p[:, animals]
    w = np.ones(p.shape[1])
    w[animals] = (shares(pa, pa.sum(axis=1), pseudo=pseudo) * animals.sum()) ** strength
    return w


def among_animals(proba: np.ndarray, weights: np.ndarray, animals: np.ndarray) -> np.ndarray:
    """``proba`` with the animal classes' columns weighted and renormalised among themselves:
    each window's total probability of an animal (and of background) is kept, only which
    animal it holds moves. ``weights``: one per class ``(n_classes,)``, or per row and class
    ``(n, n_classes)``."""
    p = np.asarray(proba, dtype=np.float64)
    animals = np.asarray(animals, bool)
    pa = p[:, animals]
    mass = pa.sum(axis=1, keepdims=True)
    q = pa * np.asarray(weights, dtype=np.float64)[..., animals]
    out = p.copy()
    out[:, animals] = q * np.divide(mass, q.sum(axis=1, keepdims=True), out=np.zeros_like(mass),
                                    where=q.sum(axis=1, keepdims=True) > 0)
    return out.astype(np.asarray(proba).dtype, copy=False)


def reweight(proba: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``proba`` with every class's column multiplied by its weight, rows renormalised."""
    q = np.asarray(proba, dtype=np.float64) * np.asarray(weights, dtype=np.float64)
    s = q.sum(axis=-1, keepdims=True)
    return np.divide(q, s, out=np.zeros_like(q), where=s > 0)
