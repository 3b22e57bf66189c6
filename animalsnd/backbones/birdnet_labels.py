"""BirdNET's own classes: the ones a user's class names match, and their scores.

BirdNET V2.4 classifies 6522 classes (``"Scientific name_Common name"``: birds, some frogs,
insects and mammals, and a few sounds such as ``Dog_Dog``, ``Siren_Siren``). Its score for a
class is a linear map of the embedding the head reads (the model's last layer), learnt from
recordings of many recorders. When a user's class has BirdNET's name for it, that score
knows the animal from more recorders than the user's training clips: ``birdnet-head``
adds it to the class's logit (:func:`animalsnd.families.birdnet_head.known_class_terms`).

A class matches a label when its name, compared without case and with underscores as
spaces, is the label's scientific name, its common name or the whole label: ``dog`` matches
``Dog_Dog``, ``Turdus merula`` and ``Eurasian Blackbird`` match ``Turdus merula_Eurasian
Blackbird``; ``frog``, ``cat`` or ``background`` match nothing.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from animalsnd.backbones import birdnet
from animalsnd.errors import ConfigError

__all__ = ["LABELS_FILE", "class_layer", "labels", "last_layer", "match"]

LABELS_FILE = "BirdNET_GLOBAL_6K_V2.4_Labels.txt"
_DENSE = "model/CLASS_DENSE_LAYER/MatMul"  # the last layer's weights, (6522, 1024)
_BIAS = "model/CLASS_DENSE_LAYER/BiasAdd"


@functools.lru_cache(maxsize=1)
def labels() -> tuple[str, ...]:
    """BirdNET's class labels, in the order of its scores (from the installed model's folder)."""
    path = birdnet.model_path().parent / LABELS_FILE
    try:
        return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read BirdNET's labels ({e.strerror or e})") from None


def _norm(name: str) -> str:
    return " ".join(str(name).replace("_", " ").casefold().split())


def match(classes, names=None) -> dict[str, tuple[int, str]]:
    """``class -> (label index, label)`` for each of ``classes`` whose name is a BirdNET label's
    scientific name, common name or whole label (``names``: the labels, default :func:`labels`).
    The first such label wins; classes with no match are left out."""
    names = labels() if names is None else names
    index: dict[str, int] = {}
    for i, label in enumerate(names):
        sci, _, common = label.partition("_")
        for key in (label, sci, common):
            if key:
                index.setdefault(_norm(key), i)
    return {c: (index[_norm(c)], names[index[_norm(c)]]) for c in classes if _norm(c) in index}


def last_layer() -> tuple[np.ndarray, np.ndarray]:
    """BirdNET's last layer, read once from the model file: weights ``(6522, 1024)`` and bias."""
    return _dense()


@functools.lru_cache(maxsize=1)
def _dense() -> tuple[np.ndarray, np.ndarray]:
    cls, _ = birdnet._interpreter_class()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = cls(model_path=str(birdnet.model_path()), num_threads=1)
    it.allocate_tensors()
    found = {}
    for t in it.get_tensor_details():
        for key, prefix, ndim in (("w", _DENSE, 2), ("b", _BIAS, 1)):
            shape = tuple(int(v) for v in t["shape"])
            if key not in found and t["name"].startswith(prefix) and len(shape) == ndim \
                    and (key == "b" or shape[1] == birdnet.EMBED_DIM):
                found[key] = np.array(it.get_tensor(t["index"]), dtype=np.float32)
    w, b = found.get("w"), found.get("b")
    if w is None or b is None or w.shape != (len(b), birdnet.EMBED_DIM):
        raise ConfigError(f"{birdnet.model_path().name}: BirdNET's last layer was not found")
    return w, b


def class_layer(indices) -> tuple[np.ndarray, np.ndarray]:
    """BirdNET's last layer for the labels ``indices``: weights ``(k, 1024)`` and bias ``(k,)``,
    so that ``embedding @ w.T + b`` are those classes' scores (logits)."""
    w, b = _dense()
    idx = np.asarray(list(indices), dtype=int)
    return w[idx].copy(), b[idx].copy()
