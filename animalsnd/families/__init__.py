"""Model families behind one interface, and the registry that maps a model name to its family.

A family is what differs between kinds of model: the inputs it reads from a
cache or a folder, how it trains one fold, how it builds evaluation inputs,
how it makes a streaming predictor with its window plan, and the ``input``
section of its bundles. The orchestrators (:mod:`animalsnd.train`,
:mod:`animalsnd.evaluate`, :mod:`animalsnd.predict`, :mod:`animalsnd.compare`)
only ask this registry.

Built-in families, one module each:

* :mod:`animalsnd.families.logmel` -- the log-Mel Keras classifiers of
  :mod:`animalsnd.models` (cnn1d, cnn1d-enhanced, alexnet-mel, transformer-mel);
* :mod:`animalsnd.families.protonet` -- self-supervised prototypes on log-Mel;
* :mod:`animalsnd.families.birdnet_head` -- a head on BirdNET embeddings;
* :mod:`animalsnd.families.stats_mlp` -- a network on clip descriptors.

Adding a kind of model means writing one class with the attributes and
methods of :class:`ModelFamily` and passing an instance to :func:`register`
(``tests/test_families.py`` registers a toy family that trains, evaluates and
predicts through the public functions). Importing this package imports
neither TensorFlow nor a family module; those load on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from animalsnd.errors import BundleError, ConfigError

__all__ = [
    "ModelFamily", "WaveInput", "clip_naming", "default_model_options", "family", "folder_strength", "for_bundle",
    "input_kinds",
    "inputs_label", "model_names", "noisy_inputs", "open_bundle", "open_bundles", "predictor_for", "recipe_notes",
    "register", "unregister", "wave_input",
]


@dataclass(frozen=True)
class WaveInput:
    """How a model's input comes from one waveform: the clip at ``sr`` Hz, then ``fn(y, *args)``.

    Hashable and picklable when ``fn`` is a module-level function and ``args`` are plain values.
    """

    sr: int
    fn: Callable
    args: tuple = ()

    def __call__(self, y):
        return self.fn(y, *self.args)


class ModelFamily(Protocol):
    """What one kind of model provides; ``config`` is an :class:`animalsnd.train.TrainConfig`."""

    #: the ``input.kind`` of its bundles (``logmel``, ``birdnet``, ``stats``, ...)
    input_kind: str
    #: training recipe per model name: the TrainConfig options it defaults to (its ``--model`` names)
    defaults: dict[str, dict]
    #: named recipes per model name (``--recipe NAME``): overrides of its defaults (optional)
    recipes: dict[str, dict[str, dict]]
    #: TrainConfig options only this family reads (refused for other models)
    options: tuple[str, ...]
    #: architecture revision per model name, when bumped above 1
    revisions: dict[str, int]
    #: builder options (``--model-option``) and their defaults, when the family has fixed ones
    model_options: dict[str, Any]
    #: what ``train`` counts while it computes missing inputs ("BirdNET embeddings"; optional)
    inputs_label: str

    @property
    def models(self) -> tuple[str, ...]:
        """Its ``--model`` names, in the order ``train --help`` lists them."""

    def check_config(self, config) -> None:
        """Refuse options this family cannot train with (ConfigError)."""

    def load_inputs(self, cache_dir: Path, config, *, jobs: int = -1, progress=None):
        """What it trains on, read from a prepared cache: a feature set with ``X, y, folds, shas, ...``."""

    def inputs_like(self, fs, cache_dir: Path, config, *, jobs: int = -1):
        """Its inputs for the rows of the log-Mel feature set ``fs`` of ``cache_dir`` (may be ``fs``)."""

    def train_fold(self, inputs, *, config, test_fold: int, out_dir=None, cache_dir=None, augmented=None,
                   export_tflite: bool = False, on_epoch=None):
        """Train on every fold but ``test_fold``; an :class:`animalsnd.fitting.FoldResult`."""

    def check_input(self, section: dict) -> None:
        """Refuse a bundle ``input`` section that lacks what it needs (ValueError)."""

    def load_model(self, path: Path):
        """The model saved in a bundle's model file."""

    def eval_data(self, bundle, data=None, *, jobs: int = -1, progress=None):
        """An :class:`animalsnd.inputs.EvalData`: the bundle's held-out fold, a cache or a folder."""

    def noisy_inputs(self, paths: Sequence[str], noise_dir, *, cfg, pool: str = "", **options):
        """Its inputs of the clips ``paths`` with noise mixed in (:mod:`animalsnd.robustness`)."""

    def wave_input(self, cfg, pool: str = "mean") -> WaveInput:
        """Its input of one waveform, for features ``cfg`` (``eval --chain``; optional: without it,
        clips cannot be re-rendered for this family)."""

    def recipe_notes(self, config) -> list[str]:
        """What ``train`` adds to its recipe line for ``config`` (optional: nothing)."""

    def predictor(self, bundles: Sequence, *, runtime: str = "auto", threads: int | None = None):
        """A streaming predictor over the fold bundles: ``classes``, ``cfg``, ``bundles``, ``runtime``,
        ``preload()``, ``predict_proba(X)``, ``window_plan(window_s, hop_s)`` and ``scan(path, plan)``."""


# (module, attribute) of the built-in families, imported on first use, in listing order
_BUILTIN = (
    ("animalsnd.families.logmel", "FAMILY"),
    ("animalsnd.families.protonet", "FAMILY"),
    ("animalsnd.families.birdnet_head", "FAMILY"),
    ("animalsnd.families.stats_mlp", "FAMILY"),
)
_FAMILIES: list[ModelFamily] = []
_loaded = False


def _registry() -> list[ModelFamily]:
    global _loaded
    if not _loaded:
        _loaded = True
        builtin = [getattr(importlib.import_module(m), attr) for m, attr in _BUILTIN]
        _FAMILIES[:0] = builtin
    return _FAMILIES


