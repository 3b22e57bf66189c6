"""Score trained bundles on held-out data, a prepared cache or a raw folder.

The core is :func:`evaluate_arrays` (a bundle and feature arrays in, metrics
out); everything else builds those arrays. Adding a perturbation (e.g. noise
at a given SNR) means computing other arrays and calling it again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.bundle import Bundle, find_bundles, load_bundle
from animalsnd.config import FeatureConfig
from animalsnd.errors import DatasetError
from animalsnd.labelmap import class_index, unmatched_note, using
from animalsnd.metrics import SUMMARY_KEYS, aggregate, classification_metrics, condition_summary

Progress = Callable[[int, int], None]
_MAX_LISTED = 10


@dataclass
class EvalData:
    """Labelled features ready for a bundle, and what could not be used.

    Attributes
    ----------
    X : np.ndarray, shape (n, frames, n_mels), float32
    y : np.ndarray, shape (n,), int
        Indices into the bundle's classes.
    paths : list of str
    source : str
        Human-readable origin ("held-out fold 2 of CACHE", a folder, ...).
    unknown : dict[str, int]
        Clips per label that is not one of the model's classes (not scored).
    failed : list of (path, reason)
        Files that could not be decoded (skipped).
    notes : list of str
        Other warnings about the data.
    """

    X: np.ndarray
    y: np.ndarray
    paths: list[str]
    source: str
    unknown: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = []
        if self.unknown:
            out.append(unmatched_note(self.unknown))
        for path, reason in self.failed[:_MAX_LISTED]:
            out.append(f"{path}: unreadable, skipped ({reason})")
        if len(self.failed) > _MAX_LISTED:
            out.append(f"... and {len(self.failed) - _MAX_LISTED} more unreadable file(s) skipped")
        return out + list(self.notes)


@dataclass
class ArrayEval:
    """A bundle's predictions on arrays and their metrics."""

    metrics: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray


def evaluate_arrays(bundle: Bundle, X: np.ndarray, y: np.ndarray, *, batch_size: int = 64) -> ArrayEval:
    """Predict ``X`` with ``bundle`` and score against ``y``.

    Parameters
    ----------
    bundle : Bundle
    X : np.ndarray, shape (n, frames, n_mels)
        Features made with ``bundle.cfg``.
    y : np.ndarray, shape (n,), int
        True class indices into ``bundle.classes``.
    """
    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        raise DatasetError("no clips to evaluate")
    proba = bundle.predict_proba(X, batch_size=batch_size)
    y_pred = proba.argmax(axis=1)
    return ArrayEval(classification_metrics(y, y_pred, classes=bundle.classes), y, y_pred, proba)


# ------------------------------------------------------------------ data
def is_cache(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "manifest.csv").is_file()


def _check_cfg(cache_cfg: FeatureConfig, bundle: Bundle, where: Path) -> None:
    if cache_cfg == bundle.cfg:
        return
    a, b = cache_cfg.to_dict(), bundle.cfg.to_dict()
    diff = ", ".join(f"{k}={a[k]} (model: {b[k]})" for k in a if a[k] != b[k])
    raise DatasetError(
        f"{where}: cache was built with other feature settings than the model ({diff}); "
        f"prepare it again with the model's settings or pass the raw folder"
    )


def _from_feature_set(fs, bundle: Bundle, rows: np.ndarray, source: str) -> EvalData:
    known = class_index(bundle.classes)
    labels = [fs.classes[fs.y[i]] for i in rows]
    keep = np.array([lab in known for lab in labels], dtype=bool)
    unknown = dict(Counter(lab for lab in labels if lab not in known))
    rows = rows[keep] if len(rows) else rows
    y = np.array([known[fs.classes[fs.y[i]]] for i in rows], dtype=int)
    return EvalData(X=fs.X[rows], y=y, paths=[fs.paths[i] for i in rows], source=source, unknown=unknown)


