"""Model builders, behind a lazy registry.

Importing this package does not import TensorFlow or Keras: the module that
builds a given architecture is imported only when :func:`build_model` is
called. Every builder takes an input of shape ``(frames, n_mels)`` (float32,
per-band z-normalised log-Mel) and returns a named ``keras.Model`` ending in a
softmax over ``n_classes``.

Saved models (``model.save("model.keras")``) can be reopened with
:func:`load_model`, which first imports the modules that register the custom
layers and losses of this package.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsnd.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["MODEL_NAMES", "build_model", "count_params", "load_model"]

MODEL_NAMES: tuple[str, ...] = (
    "cnn1d",
    "cnn1d-enhanced",
    "alexnet-mel",
    "transformer-mel",
)

# model name -> (module under animalsnd.models, builder function name)
_BUILDERS: dict[str, tuple[str, str]] = {
    "cnn1d": ("cnn1d", "build_cnn1d"),
    "cnn1d-enhanced": ("cnn1d_enhanced", "build_cnn1d_enhanced"),
    "alexnet-mel": ("alexnet_mel", "build_alexnet_mel"),
    "transformer-mel": ("transformer_mel", "build_transformer_mel"),
}


def _check_shape(input_shape: Any, n_classes: Any) -> tuple[int, int]:
    try:
        frames, n_mels = (int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise ConfigError(
            f"input_shape must be (frames, n_mels), got {input_shape!r}"
        ) from None
    if frames < 1 or n_mels < 1:
        raise ConfigError(f"input_shape must be positive, got {input_shape!r}")
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
        raise ConfigError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    return frames, n_mels


def build_model(
    name: str,
    *,
    input_shape: tuple[int, int],
    n_classes: int,
    seed: int = 0,
    **kwargs: Any,
) -> "keras.Model":
    """Build the architecture ``name`` (one of :data:`MODEL_NAMES`).

    ``input_shape`` is ``(frames, n_mels)``; ``kwargs`` are passed to the
    architecture's builder (layer sizes, dropout rates, ...). The global
    random seed is set to ``seed`` before any weight is created, so the same
    arguments give the same initial weights.
    """
    if name not in _BUILDERS:
        raise ConfigError(
            f"unknown model {name!r}; available: {', '.join(MODEL_NAMES)}"
        )
    shape = _check_shape(input_shape, n_classes)
    module_name, func_name = _BUILDERS[name]
    module = importlib.import_module(f"animalsnd.models.{module_name}")
    builder = getattr(module, func_name)

    accepted = set(inspect.signature(builder).parameters) - {"input_shape", "n_classes"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ConfigError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; "
            f"available: {', '.join(sorted(accepted))}"
        )

    import keras

    keras.utils.set_random_seed(int(seed))
    try:
        return builder(input_shape=shape, n_classes=n_classes, **kwargs)
    except (ValueError, TypeError) as exc:  # e.g. dense_units=-4: Keras refuses the layer
        if not kwargs:
            raise
        lines = [s for s in str(exc).strip().splitlines() if s.strip()]
        given = " ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ConfigError(f"--model-option {given}: model {name!r} cannot be built with it "
                          f"({(lines[-1] if lines else type(exc).__name__)[:160]})") from None


def count_params(model: Any) -> int:
    """Total number of weights (trainable and not) of a built model."""
    return int(model.count_params())


def load_model(path: str | Path, *, compile: bool = False) -> "keras.Model":
    """Load a model saved with ``model.save(".../model.keras")``.

    Registers this package's custom layers and losses first, so archives
    containing them (the transformer's positional embedding, the focal and
    class-weighted losses) can be deserialised. ``compile=False`` (default)
    skips the optimizer and loss, which is all inference needs.
    """
    import keras

    from animalsnd.models import layers as _layers  # noqa: F401  (registers)
    from animalsnd.models import losses as _losses  # noqa: F401  (registers)
    from animalsnd.models import protonet as _protonet  # noqa: F401  (registers PrototypeSoftmax)

    return keras.models.load_model(str(path), compile=compile)