def register(fam: ModelFamily) -> ModelFamily:
    """Add a family; its model names must be new. Returns it."""
    taken = set(model_names())
    clash = sorted(taken & set(fam.models))
    if clash:
        raise ConfigError(f"model name(s) {', '.join(clash)} already belong to a family")
    _registry().append(fam)
    return fam


def unregister(fam: ModelFamily) -> None:
    """Remove a family added with :func:`register`."""
    _registry().remove(fam)


def model_names() -> tuple[str, ...]:
    """Every ``--model`` name, family by family."""
    return tuple(m for f in _registry() for m in f.models)


def input_kinds() -> tuple[str, ...]:
    """Every bundle ``input.kind`` a family reads."""
    return tuple(dict.fromkeys(f.input_kind for f in _registry()))


def family(model: str) -> ModelFamily:
    """The family that trains ``model``.

    Raises
    ------
    ConfigError
        No family has that model name.
    """
    for f in _registry():
        if model in f.models:
            return f
    raise ConfigError(f"unknown model {model!r}; available: {', '.join(model_names())}")


def default_model_options(model: str) -> dict[str, Any]:
    """The builder options ``model`` uses unless ``--model-option`` says otherwise (empty when not fixed)."""
    return dict(getattr(family(model), "model_options", {}) or {})


def inputs_label(model: str) -> str:
    """What ``train`` counts while it computes the missing inputs of ``model``."""
    return getattr(family(model), "inputs_label", "Model inputs")


def recipe_notes(config) -> list[str]:
    """The notes of ``config.model``'s family on ``config``, for ``train``'s recipe line."""
    notes = getattr(family(config.model), "recipe_notes", None)
    return list(notes(config)) if notes is not None else []


def wave_input(kind: str, cfg, pool: str = "mean", *, model: str | None = None) -> WaveInput:
    """How the family of input kind ``kind`` (the one of ``model`` when given) computes its input of one
    waveform on features ``cfg``.

    Raises
    ------
    ConfigError
        No family reads ``kind``, or its family computes no input from a waveform.
    """
    try:
        fam = _family_of({"input": {"kind": kind}, "train": {"model": model}})
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    make = getattr(fam, "wave_input", None)
    if make is None:
        raise ConfigError(f"{kind} inputs cannot be computed from a re-rendered clip")
    return make(cfg, pool)


def _family_of(meta: dict) -> ModelFamily:
    kind = meta.get("input", {}).get("kind")
    model = (meta.get("train") or {}).get("model")
    fams = [f for f in _registry() if f.input_kind == kind]
    if not fams:
        raise ValueError(f"unknown input kind {kind!r}")
    return next((f for f in fams if model in f.models), fams[0])


def folder_strength(meta: dict | None) -> float:
    """How strongly ``eval --data`` and ``predict --per-file`` weigh a folder's class proportions
    for a bundle of ``meta`` (:func:`animalsnd.priors.folder_weights`): its family's
    ``folder_strength``, :data:`animalsnd.priors.STRENGTH` unless the family measured otherwise."""
    from animalsnd.priors import STRENGTH

    try:
        fam = _family_of(meta or {})
    except ValueError:
        return STRENGTH
    return float(getattr(fam, "folder_strength", STRENGTH))


def clip_naming(bundle):
    """What changes ``bundle``'s probabilities when it names a clip (``apply(X, proba)``: ``eval``,
    ``predict --per-file``), or None: its family's ``clip_naming(bundle)``, for the families
    that have one (``birdnet-head`` with a background class:
    :mod:`animalsnd.families.birdnet_naming`)."""
    try:
        fam = _family_of(bundle.meta)
    except ValueError:
        return None
    naming = getattr(fam, "clip_naming", None)
    return naming(bundle) if naming is not None else None


def for_bundle(bundle) -> ModelFamily:
    """The family that reads ``bundle``'s inputs: the one that trained it, else the first of its input kind."""
    try:
        return _family_of(bundle.meta)
    except ValueError as exc:
        raise BundleError(f"{bundle.path}: {exc}") from None


def open_bundle(model_dir: str | Path):
    """:func:`animalsnd.bundle.load_bundle`, checked and loaded by the bundle's family."""
    from animalsnd.bundle import load_bundle

    def check(meta: dict) -> None:
        _family_of(meta).check_input(meta["input"])

    b = load_bundle(model_dir, check_meta=check)
    b.loader = _family_of(b.meta).load_model
    return b


def open_bundles(model_dir: str | Path) -> list:
    """The bundle of ``model_dir``, or its ``fold-<k>`` bundles (see :func:`animalsnd.bundle.find_bundles`)."""
    from animalsnd.bundle import find_bundles

    return [open_bundle(p) for p in find_bundles(model_dir)]


def predictor_for(bundles: Sequence, *, runtime: str = "auto", threads: int | None = None):
    """The streaming predictor of the bundles' family (their probabilities averaged)."""
    if not bundles:
        raise BundleError("no model bundle given")
    return for_bundle(bundles[0]).predictor(bundles, runtime=runtime, threads=threads)


def noisy_inputs(paths: Sequence[str], bundle, noise_dir, **options):
    """A bundle's inputs for evaluation clips with background noise at one SNR.

    ``options`` (``snr_db``, ``seed``, ``jobs``, ``progress``, ``return_snr``)
    and errors are those of :func:`animalsnd.robustness.noisy_features`; ``X``
    has shape ``(n, *bundle.input_shape)``.
    """
    return for_bundle(bundle).noisy_inputs(paths, noise_dir, cfg=bundle.cfg,
                                           pool=bundle.meta["input"].get("pool", ""), **options)