def _held_out_cache(bundle: Bundle) -> Path:
    """The cache a bundle's held-out fold is in (it must record one, and the cache must exist)."""
    cache_dir = bundle.cache_dir
    if cache_dir is None or not bundle.test_shas:
        raise DatasetError(f"{bundle.path}: the bundle records no held-out fold; pass --data")
    if not is_cache(cache_dir):
        raise DatasetError(f"{bundle.path}: its feature cache {cache_dir} is gone; pass --data")
    return cache_dir


def _missing_note(bundle: Bundle, found: int, cache_dir: Path) -> list[str]:
    missing = len(set(bundle.test_shas)) - found
    return [f"{missing} held-out clip(s) are no longer in {cache_dir}; scored the rest"] if missing else []


def _training_cache_note(bundle: Bundle, fingerprint: str) -> list[str]:
    trained_on = bundle.meta.get("data", {}).get("fingerprint")
    if trained_on and fingerprint == trained_on:
        return ["this cache holds the model's training clips, so the scores are optimistic; "
                "omit --data to score the held-out fold"]
    return []


def held_out_data(bundle: Bundle) -> EvalData:
    """The bundle's own test fold, rebuilt from the cache it was trained on."""
    from animalsnd.cache import load_features

    cache_dir = _held_out_cache(bundle)
    fs = load_features(cache_dir)
    _check_cfg(fs.cfg, bundle, cache_dir)
    wanted = set(bundle.test_shas)
    rows = np.array([i for i, s in enumerate(fs.shas) if s in wanted], dtype=int)
    data = _from_feature_set(fs, bundle, rows, f"held-out fold {bundle.test_fold} of {cache_dir}")
    data.notes += _missing_note(bundle, len(rows), cache_dir)
    return data


def cache_data(cache_dir: Path, bundle: Bundle) -> EvalData:
    """Every usable clip of a prepared cache (same feature settings required)."""
    from animalsnd.cache import load_features

    fs = load_features(cache_dir)
    _check_cfg(fs.cfg, bundle, cache_dir)
    data = _from_feature_set(fs, bundle, np.arange(len(fs)), str(cache_dir))
    data.notes += _training_cache_note(bundle, fs.fingerprint)
    return data


def store_data(bundle: Bundle, data: Path | None, *, ensure: Callable, read: Callable[[Path, str], np.ndarray],
               dim: int, jobs: int = -1, progress: Progress | None = None) -> EvalData:
    """Per-clip vectors (embeddings, descriptors) of a cache's store, for a model that takes them.

    ``data`` None: the bundle's held-out fold of the cache it was trained on;
    else every usable clip of the prepared cache ``data``. ``ensure(cache,
    rows=, jobs=, progress=)`` fills the store and returns ``(store, ...)``;
    ``read(store, sha)`` gives one clip's ``(dim,)`` vector.
    """
    from animalsnd.cache import read_config, usable_rows

    cache = _held_out_cache(bundle) if data is None else Path(data)
    rows = usable_rows(cache)
    if data is None:
        wanted = set(bundle.test_shas)
        rows = [r for r in rows if r["sha256"] in wanted]
        source, notes = f"held-out fold {bundle.test_fold} of {cache}", _missing_note(bundle, len(rows), cache)
    else:
        source, notes = str(cache), _training_cache_note(bundle, read_config(cache).get("fingerprint", ""))
    known = class_index(bundle.classes)
    unknown = dict(Counter(r["label"] for r in rows if r["label"] not in known))
    rows = [r for r in rows if r["label"] in known]
    X = np.zeros((0, dim), np.float32)
    if rows:
        store = ensure(cache, rows=rows, jobs=jobs, progress=progress)[0]
        X = np.stack([read(store, r["sha256"]) for r in rows]).astype(np.float32)
    return EvalData(X=X, y=np.array([known[r["label"]] for r in rows], dtype=int),
                    paths=[r["path"] for r in rows], source=source, unknown=unknown, notes=notes)


def _padded_features(path: str, *, cfg: FeatureConfig) -> np.ndarray:
    """Worker: the model input of one file."""
    from animalsnd.cache import compute_features
    from animalsnd.features import fit_frames

    x, _ = compute_features(path, cfg=cfg)
    return fit_frames(x, frames=cfg.frames)


