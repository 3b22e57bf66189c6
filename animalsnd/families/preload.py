"""Models that load once, in a background thread when asked early (TensorFlow's import is slow)."""

from __future__ import annotations

import threading

__all__ = ["Preloaded"]


class Preloaded:
    """Mixin: ``preload()`` starts ``_load_models()`` in a thread, ``_ready()`` waits for it.

    A failure in the thread is re-raised in the caller's thread by ``_ready()``.
    """

    thread_name = "animalsnd-model-load"
    _loader: threading.Thread | None = None
    _error: BaseException | None = None
    _loaded = False

    def _load_models(self) -> None:  # pragma: no cover - every predictor has its own
        raise NotImplementedError

    def _load(self) -> None:
        try:
            self._load_models()
            self._error = None
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def preload(self):
        """Start loading the models in the background."""
        if not self._loaded and self._loader is None:
            self._loader = threading.Thread(target=self._load, name=self.thread_name, daemon=True)
            self._loader.start()
        return self

    def _ready(self) -> None:
        if self._loaded:
            return
        if self._loader is not None:
            self._loader.join()
        else:
            self._load()
        if self._error is not None:
            raise self._error
        self._loaded = True
