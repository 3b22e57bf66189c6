"""The folds of a ``--cv`` folder as one model, as ``predict`` uses them.

``predict`` on a cross-validation folder averages the class probabilities
of its fold bundles. ``eval --data`` on such a folder scores that same
average once per clip (``n`` = the number of clips), not every fold model
in turn. Per-fold scores are only meaningful where each fold has held-out
clips of its own: the bundles' own cache (:func:`own_cache`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animalsnd.families import open_bundles


class FoldAverage:
    """Bundles with the same classes and inputs behind one bundle-like object.

    ``predict_proba`` is the mean of the bundles' probabilities; every other
    attribute (``classes``, ``cfg``, ``kind``, ``meta``, ``input_shape``) is
    the first bundle's. ``path`` is the ``--cv`` folder, ``test_fold`` None.
    """

    test_fold = None

    def __init__(self, bundles: list, path: str | Path) -> None:
        self.bundles = list(bundles)
        self.path = Path(path)
        self._model = None

    def __getattr__(self, name: str):
        if name == "bundles":  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.bundles[0], name)

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        total = None
        for b in self.bundles:
            p = b.predict_proba(X, batch_size=batch_size).astype(np.float64)
            total = p if total is None else total + p
            b._model = None  # one fold model in memory at a time
        return (total / len(self.bundles)).astype(np.float32)


def load_model(path: str | Path):
    """A single bundle, or the :class:`FoldAverage` of a ``--cv`` folder."""
    bundles = open_bundles(path)
    if len(bundles) == 1:
        return bundles[0]
    return FoldAverage(bundles, path)


def own_cache(bundles: list, data: str | Path) -> bool:
    """True when ``data`` is the prepared cache the fold bundles were trained on.

    Its clips are then the folds themselves: each fold model is scored on
    its own held-out fold, as without ``--data``.
    """
    from animalsnd.cache import read_config
    from animalsnd.inputs import is_cache

    data = Path(data)
    if not is_cache(data):
        return False
    fp = read_config(data).get("fingerprint", "")
    return bool(fp) and all(b.meta.get("data", {}).get("fingerprint") == fp and b.test_shas for b in bundles)