def folder_inputs(root: Path, classes: list[str], compute: Callable, *, empty_shape: tuple[int, ...],
                  to_input: Callable | None = None, jobs: int = -1, progress: Progress | None = None) -> EvalData:
    """Model inputs of a raw folder-per-class directory.

    ``compute(path)`` (a module-level function or a partial of one: it runs
    in worker processes) gives one file's result, ``to_input`` turns it into
    the model input (identity by default). Folders of other classes are
    counted, unreadable files listed with their reason.
    """
    from animalsnd.cache import compute_paths
    from animalsnd.dataset import discover

    recs = discover(root)
    known = class_index(classes)
    unknown = dict(Counter(r.label for r in recs if r.label not in known))
    recs = [r for r in recs if r.label in known]
    results = compute_paths(compute, [str(r.path) for r in recs], jobs=jobs, progress=progress)
    X, y, paths, failed = [], [], [], []
    for rec, res in zip(recs, results):
        value, reason = res if isinstance(res, tuple) else (None, getattr(res, "error", "failed"))
        if value is None:
            failed.append((rec.relpath, reason))
            continue
        X.append(value if to_input is None else to_input(value))
        y.append(known[rec.label])
        paths.append(str(rec.path))
    Xa = np.stack(X).astype(np.float32, copy=False) if X else np.zeros((0, *empty_shape), dtype=np.float32)
    return EvalData(X=Xa, y=np.array(y, dtype=int), paths=paths, source=str(root), unknown=unknown, failed=failed)


def folder_data(
    root: Path, cfg: FeatureConfig, classes: list[str], *, jobs: int = -1, progress: Progress | None = None
) -> EvalData:
    """Features of a raw folder-per-class directory, computed with ``cfg``."""
    from functools import partial

    return folder_inputs(root, classes, partial(_padded_features, cfg=cfg), empty_shape=cfg.shape,
                         jobs=jobs, progress=progress)


def load_data(
    bundle: Bundle, data: str | Path | None = None, *, jobs: int = -1, progress: Progress | None = None
) -> EvalData:
    """The evaluation set for ``bundle``: held-out fold, a cache, or a folder.

    Raises
    ------
    DatasetError
        Missing data, a cache with other feature settings, nothing to score.
    """
    if data is not None and not Path(data).exists():
        raise DatasetError(f"{data}: data folder does not exist")
    if bundle.kind == "birdnet":  # pooled BirdNET embeddings instead of log-Mel features
        from animalsnd.heads.birdnet_head import eval_data

        out = eval_data(bundle, data, jobs=jobs, progress=progress)
    elif bundle.kind == "stats":  # clip descriptors instead of log-Mel features
        from animalsnd.heads.stats_head import eval_data as stats_eval_data

        out = stats_eval_data(bundle, data, jobs=jobs, progress=progress)
    elif data is None:
        out = held_out_data(bundle)
    else:
        data = Path(data)
        if not data.exists():
            raise DatasetError(f"{data}: data folder does not exist")
        if is_cache(data):
            out = cache_data(data, bundle)
        else:
            out = folder_data(data, bundle.cfg, bundle.classes, jobs=jobs, progress=progress)
    if len(out.y) == 0:
        if out.failed:
            path, reason = out.failed[0]
            raise DatasetError(
                f"{out.source}: none of the {len(out.failed)} file(s) of the model's classes could be read "
                f"(first: {path}: {reason})"
            )
        raise DatasetError(f"{out.source}: no clips of the model's classes to evaluate")
    return out


# ------------------------------------------------------------------ reports
@dataclass
class BundleEval:
    """One bundle scored on one data set."""

    path: Path
    fold: int | None
    result: ArrayEval
    data: EvalData

    def summary(self) -> dict:
        return {"fold": self.fold, "path": str(self.path),
                **{k: self.result.metrics[k] for k in SUMMARY_KEYS}, "n": self.result.metrics["n"]}


