"""A dense head (``birdnet_head.build_head``) evaluated with NumPy, without TensorFlow.

A ``birdnet-head`` bundle's model is a chain ``Input -> Normalization ->
GaussianNoise -> [Dense relu] -> Dropout -> Dense softmax``; at inference the
noise and dropout layers pass their input through. Reading the weights from
``model.keras`` (a zip of ``config.json`` and ``model.weights.h5``) and
computing the chain in NumPy gives the Keras probabilities to float32
rounding (about 1e-7) without importing TensorFlow, which would take 600 MB
and some seconds of start-up in ``predict``. A model with any other layer, or
whose file cannot be read this way, returns None: the caller uses Keras.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["NumpyHead", "load_numpy_head"]

_PASS = {"InputLayer", "GaussianNoise", "Dropout"}
_EPS = 1e-7  # keras.backend.epsilon()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class NumpyHead:
    """Standardise, then dense layers; ``predict_proba(X)`` like a bundle's."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, dense: list[tuple[np.ndarray, np.ndarray, str]]):
        self.mean, self.std, self.dense = mean, std, dense

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 0) -> np.ndarray:  # noqa: ARG002
        x = (np.asarray(X, np.float32) - self.mean) / self.std
        for w, b, act in self.dense:
            x = x @ w + b
            if act == "relu":
                x = np.maximum(x, 0.0)
            elif act == "softmax":
                x = np.exp(x - x.max(axis=1, keepdims=True))
                x /= x.sum(axis=1, keepdims=True)
        return x.astype(np.float32, copy=False)


def load_numpy_head(path: str | Path) -> NumpyHead | None:
    """The head of a ``model.keras`` file, or None when it is not a plain dense head."""
    try:
        import h5py

        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            with z.open("model.weights.h5") as fh, h5py.File(fh, "r") as h5:
                return _build(config, h5)
    except Exception:  # noqa: BLE001 - anything unexpected: Keras will load it
        return None


def _build(config: dict, h5) -> NumpyHead | None:
    if config.get("class_name") != "Functional":
        return None
    layers = config["config"]["layers"]
    seen: dict[str, int] = {}
    mean = std = None
    dense: list = []
    prev = None
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        snake = _snake(cls)
        k = seen.get(snake, 0)
        seen[snake] = k + 1
        key = f"layers/{snake}" + (f"_{k}" if k else "")
        inbound = layer.get("inbound_nodes") or []
        if prev is not None:  # a chain: each layer reads the previous one only
            args = inbound[0]["args"] if inbound else []
            names = [a["config"]["keras_history"][0] for a in args if isinstance(a, dict)]
            if names != [prev]:
                return None
        prev = cfg["name"]
        if cls in _PASS:
            continue
        if cls == "Normalization" and mean is None and not dense:
            if cfg.get("axis") not in ([-1], -1, None) or cfg.get("invert"):
                return None
            mean = np.asarray(cfg["mean"], np.float32)
            std = np.maximum(np.sqrt(np.asarray(cfg["variance"], np.float32)), _EPS)
        elif cls == "Dense" and cfg.get("activation") in ("relu", "softmax", "linear"):
            vars_ = h5[key]["vars"]
            w = np.asarray(vars_["0"], np.float32)
            b = np.asarray(vars_["1"], np.float32) if cfg.get("use_bias", True) else np.zeros(w.shape[1], np.float32)
            dense.append((w, b, cfg["activation"]))
        else:
            return None
    if mean is None or not dense or dense[-1][2] != "softmax":
        return None
    return NumpyHead(mean, std, dense)
