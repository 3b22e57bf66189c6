"""The rows of the ablation table: named training variants of the models.

A *variant* is a model, overrides of its training recipe and, optionally, an
augmented noise set. Every model of the family registry that is not a
registered variant is a variant of its own default recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from animalsnd.errors import ConfigError

__all__ = ["DEFAULT_VARIANTS", "VARIANTS", "Variant", "available_variants", "parse_folds", "register_variant",
           "resolve_variants", "snr_label"]


@dataclass(frozen=True)
class Variant:
    """One row of the ablation table.

    Attributes
    ----------
    name : str
    model : str
        A model known to :mod:`animalsnd.train`.
    overrides : dict
        :class:`~animalsnd.train.TrainConfig` options that replace the
        model's default recipe.
    augment : {"calibrated", "simple"} or None
        The noise-augmented set added to training (needs ``--noise``).
    description : str
    """

    name: str
    model: str
    overrides: dict = field(default_factory=dict)
    augment: str | None = None
    description: str = ""

    def definition(self) -> dict:
        return {"name": self.name, "model": self.model, "overrides": dict(sorted(self.overrides.items())),
                "augment": self.augment}


VARIANTS: dict[str, Variant] = {}


def register_variant(variant: Variant) -> Variant:
    """Add (or replace) a variant of the registry."""
    if variant.augment not in (None, "calibrated", "simple"):
        raise ConfigError(f"variant {variant.name!r}: augment={variant.augment!r} must be calibrated, simple or None")
    VARIANTS[variant.name] = variant
    return variant


for _v in [
    Variant("baseline", "cnn1d", {}, None,
            "1D CNN, the study's baseline recipe (Adam, 40 epochs, no weights, no augmentation)"),
    Variant("simple-noise", "cnn1d", {}, "simple",
            "baseline + naive noise copies (0-20 dB whole-clip SNR, unbalanced)"),
    Variant("alexnet-mel", "alexnet-mel", {}, None,
            "AlexNet-style 2D CNN on the log-Mel, robust recipe"),
    Variant("transformer-mel", "transformer-mel", {}, None,
            "Transformer encoder over Mel frames, robust recipe"),
    Variant("enhanced", "cnn1d-enhanced", {}, "calibrated",
            "enhanced 1D CNN + calibrated noise + SpecAugment + class weights + AdamW + LR schedule"),
    Variant("enhanced-no-noise", "cnn1d-enhanced", {}, None,
            "enhanced without the calibrated noise copies"),
    Variant("enhanced-no-specaugment", "cnn1d-enhanced", {"spec_augment": False}, "calibrated",
            "enhanced without SpecAugment"),
    Variant("enhanced-no-class-weights", "cnn1d-enhanced", {"class_weights": False}, "calibrated",
            "enhanced without class weights"),
]:
    register_variant(_v)

DEFAULT_VARIANTS: tuple[str, ...] = (
    "baseline", "simple-noise", "alexnet-mel", "transformer-mel", "enhanced",
    "enhanced-no-noise", "enhanced-no-specaugment", "enhanced-no-class-weights",
)


def _known_models() -> list[str]:
    from animalsnd.families import model_names

    return list(model_names())


def available_variants() -> list[str]:
    """Registered variants, then every trainable model not registered under its own name."""
    return [*VARIANTS, *(m for m in _known_models() if m not in VARIANTS)]


def resolve_variants(names: Sequence[str] | str | None) -> list[Variant]:
    """Variants by name (comma-separated text or a list); None: the defaults.

    A trainable model name that is not a registered variant becomes a variant
    with the model's own default recipe.

    Raises
    ------
    ConfigError
        An unknown or repeated name; the message lists the available ones.
    """
    if names is None:
        names = list(DEFAULT_VARIANTS)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = list(names)
    if not names or any(not n for n in names):
        raise ConfigError(f"--variants {','.join(names)!r} must be comma-separated names; "
                          f"available: {', '.join(available_variants())}")
    models = _known_models()
    out, unknown = [], []
    for n in names:
        if n in VARIANTS:
            out.append(VARIANTS[n])
        elif n in models:
            out.append(Variant(n, n, {}, None, f"{n} with its default recipe"))
        else:
            unknown.append(n)
    if unknown:
        raise ConfigError(f"unknown variant(s) {', '.join(unknown)}; available: {', '.join(available_variants())}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"variant(s) named twice: {', '.join(dup)}")
    return out


def parse_folds(value: str | int | None, n_folds: int) -> list[int]:
    """``"all"``/None -> every fold; N -> folds 0..N-1 as test folds."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return list(range(n_folds))
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--folds {value!r} must be 'all' or a number of folds") from None
    if not 1 <= n <= n_folds:
        raise ConfigError(f"--folds {value!r} must be between 1 and the cache's {n_folds} folds (or 'all')")
    return list(range(n))


def snr_label(snr: float) -> str:
    """``10.0`` -> ``"10"``, ``-2.5`` -> ``"-2.5"`` (JSON keys and column names)."""
    return f"{float(snr):g}"
