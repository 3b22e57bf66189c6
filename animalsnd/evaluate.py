"""Score trained bundles on held-out data, a prepared cache or a raw folder.

The core is :func:`evaluate_arrays` (a bundle and feature arrays in, metrics
out); everything else builds those arrays. Adding a perturbation (e.g. noise
at a given SNR) means computing other arrays and calling it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd import families
from animalsnd.bundle import Bundle
from animalsnd.errors import DatasetError
from animalsnd.inputs import EvalData, Progress, is_cache  # noqa: F401  (is_cache: re-exported)
from animalsnd.labelmap import no_match_message, using
from animalsnd.metrics import SUMMARY_KEYS, aggregate, classification_metrics, condition_summary


@dataclass
class ArrayEval:
    """A bundle's predictions on arrays and their metrics."""

    metrics: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray
    weights: dict[str, float] | None = None  # adapt: each class's weight for these clips (animalsnd.priors)


def evaluate_arrays(bundle: Bundle, X: np.ndarray, y: np.ndarray, *, batch_size: int = 64,
                    animals_only: bool = False, adapt: bool = False, name_clips: bool = True) -> ArrayEval:
    """Predict ``X`` with ``bundle`` and score against ``y``.

    Parameters
    ----------
    bundle : Bundle
    X : np.ndarray, shape (n, frames, n_mels)
        Features made with ``bundle.cfg``.
    y : np.ndarray, shape (n,), int
        True class indices into ``bundle.classes``.
    animals_only : bool
        For a model with a ``background`` class: each clip's prediction is its most likely
        animal class (background never chosen), as ``predict --per-file`` names clips.
    adapt : bool
        Weigh the classes by their estimated share of these clips (:mod:`animalsnd.priors`),
        as ``predict --per-file`` does for a folder.
    name_clips : bool
        The probabilities with which the model names a clip, as ``predict --per-file`` does:
        for a ``birdnet-head`` with the background class, BirdNET's own score for the classes
        it knows among the animal classes (:mod:`animalsnd.families.birdnet_naming`). False:
        the model's window probabilities (what the calibration is fitted on).
    """
    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        raise DatasetError("no clips to evaluate")
    proba = bundle.predict_proba(X, batch_size=batch_size)
    naming = families.clip_naming(bundle) if name_clips else None
    if naming is not None:
        proba = naming.apply(X, proba)
    y_pred, weights = _choice(proba, bundle.classes, animals_only, adapt,
                              strength=families.folder_strength(bundle.meta))
    return ArrayEval(classification_metrics(y, y_pred, classes=bundle.classes), y, y_pred, proba, weights)


def _choice(proba: np.ndarray, classes: list[str], animals_only: bool, adapt: bool = False, *,
            strength: float | None = None) -> tuple[np.ndarray, dict[str, float] | None]:
    """Each row's most likely class (never ``background`` with ``animals_only``) and, with
    ``adapt``, the weights of the classes chosen among at ``strength`` (None:
    :data:`animalsnd.priors.STRENGTH`; None for too few rows)."""
    from animalsnd.background import BACKGROUND

    among = np.arange(len(classes))
    if animals_only and BACKGROUND in classes:
        among = among[among != classes.index(BACKGROUND)]
    p = np.asarray(proba, dtype=np.float64)[:, among]
    from animalsnd.priors import MIN_CLIPS, STRENGTH, folder_weights

    if not adapt or len(p) < MIN_CLIPS:
        return among[p.argmax(axis=1)], None
    w = folder_weights(p, strength=STRENGTH if strength is None else strength)
    return among[(p * w).argmax(axis=1)], {classes[j]: float(x) for j, x in zip(among, w)}


def animal_clips_only(classes: list[str], y: np.ndarray) -> bool:
    """Whether ``eval`` scores these labels as a choice among the animal classes: the model
    has a ``background`` class and none of the clips is labelled background (a folder of
    clips each holding a call, scored as ``predict --per-file`` names them)."""
    from animalsnd.background import BACKGROUND

    return BACKGROUND in classes and not np.any(np.asarray(y) == classes.index(BACKGROUND))


