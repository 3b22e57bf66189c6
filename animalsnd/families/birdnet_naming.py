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

__all__ = ["ClipNaming", "among_animals", "clip_naming", "known_term"]

SCOPE = "clips"  #: ``known_classes.scope`` of a model whose score names clips only


class ClipNaming:
    """BirdNET's own score as a term on a model's logits: ``(E @ W + b) * scale + offset`` in
    columns ``cols`` of its classes, for as-recorded embeddings ``E``. A model without the
    background class carries it in its weights (:meth:`affine`); one with it adds it among the
    classes where ``animals`` is True when it names a clip (:meth:`apply`)."""

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

    def affine(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """The term as ``x @ A + c`` on a pooled input ``x`` of ``dim`` values
        (:func:`animalsnd.families.vector_head.add_logit_terms`)."""
        A = np.zeros((dim, len(self.animals)))
        c = np.zeros(len(self.animals))
        A[: self.W.shape[1], self.cols] = self.W.T * self.scale
        c[self.cols] = self.b * self.scale + self.offset
        return A, c

    def apply(self, E: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """``proba`` with the term added among the animal classes, p(background) kept."""
        return among_animals(proba, self.terms(E), self.animals)


def among_animals(p: np.ndarray, t: np.ndarray, animals: np.ndarray) -> np.ndarray:
    """``p`` with ``t`` added to the logits of the ``animals`` columns, their total kept
    (:func:`animalsnd.priors.among_animals` with per-row weights ``exp(t)``)."""
    from animalsnd.priors import among_animals as weighted

    mask = np.asarray(animals, bool)
    return weighted(p, np.exp(t - t[:, mask].max(axis=1, keepdims=True)), mask)


def clip_naming(bundle) -> ClipNaming | None:
    """The score a ``birdnet`` bundle (or a fold average of them) adds when it names clips, or
    None (no such class, or a model whose logits carry the score)."""
    sections = [b.meta.get("known_classes") or {} for b in getattr(bundle, "bundles", [bundle])]
    if not sections or not all(s.get("scope") == SCOPE for s in sections):
        return None
    return known_term(sections, list(bundle.classes))


def known_term(sections: list[dict], classes: list[str]) -> ClipNaming | None:
    """:class:`ClipNaming` from bundles' ``known_classes`` sections (BirdNET's labels, the weight
    and each score's mean and standard deviation over the training clips; fold bundles' terms
    averaged), or None when they name no class or different ones."""
    from animalsnd.background import BACKGROUND

    names = list(sections[0].get("classes") or {}) if sections else []
    if not names or any(list(s["classes"]) != names for s in sections):
        return None
    from animalsnd.backbones import birdnet_labels

    all_labels = birdnet_labels.labels()
    W, b = birdnet_labels.class_layer([all_labels.index(sections[0]["classes"][n]["label"]) for n in names])
    per = [[(s["weight"] / s["classes"][n]["score_std"], -s["weight"] * s["classes"][n]["score_mean"]
             / s["classes"][n]["score_std"]) for n in names] for s in sections]
    scale, offset = np.mean(np.asarray(per, np.float64), axis=0).T
    return ClipNaming([classes.index(n) for n in names], W, b, scale, offset,
                      np.array([c != BACKGROUND for c in classes]))
