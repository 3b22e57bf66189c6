"""How a model is trained: :class:`TrainConfig`, the models' recipes and their revisions.

Every model's default recipe, named recipes and architecture revision come
from its family (:mod:`animalsnd.families`); the TrainConfig options only
some families read (``--pool``, ``--shots``, ...) are refused for the others.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from animalsnd import families
from animalsnd.config import from_known_fields
from animalsnd.errors import ConfigError

__all__ = [
    "LOSSES", "MODEL_DEFAULTS", "MODEL_NAMES", "MODEL_REVISIONS", "OPTIMIZERS", "TrainConfig", "model_defaults",
    "model_options", "model_revision", "recipe_names",
]

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")
LOSSES: tuple[str, ...] = ("ce", "focal", "class-balanced")  # animalsnd.models.losses

#: Every built-in ``--model`` (:func:`animalsnd.families.model_names` also lists registered ones).
MODEL_NAMES: tuple[str, ...] = families.model_names()


def model_defaults(model: str) -> dict:
    """The model's default recipe: the TrainConfig options every None option falls back to."""
    return dict(families.family(model).defaults[model])


#: The default recipe of every built-in model.
MODEL_DEFAULTS: dict[str, dict] = {m: model_defaults(m) for m in MODEL_NAMES}


def _recipes(model: str) -> dict[str, dict]:
    return dict((getattr(families.family(model), "recipes", None) or {}).get(model, {}))


def recipe_names(model: str) -> tuple[str, ...]:
    """The recipes ``--model model`` accepts: ``default`` and its named ones."""
    return ("default", *_recipes(model))


# Bumped when a model's architecture or features change in a way no training
# option records, so results stored under the old revision (compare runs) are
# not reused. Revision 1 is implicit; the families list theirs.
MODEL_REVISIONS: dict[str, int] = {m: r for f in dict.fromkeys(map(families.family, MODEL_NAMES))
                                   for m, r in f.revisions.items()}


def model_revision(model: str) -> int:
    """The revision of ``model``'s architecture and features (1 unless bumped)."""
    if model in MODEL_REVISIONS:
        return MODEL_REVISIONS[model]
    try:
        return families.family(model).revisions.get(model, 1)
    except ConfigError:
        return 1


