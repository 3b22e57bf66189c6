"""What the models on per-clip vectors (BirdNET embeddings, clip descriptors) share:
a dense head, training it on them, and the fold-averaging predictor around their bundles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from animalsnd import fitting as F
from animalsnd.errors import BundleError, ConfigError
from animalsnd.families.preload import Preloaded

__all__ = ["VectorFamily", "VectorPredictor", "dense_head", "fit_vector_head", "standardiser"]


class VectorPredictor(Preloaded):
    """Fold bundles of one vector-input model behind the predictor interface (probabilities averaged).

    Subclasses set ``kind``, ``name`` and ``cfg`` and implement ``window_plan``
    and ``scan``; ``_warm()`` runs once in the loading thread after the models.
    """

    kind = ""
    name = ""

    def __init__(self, bundles: Sequence, *, runtime: str = "auto", check: Callable | None = None) -> None:
        if not bundles:
            raise BundleError("no model bundle given")
        if runtime not in ("auto", "keras"):
            raise ConfigError(f"--runtime {runtime}: a {self.name} model runs with Keras (auto or keras)")
        first = bundles[0]
        for b in bundles:
            if b.kind != self.kind:
                raise BundleError(f"{b.path}: not a {self.name} bundle; cannot average it with {first.path}")
            if check is not None:
                check(b, first)
        self.bundles = list(bundles)
        self.runtime = "keras"
        self.classes: list[str] = list(first.classes)
        self.thread_name = f"animalsnd-{self.kind}-load"

    def _warm(self) -> None:
        """Load anything besides the models (a backbone, say)."""

    def _load_models(self) -> None:
        for b in self.bundles:
            b.model  # noqa: B018  (loads lazily)
        self._warm()

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """Mean class probabilities of the bundles for model inputs ``X`` (n, dim)."""
        self._ready()
        X = np.asarray(X, dtype=np.float32)
        total = np.zeros((len(X), len(self.classes)), np.float64)
        for b in self.bundles:
            total += b.predict_proba(X, batch_size=batch_size)
        return (total / len(self.bundles)).astype(np.float32)


def dense_head(dim: int, n_classes: int, *, mean: np.ndarray, variance: np.ndarray, hidden: int, dropout: float,
               noise: float, l2: float, name: str, input_name: str):
    """A dense head as a named ``keras.Model``: ``(batch, dim)`` -> ``(batch, n_classes)``.

    ``mean`` and ``variance`` (shape ``(dim,)``) standardise the input; they
    are constants saved with the model. Then Gaussian noise (training only),
    ``hidden`` relu units when > 0 (0: a linear, multinomial logistic head),
    dropout and a softmax; ``l2`` penalises the dense weights.
    """
    import keras

    if not isinstance(hidden, int) or hidden < 0:
        raise ConfigError(f"hidden={hidden!r} must be a non-negative integer (0: linear head)")
    if not isinstance(dim, int) or dim < 1:
        raise ConfigError(f"dim={dim!r} must be a positive integer")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"n_classes={n_classes!r} must be an integer >= 2")
    reg = keras.regularizers.L2(l2) if l2 > 0 else None
    inp = keras.Input(shape=(dim,), name=input_name)
    x = keras.layers.Normalization(mean=np.asarray(mean, np.float32), variance=np.asarray(variance, np.float32),
                                   name="standardise")(inp)
    x = keras.layers.GaussianNoise(noise, name="emb_noise")(x)
    if hidden:  # hidden=0: a linear (multinomial logistic) head on the noisy embedding
        x = keras.layers.Dense(hidden, activation="relu", name="dense", kernel_regularizer=reg)(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name="probs", kernel_regularizer=reg)(x)
    return keras.Model(inp, out, name=name)


def add_logit_terms(model, A: np.ndarray, c: np.ndarray, *, mean: np.ndarray, variance: np.ndarray) -> None:
    """Add ``x @ A + c`` (``x`` the head's raw input) to a linear :func:`dense_head`'s logits, in
    place: its dense layer acts on the standardised input ``(x - mean) / sqrt(variance)``, so the
    term is folded into its weights and the saved model (and its TFLite export) carries it."""
    dense = model.get_layer("probs")
    kernel, bias = dense.get_weights()
    A = np.asarray(A, np.float64)
    sd = np.sqrt(np.asarray(variance, np.float64))
    kernel = kernel + A * sd[:, None]
    bias = bias + np.asarray(c, np.float64) + np.asarray(mean, np.float64) @ A
    dense.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])


def standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and variance of ``X`` (n, d); tiny variances are floored."""
    mean = X.mean(axis=0)
    var = X.var(axis=0)
    floor = max(1e-3 * float(np.mean(var)), 1e-8)
    return mean.astype(np.float32), np.maximum(var, floor).astype(np.float32)


def fit_vector_head(fs, *, config, test_fold: int, input_meta: dict, defaults: dict, name: str, input_name: str,
                    augmented=None, aug_msg: str = "", out_dir=None, cache_dir=None, export_tflite: bool = False,
                    on_epoch=None, copies=None, extra_rows=None, train_options: tuple[str, ...] = (), sidecar=None,
                    logit_terms=None, clip_naming=None):
    """Train a dense head on per-clip vectors ``fs.X`` (n, d) on every fold but ``test_fold``.

    The head is :func:`dense_head` with ``defaults`` updated by
    ``config.model_options`` (any other key is a ConfigError), standardised
    on the training split; training follows ``config`` (class weights, mixup,
    early stopping, LR schedule). ``copies``
    (:class:`animalsnd.augment.vectors.CopyVectors`, the vectors of an
    augmented set's noisy copies) adds the copies of the training clips to
    the training data; log-Mel ``augmented`` copies without them are refused
    with ``aug_msg``. Same contract as :func:`animalsnd.train.train_fold`: a
    FoldResult, and the bundle in ``out_dir`` when given. ``config.shots`` > 0
    keeps that many training clips per class
    (:func:`animalsnd.fitting.labelled_clips`). ``train_options`` are keys of
    ``defaults`` that are not the head's but the training's: they are taken out
    of the head's options and given to ``extra_rows(train_indices, options)``,
    which returns ``(X, y)`` rows added to the training data (made from the
    training clips only). ``sidecar(train_indices, copies, (X, y) extra rows)`` returns
    ``(files, meta)`` saved with the bundle (``files`` it owns, ``meta`` a section of
    bundle.json) or None. ``logit_terms(X, training)`` (``X`` the training clips' vectors)
    returns None or ``(A, c, meta)``: a fixed affine term ``X @ A + c`` added to the fitted
    linear head's logits (:func:`add_logit_terms`; a head with a hidden layer is left as
    it is; ``A`` None: none), ``meta`` saved in bundle.json. ``clip_naming(meta)`` returns
    None or what names the test clips (``apply(X, proba)``, as ``eval`` does with the saved
    model; :mod:`animalsnd.families.birdnet_naming`): the fold's metrics are then its.
    """
    from animalsnd.augment import Mixup

    if augmented is not None and len(augmented.X) and copies is None:
        raise ConfigError(aug_msg)
    unknown = sorted(set(config.model_options) - set(defaults))
    if unknown:
        raise ConfigError(f"model {config.model!r} has no option(s) {', '.join(unknown)}; "
                          f"available: {', '.join(sorted(defaults))}")
    n_classes = len(fs.classes)
    split = F.checked_split(fs, config, test_fold)
    if config.shots:  # a few-shot evaluation: the same labelled clips as protonet's
        split = replace(split, train=F.labelled_clips(split.train, fs.y, config, test_fold))
    head_options = {**defaults, **config.model_options}
    training = {k: head_options.pop(k) for k in train_options if k in head_options}
    X_train, y_train = fs.X[split.train], fs.y[split.train]
    X_x, y_x = None, None
    if extra_rows is not None:
        X_x, y_x = extra_rows(np.asarray(split.train), training)
        if len(y_x):
            X_train, y_train = np.concatenate([X_train, X_x]), np.concatenate([y_train, y_x])
    n_aug = 0
    if copies is not None:  # noisy copies of this split's training clips only
        X_aug, y_aug = copies.for_training({fs.shas[i] for i in split.train}, list(fs.classes))
        X_train, y_train, n_aug = np.concatenate([X_train, X_aug]), np.concatenate([y_train, y_aug]), len(y_aug)
    F.seed_everything(config.seed)
    mean, var = standardiser(X_train)
    model = dense_head(int(fs.X.shape[1]), n_classes, mean=mean, variance=var, name=name, input_name=input_name,
                       **head_options)
    mix = Mixup(config.mixup) if config.mixup > 0 else None
    history, train_seconds = F.fit(
        model, config, X_train, y_train, fs.X[split.val], fs.y[split.val], n_classes=n_classes,
        rng=np.random.default_rng([config.seed, test_fold]), spec_augment=None, mixup=mix,
        fold=test_fold, on_epoch=on_epoch,
    )
    best = F.best_epoch(config, history)
    term_meta = {}
    if logit_terms is not None and not head_options.get("hidden"):
        term = logit_terms(fs.X[split.train], training)
        if term is not None:
            if term[0] is not None:
                add_logit_terms(model, term[0], term[1], mean=mean, variance=var)
            term_meta = term[2]
    result = F.fold_result(model, fs, split, test_fold=test_fold, history=history, train_seconds=train_seconds,
                           best_epoch=best, n_train=len(split.train), n_augmented=n_aug, batch_size=256)
    naming = clip_naming(term_meta) if clip_naming is not None and term_meta else None
    if naming is not None and len(split.test):
        from animalsnd.metrics import classification_metrics

        X_test = fs.X[split.test]
        result.y_pred = naming.apply(X_test, np.asarray(model(X_test, training=False))).argmax(axis=1)
        result.metrics = classification_metrics(result.y_true, result.y_pred, classes=fs.classes)
    if out_dir is not None:
        side = None
        if sidecar is not None and not config.shots:
            side = sidecar(np.asarray(split.train), copies, None if y_x is None else (X_x, y_x))
        files, extra = side if side is not None else ({}, {})
        extra = {**extra, **term_meta}
        result.model_dir = F.save_fold(out_dir, result, fs, split, config, cache_dir=cache_dir or fs.cache_dir,
                                       export_tflite=export_tflite, input_meta=input_meta, files=files, extra=extra,
                                       training={"best_epoch": best, "n_folds": fs.n_folds, "fold_seed": fs.seed})
    return result


class VectorFamily:
    """What the families on per-clip vectors share: a Keras dense head in each bundle, whose
    ``input`` section names ``required`` keys; the vectors of a waveform come from
    ``vector_input(pool, fmax)`` (a :class:`animalsnd.families.WaveInput`), with noise mixed in
    by :func:`animalsnd.robustness.noisy_vectors`."""

    required: tuple[str, ...] = ()
    revisions: dict[str, int] = {}

    def vector_input(self, pool: str, fmax):
        raise NotImplementedError

    def wave_input(self, cfg, pool: str = "mean"):
        return self.vector_input(pool, cfg.fmax)

    def input_notes(self, config) -> list[str]:
        """What the recipe line says of its inputs."""
        return []

    def recipe_notes(self, config) -> list[str]:
        return [*self.input_notes(config), *([F.shots_note(config.shots)] if config.shots else [])]

    def check_config(self, config) -> None:
        pass

    def check_input(self, section: dict) -> None:
        if not all(k in section for k in self.required):
            raise ValueError(f"{self.input_kind} input without {', '.join(self.required[:-1])} "
                             f"or {self.required[-1]}")

    def load_model(self, path):
        import keras

        return keras.models.load_model(str(path), compile=False)

    def noisy_inputs(self, paths, noise_dir, *, cfg, pool: str = "", **options):
        from animalsnd import robustness

        # band-limited at the features' cut-off, as the training clips were
        return robustness.noisy_vectors(paths, self.vector_input(pool, cfg.fmax), noise_dir, **options)
