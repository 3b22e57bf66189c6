"""``--model birdnet-head``: a small classifier on pooled BirdNET embeddings.

Pipeline per clip: 48 kHz audio -> its active region (:mod:`animalsnd.trim`) ->
3-s windows -> BirdNET V2.4 (frozen; each window embedded as recorded and at
double speed, 2048-d per window, cached by :mod:`animalsnd.embeddings`) ->
pooled over the clip's windows (``--pool``, default ``meanmax``: mean and
maximum concatenated, 4096-d) -> the head::

    embedding (d) -> standardise (mean/variance of the training split, stored
                     in the model) -> GaussianNoise (training only)
                  [-> Dense(hidden, relu)] -> Dropout -> Dense(n_classes, softmax)

By default ``hidden=0``: a linear (multinomial logistic) head, which beat a
256-unit hidden layer by 1.7 points in 5-fold CV on animal-sounds-10
(docs/results.md); ``--model-option hidden=256`` restores the hidden layer.
It is trained like a logistic regression: an L2 penalty on the weights
(``l2``), no noise or dropout, every training clip, a fixed number of epochs
(0.959 against 0.951 for noise 0.3 / dropout 0.5 with early stopping).

Augmentation happens in embedding space, on training batches only: Gaussian
noise on the standardised embedding (``noise``, off by default) and, with ``--mixup``, mixup
of pooled embeddings and their labels; ``--augmented`` adds an augment set's noisy
copies, re-rendered from its manifest and embedded (:mod:`animalsnd.augment.vectors`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animalsnd import fitting as F
from animalsnd.backbones import birdnet
from animalsnd.errors import ConfigError
from animalsnd.families.birdnet_predict import check_backbone
from animalsnd.families.vector_head import VectorFamily, dense_head, fit_vector_head, standardiser

__all__ = ["DEFAULT_POOL", "FAMILY", "build_head", "check_backbone", "eval_data", "input_meta", "standardiser",
           "train_fold"]

DEFAULT_POOL = "meanmax"  # 5-fold CV on animal-sounds-10, docs/results.md
HIDDEN = 0  # linear head (5-fold CV on animal-sounds-10, docs/results.md)
DROPOUT = 0.0
NOISE = 0.0  # stddev of the Gaussian noise on the standardised embedding (training only)
# L2 penalty on the weights: 1 / (2 C n) of a logistic regression with C = 0.1 on n = 660 clips
L2 = 0.0076
# 1: every 3-s segment of a multi-segment training clip is also a training row of its own
# (pooled alone, as predict sees a window of a long recording), labelled with its clip's label
SEGMENTS = 0
# weight of BirdNET's own score for a class it knows by name (animalsnd.backbones.birdnet_labels),
# added to that class's logit, standardised on the training clips; 0: off; None: KNOWN, or
# KNOWN_BACKGROUND for a model with the background class. Across sources 3 scored best of 0-3.
# On field-like soundscapes it costs a detector (noisy windows of other animals are named dog),
# so a model with the "no animal" class adds it only when it names a clip, among the animal
# classes (animalsnd.families.birdnet_naming; docs/results.md, "BirdNET's own score")
KNOWN = 3.0
KNOWN_BACKGROUND = 3.0
_AUG_MSG = "--augmented needs the cache the set was built on"
_SETS: dict[tuple[str, str], object] = {}  # (cache, pool) -> EmbeddingSet, for repeated folds


def build_head(dim: int, n_classes: int, *, mean: np.ndarray, variance: np.ndarray, hidden: int = HIDDEN,
               dropout: float = DROPOUT, noise: float = NOISE, l2: float = L2, name: str = "birdnet_head",
               input_name: str = "embedding"):
    """The head as a named ``keras.Model``: ``(batch, dim)`` -> ``(batch, n_classes)``
    (:func:`animalsnd.families.vector_head.dense_head` with this model's defaults)."""
    return dense_head(dim, n_classes, mean=mean, variance=variance, hidden=hidden, dropout=dropout, noise=noise,
                      l2=l2, name=name, input_name=input_name)


def input_meta(es) -> dict:
    """The bundle's ``input`` section for a head trained on ``es``."""
    from animalsnd.trim import TRIM

    return {"kind": "birdnet", "backbone": es.backbone, "pool": es.pool, "dim": int(es.X.shape[1]),
            "sr": birdnet.BIRDNET_SR, "window_s": birdnet.WINDOW_S, "hop_s": birdnet.WINDOW_S,
            "min_tail_s": birdnet.MIN_TAIL_S, "trim": TRIM, "feature": es.cfg.to_dict()}


def embedding_set_for(cache_dir, pool: str, *, jobs: int = -1, progress=None):
    """The cache's pooled embeddings (memoised per cache and pool)."""
    from animalsnd.embeddings import load_embedding_set

    key = (str(Path(cache_dir).resolve()), pool)
    if key not in _SETS:
        _SETS.clear()
        _SETS[key] = load_embedding_set(cache_dir, pool=pool, jobs=jobs, progress=progress)
    return _SETS[key]


def train_fold(fs, *, config, test_fold: int, out_dir=None, cache_dir=None, augmented=None,
               export_tflite: bool = False, on_epoch=None):
    """Train the head on every fold but ``test_fold``; same contract as :func:`animalsnd.train.train_fold`.

    ``fs`` is an :class:`~animalsnd.embeddings.EmbeddingSet`, or a log-Mel
    feature set of ``cache_dir`` (its embeddings are then loaded).
    """
    from animalsnd.embeddings import EmbeddingSet

    if not isinstance(fs, EmbeddingSet):
        if cache_dir is None:
            raise ConfigError("birdnet-head trains on BirdNET embeddings: pass the cache folder")
        fs = embedding_set_for(cache_dir, config.pool)
    elif fs.pool != config.pool:
        fs = fs.repool(config.pool)
    return fit_vector_head(fs, config=config, test_fold=test_fold, input_meta=input_meta(fs),
                           defaults=FAMILY.model_options,
                           name="birdnet_head", input_name="embedding", augmented=augmented, aug_msg=_AUG_MSG,
                           out_dir=out_dir, cache_dir=cache_dir, export_tflite=export_tflite, on_epoch=on_epoch,
                           copies=copy_embeddings(cache_dir or fs.cache_dir, augmented, config.pool, fs.cfg.fmax),
                           extra_rows=lambda train, opts: segment_rows(fs, train, opts["segments"]),
                           train_options=("segments", "known"),
                           sidecar=lambda train, copies, extra: side_files(fs, train, copies, extra, config.seed),
                           logit_terms=lambda X, opts: known_class_terms(list(fs.classes), X, opts["known"]),
                           clip_naming=lambda meta: _naming(meta, list(fs.classes)))


def _naming(meta: dict, classes: list[str]):
    from animalsnd.families.birdnet_naming import SCOPE, known_term

    section = meta.get("known_classes") or {}
    return known_term([section], classes) if section.get("scope") == SCOPE else None


def known_class_terms(classes: list[str], X: np.ndarray, weight) -> tuple | None:
    """For the classes BirdNET knows by name (:func:`animalsnd.backbones.birdnet_labels.match`),
    BirdNET's own score for it, standardised on the training clips ``X`` and times ``weight``,
    as a term added to the class's logit: ``(A, c, meta)`` for
    :func:`animalsnd.families.vector_head.add_logit_terms`, or None (no such class, or
    ``weight`` 0). With a ``background`` class ``A`` and ``c`` are None: the logits do not carry
    the score, which is added only when the model names a clip
    (:mod:`animalsnd.families.birdnet_naming`; ``meta`` says how, ``"scope": "clips"``).

    The score is BirdNET's last layer applied to the first 1024 values of the pooled input (the
    mean of the clip's windows as recorded; their maximum with ``--pool max``), so it is a
    linear function of the head's input and the saved head carries it. The weight is on the
    standardised score, so ``known`` 1 moves the class's logit by one for a clip one standard
    deviation (over the training clips) above their mean score."""
    from animalsnd.background import BACKGROUND
    from animalsnd.backbones import birdnet_labels

    if weight is None:
        weight = KNOWN_BACKGROUND if BACKGROUND in classes else KNOWN
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 10:
        raise ConfigError(f"known={weight!r} must be a number from 0 (off) to 10")
    weight = float(weight)
    if not weight or X.shape[1] < birdnet.EMBED_DIM:
        return None
    matched = birdnet_labels.match([c for c in classes if c != BACKGROUND])
    if not matched:
        return None
    from animalsnd.families.birdnet_naming import SCOPE, known_term

    w, b = birdnet_labels.class_layer([i for i, _ in matched.values()])
    scores = X[:, :birdnet.EMBED_DIM].astype(np.float64) @ w.T.astype(np.float64) + b
    report = {name: {"label": label, "score_mean": float(s.mean()), "score_std": float(s.std()) or 1.0}
              for (name, (_, label)), s in zip(matched.items(), scores.T)}
    section = {"weight": weight, "classes": report}
    if BACKGROUND in classes:  # named clips only (birdnet_naming)
        return None, None, {"known_classes": {**section, "scope": SCOPE}}
    A, c = known_term([section], classes).affine(X.shape[1])
    return A, c, {"known_classes": section}


def side_files(fs, train: np.ndarray, copies, extra, seed: int):
    """The bundle's side files ``(files, meta)``: the one-view screen
    (:mod:`animalsnd.families.birdnet_screen`; models with the background class) and the
    training clips that predict's context check compares windows with
    (:mod:`animalsnd.families.birdnet_context`)."""
    from animalsnd.families.birdnet_context import CONTEXT_FILE, fit_context
    from animalsnd.families.birdnet_screen import SCREEN_FILE, fit_screen

    context, context_report = fit_context(fs, train)
    files, meta = {CONTEXT_FILE: context.to_bytes()}, {"context": context_report}
    fitted = fit_screen(fs, train, copies=copies, extra=extra, seed=seed)
    if fitted is not None:
        screen, report = fitted
        files[SCREEN_FILE] = screen.to_bytes()
        meta["screen"] = report
    return files, meta


def segment_rows(fs, train: np.ndarray, segments) -> tuple[np.ndarray, np.ndarray]:
    """With ``segments`` 1: each 3-s segment of the training clips ``train`` that have more
    than one, pooled alone like a window of ``predict``; ``(X, y)``, empty otherwise."""
    if segments not in (0, 1, False, True):
        raise ConfigError(f"segments={segments!r} must be 0 or 1")
    X, y = [], []
    for i in train if segments and fs.windows else ():
        w = fs.windows[i]
        if len(w) > 1:
            X.extend(birdnet.pool(w[j:j + 1], method=fs.pool) for j in range(len(w)))
            y.extend([fs.y[i]] * len(w))
    if not X:
        return np.zeros((0, int(fs.X.shape[1])), np.float32), np.zeros(0, int)
    return np.stack(X).astype(np.float32), np.asarray(y, int)


def copy_embeddings(cache_dir, augmented, pool: str, fmax):
    """Pooled embeddings of an augmented set's noisy copies (None without a set)."""
    if augmented is None or not len(augmented.X) or cache_dir is None:
        return None
    from functools import partial

    from animalsnd.augment.vectors import copy_vectors
    from animalsnd.embeddings import pooled_embedding, store_dir

    return copy_vectors(cache_dir, augmented.name, store=store_dir(cache_dir, fmax) / pool,
                        compute=partial(pooled_embedding, pool=pool, fmax=fmax), sr=birdnet.BIRDNET_SR)


# ------------------------------------------------------------------ evaluation data
def eval_data(bundle, data=None, *, jobs: int = -1, progress=None):
    """:class:`~animalsnd.inputs.EvalData` of pooled embeddings for a birdnet bundle.

    ``data`` None: the bundle's held-out fold (embeddings from its cache's
    store, computed if missing); a prepared cache: all its usable clips; a
    folder: every file of the model's classes, embedded without caching.
    """
    from functools import partial

    from animalsnd.embeddings import embed_file, ensure_embeddings, read_windows
    from animalsnd.inputs import folder_inputs, is_cache, store_data

    check_backbone(bundle)
    pool, dim = bundle.meta["input"]["pool"], int(bundle.meta["input"]["dim"])
    fmax = bundle.cfg.fmax  # the analysis cut-off
    if data is None or is_cache(Path(data)):
        return store_data(bundle, data, ensure=partial(ensure_embeddings, fmax=fmax), dim=dim, jobs=jobs,
                          progress=progress, read=lambda store, sha: birdnet.pool(read_windows(store, sha), method=pool))
    return folder_inputs(Path(data), bundle.classes, partial(embed_file, fmax=fmax), empty_shape=(dim,), jobs=jobs,
                         progress=progress,
                         to_input=lambda emb: birdnet.pool(emb, method=pool))


def _pooled(y48: np.ndarray, pool: str, fmax) -> np.ndarray:
    """The pooled BirdNET embedding of a 48 kHz waveform."""
    from animalsnd.embeddings import pooled_embedding

    return pooled_embedding(y48, pool=pool, fmax=fmax)


# ------------------------------------------------------------------ the family
class BirdnetHeadFamily(VectorFamily):
    """``birdnet-head``: a dense head on pooled BirdNET embeddings."""

    input_kind = "birdnet"
    inputs_label = "BirdNET embeddings"
    models = ("birdnet-head",)
    #: a folder's class proportions weigh in at 0.75 (animalsnd.priors): across sources its
    #: probabilities bear a stronger estimate than stats-mlp's (docs/results.md, "A folder's own
    #: class proportions")
    folder_strength = 0.75
    # like a logistic regression: every training clip, a fixed number of epochs, an L2 penalty
    # (cheap: ~0.1 s per epoch on frozen embeddings)
    defaults = {"birdnet-head": dict(F.ROBUST, spec_augment=False, epochs=200, early_stopping=False,
                                     val_fraction=0.0, lr_patience=8)}
    options = ("pool", "shots")
    # 2: double-speed view of every window (2048-d), linear head
    # 3: L2 penalty instead of noise and dropout, no validation part, 200 fixed epochs
    # 4: whole clips cut to their active region before they are windowed (animalsnd.trim)
    # 5: BirdNET's own score added to the logit of a class it knows by name (``known``)
    # 6: with a background class, the score recorded for naming clips (birdnet_naming)
    revisions = {"birdnet-head": 6}
    model_options = {"hidden": HIDDEN, "dropout": DROPOUT, "noise": NOISE, "l2": L2, "segments": SEGMENTS,
                     "known": None}
    required = ("backbone", "pool", "dim")

    def clip_naming(self, bundle):
        """BirdNET's own score with which a model with the background class names clips, or
        None (:func:`animalsnd.families.birdnet_naming.clip_naming`)."""
        if "known_classes" not in bundle.meta:
            return None
        from animalsnd.families.birdnet_naming import clip_naming

        return clip_naming(bundle)

    def check_config(self, config) -> None:
        if config.pool not in birdnet.POOL_METHODS:
            raise ConfigError(f"pool={config.pool!r} must be one of: {', '.join(birdnet.POOL_METHODS)}")

    def load_inputs(self, cache_dir, config, *, jobs: int = -1, progress=None):
        from animalsnd.embeddings import load_embedding_set

        return load_embedding_set(cache_dir, pool=config.pool, jobs=jobs, progress=progress)

    def inputs_like(self, fs, cache_dir, config, *, jobs: int = -1):
        return embedding_set_for(cache_dir, config.pool, jobs=jobs)

    def train_fold(self, inputs, **kwargs):
        return train_fold(inputs, **kwargs)

    def eval_data(self, bundle, data=None, *, jobs: int = -1, progress=None):
        return eval_data(bundle, data, jobs=jobs, progress=progress)

    def predictor(self, bundles, *, runtime: str = "auto", threads: int | None = None):
        from animalsnd.families.birdnet_predict import BirdnetPredictor

        return BirdnetPredictor(bundles, runtime=runtime, threads=threads)

    def vector_input(self, pool: str, fmax):
        from animalsnd.families import WaveInput

        if pool not in birdnet.POOL_METHODS:
            raise ConfigError(f"pool={pool!r} must be one of: {', '.join(birdnet.POOL_METHODS)}")
        return WaveInput(int(birdnet.BIRDNET_SR), _pooled, (pool, fmax))

    def input_notes(self, config) -> list[str]:
        return [f"BirdNET embeddings pooled by {config.pool}"]


FAMILY = BirdnetHeadFamily()
