"""The log-Mel models of a MODEL_DIR behind one ``predict_proba``: Keras, or LiteRT for ``model.tflite``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from animalsnd.config import FeatureConfig
from animalsnd.errors import BundleError, ConfigError
from animalsnd.families.preload import Preloaded
from animalsnd.windows import WindowPlan, scan

__all__ = ["RUNTIMES", "Predictor"]

RUNTIMES = ("auto", "keras", "tflite")


class _LiteModel:
    """A ``model.tflite`` run with the LiteRT interpreter (no TensorFlow import)."""

    def __init__(self, path: Path, *, threads: int | None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - fall back to TensorFlow's copy
            from animalsnd.bundle import import_tensorflow

            Interpreter = import_tensorflow().lite.Interpreter
        from animalsnd.fileutil import c_stderr_silenced

        self._quiet = c_stderr_silenced  # LiteRT logs its delegate set-up to stderr
        try:
            with c_stderr_silenced():
                self._it = Interpreter(model_path=str(path), num_threads=threads)
        except Exception as exc:
            raise BundleError(f"{path}: cannot load TFLite model ({exc})") from None
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self.input_shape = tuple(int(d) for d in self._it.get_input_details()[0]["shape"])
        self.output_shape = tuple(int(d) for d in self._it.get_output_details()[0]["shape"])
        self._batch = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self._batch != len(X):
            self._it.resize_tensor_input(self._in, [len(X), *X.shape[1:]])
            with self._quiet():
                self._it.allocate_tensors()
            self._batch = len(X)
        self._it.set_tensor(self._in, np.ascontiguousarray(X, dtype=np.float32))
        self._it.invoke()
        return self._it.get_tensor(self._out).copy()


def _litert_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None


class Predictor(Preloaded):
    """The model(s) of a MODEL_DIR behind one ``predict_proba``.

    A cross-validation folder (``fold-0``, ``fold-1``, ...) predicts the
    **mean of its folds' probabilities**; every fold must share classes and
    feature configuration.

    Parameters
    ----------
    bundles : list of animalsnd.bundle.Bundle
    runtime : {"auto", "keras", "tflite"}
        ``tflite`` runs each bundle's ``model.tflite`` (written by
        ``train --export tflite``) with LiteRT, which starts in milliseconds
        instead of importing TensorFlow; ``auto`` uses it when every bundle
        has one, else Keras.
    threads : int, optional
        Interpreter threads for ``tflite`` (default: all cores).
    """

    def __init__(self, bundles: Sequence, *, runtime: str = "auto", threads: int | None = None):
        if runtime not in RUNTIMES:
            raise ConfigError(f"--runtime {runtime!r} must be one of {', '.join(RUNTIMES)}")
        if not bundles:
            raise BundleError("no model bundle given")
        first = bundles[0]
        for b in bundles[1:]:
            if list(b.classes) != list(first.classes) or b.cfg != first.cfg:
                raise BundleError(
                    f"{b.path}: classes or feature config differ from {first.path}; cannot average folds"
                )
        has_lite = all(b.has_tflite if hasattr(b, "has_tflite") else (Path(b.path) / "model.tflite").is_file()
                       for b in bundles)  # (test doubles have no has_tflite)
        if runtime == "tflite" and not has_lite:
            raise BundleError(
                f"{first.path}: no model.tflite in every bundle (train with --export tflite)"
            )
        if runtime == "auto":
            runtime = "tflite" if has_lite and _litert_available() else "keras"
        self.bundles = list(bundles)
        self.runtime = runtime
        self.classes: list[str] = list(first.classes)
        self.cfg: FeatureConfig = first.cfg
        self._threads = threads or os.cpu_count() or 1
        self._models: list | None = None

    def _load_models(self) -> None:
        if self.runtime == "tflite":
            models = [_LiteModel(b.owned_file("model.tflite"), threads=self._threads) for b in self.bundles]
            for b, m in zip(self.bundles, models):
                b.check_model_shapes(m.input_shape, m.output_shape)
        else:
            for b in self.bundles:
                b.model  # noqa: B018  (loads lazily)
            models = self.bundles
        self._models = models

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """Mean class probabilities over the bundles.

        Parameters
        ----------
        X : np.ndarray, shape (n, frames, n_mels)

        Returns
        -------
        np.ndarray, shape (n, len(classes)), float32
        """
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3 or X.shape[1:] != self.cfg.shape:
            raise BundleError(
                f"features of shape {X.shape[1:]} do not match the model input {self.cfg.shape}"
            )
        self._ready()
        models = self._models
        total = np.zeros((len(X), len(self.classes)), np.float64)
        for m in models:
            if self.runtime == "tflite":
                p = np.concatenate([m(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]) \
                    if len(X) else np.zeros((0, len(self.classes)), np.float32)
            else:
                p = m.predict_proba(X, batch_size=batch_size)
            total += p
        return (total / len(models)).astype(np.float32)

    def window_plan(self, window_s: float | None = None, hop_s: float | None = None) -> WindowPlan:
        """Windows of ``window_s`` seconds every ``hop_s`` (see :meth:`WindowPlan.from_seconds`)."""
        return WindowPlan.from_seconds(self.cfg, window_s=window_s, hop_s=hop_s)

    def scan(self, path: str | Path, plan: WindowPlan, *, batch_size: int = 64,
             on_seconds: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Windows (seconds), probabilities and duration of one file (:func:`animalsnd.windows.scan`)."""
        return scan(path, self, plan, batch_size=batch_size, on_seconds=on_seconds)
