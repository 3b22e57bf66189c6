"""BirdNET's own score when a ``birdnet-head`` with the "no animal" class names a clip.

BirdNET's score for a class it knows by name (``--model-option known=K``,
:func:`animalsnd.families.birdnet_head.known_class_terms`) is folded into the logits of a
model without the ``background`` class. A model with it detects animals window by window in
field recordings, where the score names noisy windows of other animals ``dog``
(docs/results.md, "BirdNET's own score"), so its logits do not carry it. When such a model
names a clip known to hold an animal (``eval`` on clips, ``predict --per-file``), the score
is added among the animal classes only: each clip's p(background) stays as the head gave it,
only which animal it holds moves. Window-by-window ``predict`` and the calibration (fitted on
the model's own probabilities, applied to windows) never use it.

The bundle records how the score was standardised on its training clips (``known_classes``,
``"scope": "clips"``); the term for class ``k`` is ``weight * (s_k - mean_k) / std_k`` with
``s_k`` BirdNET's logit for it on the clip's mean as-recorded embedding (the first 1024
values of the pooled input). Fold bundles average their terms.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ClipNaming", "among_animals", "clip_naming", "naming_from"]

SCOPE = "clips"  #: ``known_classes.scope`` of a model whose score names clips only


class ClipNaming:
    """The term ``(E @ W + b) * scale + offset`` in columns ``cols`` of a model's classes,
    applied among the classes where ``animals`` is True."""

    def __init__(self, cols: list[int], W: np.ndarray, b: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                 animals: np.ndarray):
        self.cols, self.W, self.b = list(cols), np.asarray(W, np.float64), np.asarray(b, np.float64)
        self.scale, self.offset = np.asarray(scale, np.float64), np.asarray(offset, np.float64)
        self.animals = np.asarray(animals, bool)

    def terms(self, E: np.ndarray) -> np.ndarray:
        """``(n, n_classes)`` terms for the as-recorded embeddings ``E`` ``(n, 1024)`` (or pooled
        inputs, whose first 1024 values they are)."""
        E = np.asarray(E, np.float64)[:, : self.W.shape[1]]
        t = np.zeros((len(E), len(self.animals)))
        t[:, self.cols] = (E @ self.W.T + self.b) * self.scale + self.offset
        return t

    def apply(self, E: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """``proba`` with the term added among the animal classes, p(background) kept."""
        out = among_animals(np.asarray(proba, np.float64), self.terms(E), self.animals)
        return out.astype(np.asarray(proba).dtype, copy=False)


def among_animals(p: np.ndarray, t: np.ndarray, animals: np.ndarray) -> np.ndarray:
    """``p`` with ``t`` added to the logits of the ``animals`` columns, their total kept."""
    mask = np.asarray(animals, bool)
    out = np.array(p, dtype=np.float64)
    pa = out[:, mask]
    mass = pa.sum(axis=1, keepdims=True)
    z = np.log(np.maximum(pa, 1e-300)) + t[:, mask]
    q = np.exp(z - z.max(axis=1, keepdims=True))
    out[:, mask] = q / q.sum(axis=1, keepdims=True) * mass
    return out


def clip_naming(bundle) -> ClipNaming | None:
    """The score a ``birdnet`` bundle (or a fold average of them) adds when it names clips, or
    None (another kind of model, no such class, or a model whose logits carry the score)."""
    if bundle.kind != "birdnet":
        return None
    return naming_from([b.meta.get("known_classes") or {} for b in getattr(bundle, "bundles", [bundle])],
                       list(bundle.classes))


def naming_from(sections: list[dict], classes: list[str]) -> ClipNaming | None:
    """:class:`ClipNaming` from bundles' ``known_classes`` sections (their terms averaged), or
    None when any is not of scope ``clips`` or they name different classes."""
    from animalsnd.background import BACKGROUND

    if not sections or not all(s.get("scope") == SCOPE for s in sections):
        return None
    names = list(sections[0]["classes"])
    if not names or any(list(s["classes"]) != names for s in sections) or BACKGROUND not in classes:
        return None
    from animalsnd.backbones import birdnet_labels

    all_labels = birdnet_labels.labels()
    W, b = birdnet_labels.class_layer([all_labels.index(sections[0]["classes"][n]["label"]) for n in names])
    per = [[(s["weight"] / s["classes"][n]["score_std"], -s["weight"] * s["classes"][n]["score_mean"]
             / s["classes"][n]["score_std"]) for n in names] for s in sections]
    scale, offset = np.mean(np.asarray(per, np.float64), axis=0).T
    return ClipNaming([classes.index(n) for n in names], W, b, scale, offset,
                      np.array([c != BACKGROUND for c in classes]))
