"""``--model cnn1d | cnn1d-enhanced | alexnet-mel | transformer-mel``: Keras classifiers on log-Mel features.

The architectures are the builders of :mod:`animalsnd.models`. A fold trains
on the cache's log-Mel features (plus the augmented copies of its training
clips), with SpecAugment, mixup and background floors on training batches
only; evaluation reads the held-out fold from the cache (or computes the
features of a raw folder); prediction streams windows of a recording through
the fold models (:mod:`animalsnd.families.logmel_runtime`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from animalsnd import fitting as F
from animalsnd.config import FeatureConfig
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.inputs import (
    EvalData,
    Progress,
    check_cfg,
    feature_set_data,
    folder_inputs,
    held_out_cache,
    is_cache,
    missing_note,
    training_cache_note,
)

__all__ = ["DEFAULTS", "FAMILY", "RECIPES", "batch_augmenters", "eval_data", "floor_augmenter", "train_fold"]

# ``cnn1d`` is the study's baseline recipe: Adam, plain cross-entropy, no class
# weights, no augmentation, a fixed number of epochs and the weights of the
# last epoch. The other models get the robust recipe.
DEFAULTS: dict[str, dict] = {
    "cnn1d": dict(
        epochs=40, optimizer="adam", lr=1e-3, weight_decay=0.0, class_weights=False,
        spec_augment=False, early_stopping=False, patience=6, lr_schedule=False,
    ),
    "cnn1d-enhanced": dict(F.ROBUST),
    "alexnet-mel": dict(F.ROBUST),
    "transformer-mel": dict(F.ROBUST, lr=5e-4, epochs=80, patience=10),
}
# ``tuned`` is the cnn1d-enhanced recipe that 5-fold cross-validation on
# animal-sounds-10 chose (docs/results.md): smaller batches, more patience,
# lighter SpecAugment and less dropout.
RECIPES: dict[str, dict[str, dict]] = {
    "cnn1d-enhanced": {
        "tuned": dict(
            batch_size=16, patience=15, epochs=100, time_width=20, freq_width=8, freq_masks=1,
            model_options={"spatial_dropout": 0.0, "head_dropout": 0.2, "dense_dropout": 0.2},
        ),
    },
}


# ------------------------------------------------------------------ training
def batch_augmenters(config, shape: tuple[int, int]):
    """SpecAugment and Mixup for training batches (None when off)."""
    from animalsnd.augment import Mixup, SpecAugment

    frames, n_mels = shape
    spec = None
    if config.spec_augment:
        if config.time_masks and config.time_width >= frames:
            raise ConfigError(f"--time-width {config.time_width} must be smaller than the {frames} frames per clip")
        if config.freq_masks and config.freq_width >= n_mels:
            raise ConfigError(f"--freq-width {config.freq_width} must be smaller than the {n_mels} Mel bands")
        spec = SpecAugment(time_masks=config.time_masks, time_width=config.time_width,
                           freq_masks=config.freq_masks, freq_width=config.freq_width)
    return spec, (Mixup(config.mixup) if config.mixup > 0 else None)


def floor_augmenter(config, cfg: FeatureConfig):
    """The :class:`~animalsnd.augment.floorshift.FloorShift` of ``--floor-shift`` (None when off).

    Raises
    ------
    ConfigError
        The features were not prepared with ``--norm floor``.
    """
    if not config.floor_shift:
        return None
    if cfg.norm != "floor":
        raise ConfigError(f"--floor-shift needs features prepared with --norm floor (these use {cfg.norm!r})")
    from animalsnd.augment.floorshift import FloorShift

    return FloorShift(max_db=config.floor_shift)


def train_fold(fs, *, config, test_fold: int, out_dir=None, cache_dir=None, augmented=None,
               export_tflite: bool = False, on_epoch=None):
    """Train on every fold but ``test_fold`` of the log-Mel feature set ``fs`` and score the held-out fold.

    Same contract as :func:`animalsnd.train.train_fold`.
    """
    split = F.checked_split(fs, config, test_fold)
    X_train, y_train, n_aug = F.training_set(fs, split, augmented)
    spec, mix = batch_augmenters(config, fs.cfg.shape)
    floor = floor_augmenter(config, fs.cfg)

    F.seed_everything(config.seed)
    from animalsnd.models import build_model

    model = build_model(config.model, input_shape=fs.cfg.shape, n_classes=len(fs.classes),
                        seed=config.seed, **config.model_options)
    history, train_seconds = F.fit(
        model, config, X_train, y_train, fs.X[split.val], fs.y[split.val], n_classes=len(fs.classes),
        rng=np.random.default_rng([config.seed, test_fold]), spec_augment=spec, mixup=mix,
        floor_shift=floor, fold=test_fold, on_epoch=on_epoch,
    )
    best = F.best_epoch(config, history)
    result = F.fold_result(model, fs, split, test_fold=test_fold, history=history, train_seconds=train_seconds,
                           best_epoch=best, n_train=len(split.train), n_augmented=n_aug)
    if out_dir is not None:
        result.model_dir = F.save_fold(out_dir, result, fs, split, config, cache_dir=cache_dir,
                                       export_tflite=export_tflite,
                                       training={"best_epoch": best, "n_folds": fs.n_folds, "fold_seed": fs.seed})
    return result


# ------------------------------------------------------------------ evaluation data
def held_out_data(bundle) -> EvalData:
    """The bundle's own test fold, rebuilt from the cache it was trained on."""
    from animalsnd.cache import load_features

    cache_dir = held_out_cache(bundle)
    fs = load_features(cache_dir)
    check_cfg(fs.cfg, bundle, cache_dir)
    wanted = set(bundle.test_shas)
    rows = np.array([i for i, s in enumerate(fs.shas) if s in wanted], dtype=int)
    data = feature_set_data(fs, bundle, rows, f"held-out fold {bundle.test_fold} of {cache_dir}")
    data.notes += missing_note(bundle, len(rows), cache_dir)
    return data


