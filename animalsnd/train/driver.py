"""Train a model on a prepared cache: one held-out fold, or every fold in turn.

The driver knows the family registry, not the families: the inputs a model
trains on and how one fold is trained come from its family
(:mod:`animalsnd.families`); splits and the fit loop are the shared
:mod:`animalsnd.fitting`. The same seed gives the same folds, batches and,
on a CPU, the same metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsnd import families
from animalsnd.errors import AnimalsndError, ConfigError, DatasetError
from animalsnd.fitting import AugmentedData, EpochCallback, FoldResult, check_test_fold
from animalsnd.metrics import SUMMARY_KEYS, aggregate, classification_metrics
from animalsnd.train.config import TrainConfig

__all__ = ["TrainRun", "load_augmented_for", "load_inputs", "train", "train_fold", "train_fold_run"]


@dataclass
class TrainRun:
    """All folds of one ``train`` call."""

    config: TrainConfig
    classes: list[str]
    folds: list[FoldResult]
    cache_dir: Path
    out_dir: Path | None

    def summary(self) -> dict:
        """``{"folds": [...], "mean": {...}, "std": {...}}`` (the --json schema)."""
        rows = [f.summary() for f in self.folds]
        keys = (*SUMMARY_KEYS, "train_seconds")
        mean, std = aggregate(rows, keys=keys)
        return {"model": self.config.model, "folds": rows, "mean": mean, "std": std,
                "config": self.config.to_dict()}

    def pooled_metrics(self) -> dict:
        """Metrics of all held-out predictions together (out-of-fold)."""
        y_true = np.concatenate([f.y_true for f in self.folds])
        y_pred = np.concatenate([f.y_pred for f in self.folds])
        return classification_metrics(y_true, y_pred, classes=self.classes)


def load_augmented_for(cache_dir: Path, name: str, *, classes: list[str], shape) -> AugmentedData:
    """Read an augmented set made by ``animalsnd augment`` for this cache."""
    try:
        from animalsnd.augment.sets import load_augmented
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("animalsnd"):
            raise ConfigError(
                f"--augmented {name}: augmented sets are not available in this version"
            ) from None
        raise
    try:
        aug = load_augmented(cache_dir, name)
    except AnimalsndError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{cache_dir}: cannot read augmented set {name!r} ({exc})") from None
    X = np.asarray(aug.X, dtype=np.float32)
    if len(X) and X.shape[1:] != tuple(shape):
        raise DatasetError(
            f"augmented set {name!r} has features of shape {X.shape[1:]}, "
            f"the cache {tuple(shape)}; re-run augment"
        )
    labels = list(getattr(aug, "labels", None) or getattr(aug, "y_labels", []))
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DatasetError(f"augmented set {name!r} has classes not in the cache: {', '.join(unknown)}")
    y = np.array([classes.index(lab) for lab in labels], dtype=int)
    return AugmentedData(X=X, y=y, source_shas=list(aug.source_shas), name=name)


def train_fold(
    fs,
    *,
    config: TrainConfig,
    test_fold: int,
    out_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    augmented: AugmentedData | None = None,
    export_tflite: bool = False,
    on_epoch: EpochCallback | None = None,
) -> FoldResult:
    """Train on every fold but ``test_fold`` and score the held-out fold.

    Parameters
    ----------
    fs
        The model's inputs (:func:`load_inputs`): a :class:`~animalsnd.cache.FeatureSet`
        of log-Mel features, or the family's own set of the same rows.
    config : TrainConfig
    test_fold : int
        The fold held out for testing.
    out_dir : path, optional
        Where to save the bundle (nothing is saved when None).
    augmented : AugmentedData, optional
        Extra training copies; only those made from clips of this fold's
        training part are used.
    on_epoch : callable, optional
        Called with an :class:`~animalsnd.fitting.EpochStats` after each epoch.
    """
    return families.family(config.model).train_fold(
        fs, config=config, test_fold=test_fold, out_dir=out_dir, cache_dir=cache_dir, augmented=augmented,
        export_tflite=export_tflite, on_epoch=on_epoch)


def load_inputs(cache_dir: str | Path, config: TrainConfig, *, jobs: int = -1,
                progress: Callable[[int, int], None] | None = None):
    """What ``config.model`` trains on, read by its family from the cache: the log-Mel
    features (:class:`~animalsnd.cache.FeatureSet`), or the same rows as pooled BirdNET
    embeddings or clip descriptors (missing ones are computed with ``jobs`` workers,
    reporting ``progress``).
    """
    return families.family(config.model).load_inputs(Path(cache_dir), config, jobs=jobs, progress=progress)


def train(
    cache_dir: str | Path,
    out_dir: str | Path | None,
    *,
    config: TrainConfig,
    test_fold: int = 0,
    cv: bool = False,
    augmented: str | None = None,
    export_tflite: bool = False,
    on_epoch: EpochCallback | None = None,
    on_fold_end: Callable[[FoldResult], None] | None = None,
    on_start: Callable[[dict], None] | None = None,
    jobs: int = -1,
    on_embed: Callable[[int, int], None] | None = None,
    cv_jobs: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
) -> TrainRun:
    """Train on a prepared cache; with ``cv`` every fold is held out in turn.

    With ``cv`` one bundle per fold goes to ``out_dir/fold-<k>``; otherwise
    the bundle is ``out_dir`` itself. ``on_start`` receives a summary of the
    data once it is loaded and checked, ``on_epoch`` an :class:`EpochStats`
    per epoch and ``on_fold_end`` each :class:`FoldResult`. ``birdnet-head``
    first embeds the clips not embedded yet (``jobs`` workers, ``on_embed(done,
    total)``). With ``cv``, ``cv_jobs`` worker processes (or ``backend='dask'``
    and a ``scheduler``: one task per fold) train the folds at once
    (:mod:`animalsnd.runpool`): the same results, ``on_fold_end`` as each
    finishes and no ``on_epoch``.

    Raises
    ------
    DatasetError
        Missing or empty cache, empty test fold, unreadable augmented set.
    ConfigError
        Test fold out of range, bad options.
    """
    from animalsnd.runpool import pool_for

    cache_dir = Path(cache_dir)
    if backend == "dask" and not cv:
        raise ConfigError("--backend dask trains the folds of --cv; a single fold trains in this process")
    pool = pool_for(cv_jobs, backend, scheduler)
    fs = load_inputs(cache_dir, config, jobs=jobs, progress=on_embed)
    if len(fs.classes) < 2:
        raise DatasetError(f"{cache_dir}: need at least two classes, found {len(fs.classes)}")
    if not cv:
        check_test_fold(test_fold, fs.n_folds)
    out = Path(out_dir) if out_dir is not None else None
    if cv and out is not None and (out / "bundle.json").exists():
        raise ConfigError(f"{out} holds a single-fold bundle; choose another --out for --cv")
    if cv and out is not None:  # one run per folder: an earlier run's extra folds would be averaged in
        from animalsnd.bundle import remove_stale_folds

        remove_stale_folds(out, fs.n_folds)
    aug = None
    if augmented:
        aug = load_augmented_for(cache_dir, augmented, classes=fs.classes, shape=fs.cfg.shape)
    fold_ids = list(range(fs.n_folds)) if cv else [test_fold]
    if on_start is not None:
        on_start({"n_clips": len(fs), "classes": fs.classes, "n_folds": fs.n_folds, "folds": fold_ids,
                  "n_augmented": 0 if aug is None else len(aug.X)})
    results = []

    def finished(res: FoldResult) -> None:
        res.model = None  # free the model; the bundle has it
        results.append(res)
        if on_fold_end is not None:
            on_fold_end(res)

    if cv and pool.parallel and len(fold_ids) > 1:
        from animalsnd.runpool import run_many

        tasks = [(str(cache_dir), config, k, None if out is None else str(out / f"fold-{k}"), augmented,
                  export_tflite) for k in fold_ids]
        run_many(train_fold_run, tasks, pool, on_done=lambda i, res: finished(res), name=lambda i: f"fold {fold_ids[i]}")
        results.sort(key=lambda r: r.fold)
    else:
        if cv:  # the threads of a worker's run: the same results as --jobs N
            from animalsnd.runpool import bound_this_process

            bound_this_process()
        for k in fold_ids:
            fold_out = None if out is None else (out / f"fold-{k}" if cv else out)
            finished(train_fold(fs, config=config, test_fold=k, out_dir=fold_out, cache_dir=cache_dir,
                                augmented=aug, export_tflite=export_tflite, on_epoch=on_epoch))
    run = TrainRun(config=config, classes=fs.classes, folds=results, cache_dir=cache_dir, out_dir=out)
    if cv and out is not None:
        import json

        from animalsnd.fileutil import atomic_write_text

        atomic_write_text(out / "cv.json", json.dumps(run.summary(), indent=2) + "\n")
    return run


def train_fold_run(cache_dir: str, config, fold: int, out_dir: str | None, augmented: str | None,
                   export_tflite: bool):
    """One ``train --cv`` fold in a worker process; its bundle goes to ``out_dir`` (the model is not returned)."""
    from animalsnd.fitting import free_keras
    from animalsnd.runpool import cache_stamp, once

    cache = Path(cache_dir)
    stamp = cache_stamp(cache)
    fs = once(("inputs", cache_dir, stamp, config.model, config.pool), lambda: load_inputs(cache, config, jobs=1))
    aug = None
    if augmented:
        aug = once(("augmented", cache_dir, stamp, augmented),
                   lambda: load_augmented_for(cache, augmented, classes=fs.classes, shape=fs.cfg.shape))
    res = train_fold(fs, config=config, test_fold=fold, out_dir=out_dir, cache_dir=cache, augmented=aug,
                     export_tflite=export_tflite)
    res.model = None
    free_keras()
    return res