def model_options() -> dict[str, tuple[str, ...]]:
    """TrainConfig options that only some models read -> those models (left out of the others' to_dict())."""
    out: dict[str, tuple[str, ...]] = {}
    for m in families.model_names():
        for name in families.family(m).options:
            out[name] = (*out.get(name, ()), m)
    return out


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained (not the data).

    Build it with :meth:`for_model`, which fills unset options with the
    model's defaults (its family's recipe, :func:`model_defaults`).

    ``class_weights`` are inverse class frequencies of the training split,
    scaled so the average weight over the training examples is 1 (the loss
    keeps its scale). ``early_stopping`` stops after ``patience`` epochs
    without a lower validation loss and restores the best epoch's weights;
    ``lr_schedule`` halves the learning rate after ``lr_patience`` such epochs
    (ReduceLROnPlateau, down to ``min_lr``). With ``val_fraction=0`` both
    watch the training loss instead. ``model_options`` go to the model's
    builder (layer sizes, dropout rates; see :mod:`animalsnd.models`).
    """

    model: str
    epochs: int
    optimizer: str
    lr: float
    weight_decay: float
    class_weights: bool
    spec_augment: bool
    early_stopping: bool
    patience: int
    lr_schedule: bool
    batch_size: int = 32
    time_masks: int = 2
    freq_masks: int = 2
    time_width: int = 40
    freq_width: int = 16
    mixup: float = 0.0
    label_smoothing: float = 0.0
    loss: str = "ce"
    val_fraction: float = 0.1
    seed: int = 0
    lr_factor: float = 0.5
    lr_patience: int = 3
    min_lr: float = 1e-6
    model_options: dict = field(default_factory=dict)
    pool: str = "meanmax"  # birdnet-head: pooling of a clip's window embeddings (chosen by CV)
    shots: int = 0  # protonet, birdnet-head, stats-mlp: labelled training clips per class (0: all)
    unlabeled: str = ""  # protonet: folder of extra unlabelled audio for pretraining
    finetune_epochs: int = 0  # protonet: episodic fine-tuning epochs after pretraining
    floor_shift: float = 0.0  # dB; random background floors on --norm floor features (0: off)

    def __post_init__(self) -> None:
        if not isinstance(self.model_options, dict):
            raise ConfigError(f"model_options={self.model_options!r} must be a dict")
        fam = families.family(self.model)  # ConfigError for an unknown model
        for name in ("epochs", "batch_size", "patience", "lr_patience"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name.replace('_', '-')}={v!r} must be a positive integer")
        for name in ("time_masks", "freq_masks", "time_width", "freq_width", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name.replace('_', '-')}={v!r} must be a non-negative integer")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer={self.optimizer!r} must be one of: {', '.join(OPTIMIZERS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss={self.loss!r} must be one of: {', '.join(LOSSES)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr={self.lr!r} must be a positive number")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight-decay={self.weight_decay!r} must be >= 0")
        if self.optimizer == "adam" and self.weight_decay > 0:
            raise ConfigError("weight-decay needs --optimizer adamw (adam has no decoupled weight decay)")
        if not (math.isfinite(self.mixup) and self.mixup >= 0):
            raise ConfigError(f"mixup={self.mixup!r} must be >= 0 (0 = off)")
        if isinstance(self.floor_shift, bool) or not isinstance(self.floor_shift, (int, float)) \
                or not (math.isfinite(self.floor_shift) and self.floor_shift >= 0):
            raise ConfigError(f"floor-shift={self.floor_shift!r} must be a number of dB >= 0 (0 = off)")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label-smoothing={self.label_smoothing!r} must be in [0, 1)")
        if not 0 <= self.val_fraction <= 0.5:
            raise ConfigError(f"val-fraction={self.val_fraction!r} must be in [0, 0.5]")
        if not (0 < self.lr_factor < 1):
            raise ConfigError(f"lr_factor={self.lr_factor!r} must be in (0, 1)")
        if self.class_weights and self.loss == "class-balanced":
            raise ConfigError(
                "--class-weights and --loss class-balanced both reweight classes; use one"
            )
        for name in ("shots", "finetune_epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name.replace('_', '-')}={v!r} must be a non-negative integer")
        for name, models in model_options().items():
            default = next(f.default for f in fields(self) if f.name == name)
            if self.model not in models and getattr(self, name) != default:
                raise ConfigError(f"--{name.replace('_', '-')} applies to --model {' or '.join(models)} only")
        fam.check_config(self)
        if self.shots and self.val_fraction:
            raise ConfigError(f"--shots {self.shots} with --val-fraction {self.val_fraction:g} would use more labelled "
                              "clips than the shots; use --val-fraction 0")

    @classmethod
    def for_model(cls, model: str, *, recipe: str = "default", **options) -> "TrainConfig":
        """The model's recipe, with every non-None option overriding it.

        ``recipe`` names one of the family's named recipes for the model
        (``default``: :func:`model_defaults` alone). Its ``model_options`` are merged with
        the given ones key by key. With ``loss="class-balanced"`` class weights
        default to off (the loss already weights classes).
        """
        base = model_defaults(model)  # ConfigError for an unknown model
        if recipe not in recipe_names(model):
            raise ConfigError(f"unknown recipe {recipe!r} for --model {model}; "
                              f"available: {', '.join(recipe_names(model))}")
        known = {f.name for f in fields(cls)} - {"model"}
        unknown = set(options) - known
        if unknown:
            raise ConfigError(f"unknown training options: {', '.join(sorted(unknown))}")
        given = {k: v for k, v in options.items() if v is not None}
        if recipe != "default":
            named = dict(_recipes(model)[recipe])
            merged = {**named.pop("model_options", {}), **(given.get("model_options") or {})}
            base.update(named)
            if merged:
                given["model_options"] = merged
        if given.get("loss") == "class-balanced":
            base["class_weights"] = False
        if given.get("optimizer") == "adam" and "weight_decay" not in given:
            base["weight_decay"] = 0.0
        return cls(model=model, **{**base, **given})

    def to_dict(self) -> dict:
        d = asdict(self)
        for name, models in model_options().items():
            if self.model not in models:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return from_known_fields(cls, d, "training")