# ------------------------------------------------------------------ data
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
    # the model's own inputs (log-Mel features, embeddings, descriptors): its family's
    out = families.for_bundle(bundle).eval_data(bundle, data, jobs=jobs, progress=progress)
    if len(out.y) == 0:
        if out.failed:
            path, reason = out.failed[0]
            raise DatasetError(
                f"{out.source}: none of the {len(out.failed)} file(s) of the model's classes could be read "
                f"(first: {path}: {reason})"
            )
        if out.unknown:
            root = data if data is not None and Path(data).is_dir() else None
            raise DatasetError(no_match_message(out.source, out.unknown, bundle.classes, root))
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
    animals_only: bool = False  # background never chosen (:func:`animal_clips_only`)
    adapt: bool = False  # classes weighted by their share of the data (animalsnd.priors)

    @property
    def folder_weights(self) -> dict[str, float] | None:
        """With :attr:`adapt`: each class's weight for the scored clips (None: too few clips)."""
        return self.runs[0].result.weights if self.adapt else None  # adapted: new data, one run

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

    def animal_only(self) -> dict | None:
        """For a model with a ``background`` class: the animal clips scored as a choice among the
        animal classes only (background never chosen), out-of-fold under a CV run.

        ``None`` when the model has no background class or the data no animal clip. Besides
        the metrics (``accuracy``, ``macro_f1``, ``weighted_f1``, ``n``, ``per_class``):
        ``called_background``, the animal clips the model as it is calls background (each one
        an error in the main figures unless :attr:`animals_only`, and what ``predict`` would
        not report window by window) and ``accuracy_with_background``, the animal clips'
        accuracy with background allowed (those clips wrong)."""
        from animalsnd.background import BACKGROUND, without_background

        if BACKGROUND not in self.classes:
            return None
        bg = self.classes.index(BACKGROUND)
        y = np.concatenate([r.result.y_true for r in self.runs])
        proba = np.concatenate([r.result.proba for r in self.runs])
        animal = y != bg
        if not animal.any():
            return None
        y_a = y[animal] - (y[animal] > bg)  # class ids with background's column removed
        p_a, animals = without_background(proba[animal], self.classes)
        m = classification_metrics(y_a, p_a.argmax(axis=1), classes=animals)
        out = {k: m[k] for k in (*SUMMARY_KEYS, "n", "per_class")}
        as_is = proba[animal].argmax(axis=1)
        out["called_background"] = int(np.sum(as_is == bg))
        out["accuracy_with_background"] = float(np.mean(as_is == y[animal]))
        return out

    def clip_rows(self, top_k: int = 3) -> list[dict]:
        """One row per scored clip (out-of-fold under a CV run), in the data's order: ``path``,
        ``fold`` (the bundle's held-out fold; empty for new data), ``label``, ``predicted``,
        ``confidence``, ``correct``, ``top`` (``label:probability`` pairs, best first) and, for a
        model with a background class, ``animal_predicted`` and ``animal_confidence`` (its best
        animal class)."""
        from animalsnd.background import BACKGROUND

        bg = self.classes.index(BACKGROUND) if BACKGROUND in self.classes else None
        rows = []
        for r in self.runs:
            fold = "" if r.fold is None or self.averaged else r.fold
            for path, t, pred, proba in zip(r.data.paths, r.result.y_true, r.result.y_pred, r.result.proba):
                order = np.argsort(-proba, kind="stable")
                row = {"path": path, "fold": fold, "label": self.classes[int(t)],
                       "predicted": self.classes[int(pred)], "confidence": round(float(proba[pred]), 4),
                       "correct": int(pred == t),
                       "top": ";".join(f"{self.classes[int(j)]}:{proba[j]:.4f}" for j in order[:top_k])}
                if bg is not None:
                    best = next(int(j) for j in order if j != bg)
                    row.update(animal_predicted=self.classes[best], animal_confidence=round(float(proba[best]), 4))
                rows.append(row)
        return rows

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
        fold_models_averaged for the fold average of a --cv folder; animal_classes_only for a
        model with a background class, :meth:`animal_only`)."""
        m = self.metrics
        out = {k: m[k] for k in (*SUMMARY_KEYS, "n", "per_class", "confusion")}
        out = {"model_dir": str(self.model_dir), "classes": self.classes, **out}
        animal = self.animal_only()
        if animal is not None:
            out["animal_classes_only"] = animal
        if self.animals_only:
            out["background_never_chosen"] = True
        if self.folder_weights is not None:
            r = self.runs[0].result
            plain, _ = _choice(r.proba, self.classes, self.animals_only)
            m0 = classification_metrics(r.y_true, plain, classes=self.classes)
            out["folder_weights"] = self.folder_weights
            out["without_adapting"] = {k: m0[k] for k in (*SUMMARY_KEYS, "n")}
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
    allow_background: bool = False,
    adapt: bool = True,
    name_clips: bool = True,
) -> EvalReport:
    """Score the bundle(s) in ``model_dir``.

    Without ``data`` each bundle is scored on its own held-out fold; with
    ``data`` (a prepared cache or a raw folder-per-class directory) the
    bundle is scored on all of it; the folds of a ``--cv`` folder are then
    averaged into one model, as ``predict`` does (one score per clip), unless
    ``data`` is their own cache, where each fold keeps its held-out fold.
    ``label_map`` ({folder: class}, :mod:`animalsnd.labelmap`) scores the
    clips of other folder names as one of the model's classes. For a model with a
    ``background`` class on ``data`` with no background clip, each clip is scored as its
    most likely animal (:func:`animal_clips_only`; ``predict --per-file``'s default) unless
    ``allow_background``. On ``data`` the classes are weighted by their estimated share of
    its clips (:mod:`animalsnd.priors`, as ``predict --per-file`` does; a model trained with
    class weights) unless not ``adapt``. ``name_clips``: see :func:`evaluate_arrays`.

    Raises
    ------
    BundleError
        No bundle, or a corrupt one.
    DatasetError
        Missing or unusable data.
    """
    model_dir = Path(model_dir)
    bundles = families.open_bundles(model_dir)
    classes = bundles[0].classes
    if any(b.classes != classes for b in bundles):
        from animalsnd.errors import BundleError

        raise BundleError(f"{model_dir}: the fold bundles have different classes")
    if label_map:
        from animalsnd.labelmap import check_map

        label_map = check_map(label_map, classes)
    folds = len(bundles)
    trained_by = list(bundles)  # the fold bundles themselves, before any averaging
    if data is not None and folds > 1:  # new data: the fold average predict uses (animalsnd.ensemble)
        from animalsnd.ensemble import FoldAverage, own_cache

        if own_cache(bundles, data):
            data = None
        else:
            bundles = [FoldAverage(bundles, model_dir)]
    shared: dict[str, EvalData] = {}
    runs = []
    animals_only = False
    from animalsnd.priors import answers_evenly

    adapt = adapt and data is not None and answers_evenly(bundles[0].meta)
    for b in bundles:
        if data is None:
            d = load_data(b, None)
        else:
            key = _input_key(b)
            if key not in shared:
                with using(label_map):
                    shared[key] = load_data(b, data, jobs=jobs, progress=progress)
                if not is_cache(Path(data)):  # a raw folder: files the model was trained on?
                    from animalsnd.inputs import training_overlap_note

                    shared[key].notes += training_overlap_note(trained_by, shared[key].paths)
            d = shared[key]
            # new data (one run, or folds sharing it): a folder of animal clips names an animal each
            animals_only = not allow_background and animal_clips_only(classes, d.y)
        res = evaluate_arrays(b, d.X, d.y, batch_size=batch_size, animals_only=animals_only, adapt=adapt,
                              name_clips=name_clips)
        runs.append(BundleEval(b.path, b.test_fold, res, d))
        b._model = None  # free memory between folds
    return EvalReport(model_dir=model_dir, classes=classes, runs=runs, averaged=folds if len(runs) < folds else 0,
                      animals_only=animals_only, adapt=adapt)


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


def _input_key(bundle) -> str:
    """What decides a bundle's inputs (its ``input`` section): bundles with equal keys share them."""
    return json.dumps(bundle.meta["input"], sort_keys=True)


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
    method (:func:`animalsnd.families.noisy_inputs`, SNR against the
    call's active level); clip ``i`` gets the same noise segment at every SNR.
    Each model sees its own inputs of the noisy clip: log-Mel features, a
    pooled BirdNET embedding or a descriptor.
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
                noisy[key] = families.noisy_inputs(run.data.paths, b, noise_dir, snr_db=s, seed=seed, jobs=jobs)
                done += 1
                if progress is not None:
                    progress(done, total)
            res = evaluate_arrays(b, noisy[key], run.data.y, batch_size=batch_size, animals_only=report.animals_only,
                                  adapt=report.adapt)
            scores[snr_key(s)].append({k: res.metrics[k] for k in SUMMARY_KEYS})
        b._model = None
        later = {id(r.data) for r in report.runs[i + 1:]}
        for key in [k for k in noisy if k[0] not in later]:
            del noisy[key]  # no later bundle scores these clips
    return NoiseReport(noise_dir=Path(noise_dir), snrs=snrs, scores=scores, n_noises=len(bank),
                       skipped=list(bank.skipped))