@dataclass
class EvalReport:
    """The scores of a model folder: one bundle, or every fold of a CV run."""

    model_dir: Path
    classes: list[str]
    runs: list[BundleEval]
    averaged: int = 0  # fold models averaged into the one run (``--data`` on a --cv folder)

    @property
    def is_cv(self) -> bool:
        return len(self.runs) > 1

    @property
    def metrics(self) -> dict:
        """Metrics of all predictions together (out-of-fold for a CV run)."""
        if not self.is_cv:
            return self.runs[0].result.metrics
        y_true = np.concatenate([r.result.y_true for r in self.runs])
        y_pred = np.concatenate([r.result.y_pred for r in self.runs])
        return classification_metrics(y_true, y_pred, classes=self.classes)

    def warnings(self) -> list[str]:
        seen, out = set(), []
        for r in self.runs:
            for w in r.data.warnings():
                if w not in seen:
                    seen.add(w)
                    out.append(w)
        return out

    def summary(self) -> dict:
        """JSON: accuracy, macro/weighted F1, n, per_class (+ folds, mean, std; or
        fold_models_averaged for the fold average of a --cv folder)."""
        m = self.metrics
        out = {k: m[k] for k in (*SUMMARY_KEYS, "n", "per_class", "confusion")}
        out = {"model_dir": str(self.model_dir), "classes": self.classes, **out}
        if self.averaged:
            out["fold_models_averaged"] = self.averaged
        if self.is_cv:
            rows = [r.summary() for r in self.runs]
            mean, std = aggregate(rows)
            out.update(folds=rows, mean=mean, std=std)
        return out


def evaluate(
    model_dir: str | Path,
    *,
    data: str | Path | None = None,
    jobs: int = -1,
    batch_size: int = 64,
    progress: Progress | None = None,
    label_map: dict[str, str] | None = None,
) -> EvalReport:
    """Score the bundle(s) in ``model_dir``.

    Without ``data`` each bundle is scored on its own held-out fold; with
    ``data`` (a prepared cache or a raw folder-per-class directory) the
    bundle is scored on all of it; the folds of a ``--cv`` folder are then
    averaged into one model, as ``predict`` does (one score per clip), unless
    ``data`` is their own cache, where each fold keeps its held-out fold.
    ``label_map`` ({folder: class}, :mod:`animalsnd.labelmap`) scores the
    clips of other folder names as one of the model's classes.

    Raises
    ------
    BundleError
        No bundle, or a corrupt one.
    DatasetError
        Missing or unusable data.
    """
    model_dir = Path(model_dir)
    bundles = [load_bundle(p) for p in find_bundles(model_dir)]
    classes = bundles[0].classes
    if any(b.classes != classes for b in bundles):
        from animalsnd.errors import BundleError

        raise BundleError(f"{model_dir}: the fold bundles have different classes")
    if label_map:
        from animalsnd.labelmap import check_map

        check_map(label_map, classes)
    folds = len(bundles)
    if data is not None and folds > 1:  # new data: the fold average predict uses (animalsnd.ensemble)
        from animalsnd.ensemble import FoldAverage, own_cache

        if own_cache(bundles, data):
            data = None
        else:
            bundles = [FoldAverage(bundles, model_dir)]
    shared: dict[str, EvalData] = {}
    runs = []
    for b in bundles:
        if data is None:
            d = load_data(b, None)
        else:
            key = b.cfg.hash() if b.kind == "logmel" else json.dumps(b.meta["input"], sort_keys=True)
            if key not in shared:
                with using(label_map):
                    shared[key] = load_data(b, data, jobs=jobs, progress=progress)
            d = shared[key]
        runs.append(BundleEval(b.path, b.test_fold, evaluate_arrays(b, d.X, d.y, batch_size=batch_size), d))
        b._model = None  # free memory between folds
    return EvalReport(model_dir=model_dir, classes=classes, runs=runs, averaged=folds if len(runs) < folds else 0)