def cache_data(cache_dir: Path, bundle) -> EvalData:
    """Every usable clip of a prepared cache (same feature settings required)."""
    from animalsnd.cache import load_features

    fs = load_features(cache_dir)
    check_cfg(fs.cfg, bundle, cache_dir)
    data = feature_set_data(fs, bundle, np.arange(len(fs)), str(cache_dir))
    data.notes += training_cache_note(bundle, fs.fingerprint)
    return data


def _padded_features(path: str, *, cfg: FeatureConfig) -> np.ndarray:
    """Worker: the model input of one file."""
    from animalsnd.cache import compute_features
    from animalsnd.features import fit_frames

    x, _ = compute_features(path, cfg=cfg)
    return fit_frames(x, frames=cfg.frames)


def folder_data(
    root: Path, cfg: FeatureConfig, classes: list[str], *, jobs: int = -1, progress: Progress | None = None
) -> EvalData:
    """Features of a raw folder-per-class directory, computed with ``cfg``."""
    from functools import partial

    return folder_inputs(root, classes, partial(_padded_features, cfg=cfg), empty_shape=cfg.shape,
                         jobs=jobs, progress=progress)


def eval_data(bundle, data=None, *, jobs: int = -1, progress: Progress | None = None) -> EvalData:
    """Log-Mel features for ``bundle``: its held-out fold (``data`` None), a prepared cache or a raw folder."""
    if data is None:
        return held_out_data(bundle)
    data = Path(data)
    if not data.exists():
        raise DatasetError(f"{data}: data folder does not exist")
    if is_cache(data):
        return cache_data(data, bundle)
    return folder_data(data, bundle.cfg, bundle.classes, jobs=jobs, progress=progress)


def _logmel_of(y: np.ndarray, cfg_json: str) -> np.ndarray:
    """Padded log-Mel features of waveform ``y`` on the FeatureConfig ``cfg_json`` (JSON: hashable)."""
    from animalsnd.features import logmel

    return logmel(y, cfg=FeatureConfig.from_dict(json.loads(cfg_json)), pad=True)


# ------------------------------------------------------------------ the family
class LogMelFamily:
    """The Keras classifiers of :mod:`animalsnd.models` on log-Mel features."""

    input_kind = "logmel"
    defaults = DEFAULTS
    recipes = RECIPES
    options = ("floor_shift",)
    revisions = {"alexnet-mel": 2}  # BatchNorm momentum 0.9 (was 0.99)
    model_options: dict = {}

    @property
    def models(self) -> tuple[str, ...]:
        from animalsnd import models

        return tuple(models.MODEL_NAMES)

    def check_config(self, config) -> None:
        pass

    def load_inputs(self, cache_dir, config, *, jobs: int = -1, progress=None):
        from animalsnd.cache import load_features

        return load_features(cache_dir)

    def inputs_like(self, fs, cache_dir, config, *, jobs: int = -1):
        return fs

    def train_fold(self, inputs, **kwargs):
        return train_fold(inputs, **kwargs)

    def check_input(self, section: dict) -> None:
        pass

    def load_model(self, path):
        from animalsnd.models import load_model

        return load_model(path)

    def eval_data(self, bundle, data=None, *, jobs: int = -1, progress=None) -> EvalData:
        return eval_data(bundle, data, jobs=jobs, progress=progress)

    def noisy_inputs(self, paths: Sequence[str], noise_dir, *, cfg, pool: str = "", **options):
        from animalsnd import robustness

        return robustness.noisy_features(paths, cfg, noise_dir, **options)

    def wave_input(self, cfg: FeatureConfig, pool: str = "mean"):
        from animalsnd.families import WaveInput

        return WaveInput(cfg.sr, _logmel_of, (json.dumps(cfg.to_dict(), sort_keys=True),))

    def recipe_notes(self, config) -> list[str]:
        return []

    def predictor(self, bundles: Sequence, *, runtime: str = "auto", threads: int | None = None):
        from animalsnd.families.logmel_runtime import Predictor

        return Predictor(bundles, runtime=runtime, threads=threads)


FAMILY = LogMelFamily()