# ------------------------------------------------------------------ noise
@dataclass
class NoiseReport:
    """Scores of every bundle of a report, clean and with noise at each SNR.

    ``scores[label][i]`` holds accuracy, macro and weighted F1 of run ``i``;
    the labels are ``"clean"`` and the SNRs (``"20"``, ``"-5"``, ...).
    """

    noise_dir: Path
    snrs: list[float]
    scores: dict[str, list[dict]]
    n_noises: int
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict:
        """``{"clean": {...}, "20": {...}, ...}``: each holds accuracy, macro_f1,
        weighted_f1 (the mean over fold models for a CV folder) and, for a CV
        folder, ``std`` and ``folds``."""
        return condition_summary(self.scores)


def snr_key(snr: float) -> str:
    """JSON key of an SNR: ``10.0`` -> ``"10"``, ``-2.5`` -> ``"-2.5"``."""
    return f"{float(snr):g}"


def _input_key(bundle) -> tuple:
    """What decides a bundle's inputs: bundles with equal keys share noisy inputs."""
    if bundle.kind == "logmel":
        return ("logmel", bundle.cfg.hash())
    return (bundle.kind, json.dumps(bundle.meta["input"], sort_keys=True))


def evaluate_noise(
    report: EvalReport,
    noise_dir: str | Path,
    *,
    snrs: list[float],
    seed: int = 0,
    jobs: int = -1,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> NoiseReport:
    """Score each bundle of ``report`` again with background noise at every SNR.

    The noise is mixed into each evaluated clip's waveform with the calibrated
    method (:func:`animalsnd.robustness.noisy_inputs`, SNR against the
    call's active level); clip ``i`` gets the same noise segment at every SNR.
    Log-Mel models see the noisy clip's features; ``birdnet-head`` its pooled
    BirdNET embedding, ``stats-mlp`` its descriptor.
    Clips shared by several bundles (``--data``) are mixed once per SNR.

    Raises
    ------
    ConfigError
        An empty SNR list or a non-finite SNR.
    DatasetError
        No usable noise in ``noise_dir``.
    AudioError
        An evaluated clip's audio can no longer be read.
    """
    from animalsnd.augment.noisebank import load_noise_bank
    from animalsnd.ensemble import load_model
    from animalsnd.errors import ConfigError
    from animalsnd.robustness import noisy_inputs

    snrs = [float(s) for s in snrs]
    if not snrs:
        raise ConfigError("--snr needs at least one value, like 20,10,5,0")
    dup = sorted({snr_key(s) for s in snrs if snrs.count(s) > 1})
    if dup:
        raise ConfigError(f"--snr lists {', '.join(dup)} dB more than once")
    bundles = [load_model(r.path) for r in report.runs]
    bank = load_noise_bank(noise_dir, sr=bundles[0].cfg.sr)
    scores: dict[str, list[dict]] = {"clean": [{k: r.result.metrics[k] for k in SUMMARY_KEYS}
                                               for r in report.runs]}
    for s in snrs:
        scores[snr_key(s)] = []
    total = len(snrs) * len({(id(r.data), _input_key(b)) for r, b in zip(report.runs, bundles)})
    noisy: dict[tuple, np.ndarray] = {}  # (data, model input, snr) -> inputs
    done = 0
    for i, (run, b) in enumerate(zip(report.runs, bundles)):
        for s in snrs:
            key = (id(run.data), _input_key(b), s)
            if key not in noisy:
                noisy[key] = noisy_inputs(run.data.paths, b, noise_dir, snr_db=s, seed=seed, jobs=jobs)
                done += 1
                if progress is not None:
                    progress(done, total)
            res = evaluate_arrays(b, noisy[key], run.data.y, batch_size=batch_size)
            scores[snr_key(s)].append({k: res.metrics[k] for k in SUMMARY_KEYS})
        b._model = None
        later = {id(r.data) for r in report.runs[i + 1:]}
        for key in [k for k in noisy if k[0] not in later]:
            del noisy[key]  # no later bundle scores these clips
    return NoiseReport(noise_dir=Path(noise_dir), snrs=snrs, scores=scores, n_noises=len(bank),
                       skipped=list(bank.skipped))
