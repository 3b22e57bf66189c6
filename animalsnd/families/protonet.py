"""``--model protonet``: self-supervised pretraining, then nearest-prototype classification.

For a test fold ``k``:

1. **Contrastive pretraining** (SimCLR, NT-Xent loss, ``epochs`` epochs) of
   the encoder of :mod:`animalsnd.models.protonet` on the log-Mel features of
   the training clips *without their labels*, plus any ``--unlabeled`` audio
   and the ``--augmented`` copies of training clips. Each clip gives two
   views; a view is a random circular time shift, then either Gaussian noise
   or another clip of the batch mixed in at a low level, then SpecAugment
   masks (``spec_augment``).
2. **Labelled clips**: all training clips, or ``shots`` per class drawn with
   a seeded generator (``--shots N``, a few-shot evaluation; the unlabelled
   pretraining still sees every training clip).
3. Optional **episodic fine-tuning** (``finetune_epochs``): episodes sample
   labelled clips per class, split into support and query (one clip: two
   views of it), and minimise cross-entropy of the queries over
   ``softmax(-||z - prototype||^2 / T)``.
4. **Prototypes**: the mean embedding of each class's labelled clips. The
   classifier (encoder + :class:`~animalsnd.models.protonet.PrototypeSoftmax`)
   is one Keras model, so bundles, ``eval`` and ``predict`` treat it like any
   log-Mel model.

Test and validation clips are never seen, labelled or not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from animalsnd import fitting as F
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.families.logmel import LogMelFamily, batch_augmenters
from animalsnd.fitting import labelled_clips, select_shots  # noqa: F401  (the few-shot draw, shared)

__all__ = ["FAMILY", "SSL_TEMPERATURE", "TEMPERATURE", "Views", "labelled_clips", "nt_xent", "prototypes",
           "select_shots", "train_fold", "unlabeled_features"]

SSL_TEMPERATURE = 0.2  # NT-Xent
TEMPERATURE = 0.05  # prototype softmax over squared distances of unit vectors
MAX_SHIFT = 0.25  # largest circular time shift, as a fraction of the frames
CROP = (0.5, 1.0)  # part of a clip's audio frames a view keeps (a random stretch)
NOISE_STD = (0.1, 0.5)  # Gaussian noise view, in z-score units
MIX_LEVEL = (0.1, 0.3)  # weight of another clip mixed into a view
EPISODE_PER_CLASS = 8  # labelled clips per class in an episode (support + query)
_UNLABELED: dict[tuple[str, str], np.ndarray] = {}


# ------------------------------------------------------------------ views
class Views:
    """Random views of a batch of log-Mel features for contrastive learning.

    Parameters
    ----------
    spec_augment : animalsnd.augment.SpecAugment, optional
    max_shift : float
        Largest circular time shift, a fraction of the frames.
    noise_std, mix_level : (low, high)
        Half of the views get Gaussian noise with a standard deviation drawn
        from ``noise_std``, the other half another clip of the batch mixed in
        with a weight drawn from ``mix_level``.
    """

    def __init__(self, *, spec_augment=None, max_shift: float = MAX_SHIFT,
                 noise_std: tuple[float, float] = NOISE_STD, mix_level: tuple[float, float] = MIX_LEVEL,
                 crop: tuple[float, float] = CROP):
        if not 0 <= max_shift <= 1:
            raise ConfigError(f"max_shift={max_shift!r} must be in [0, 1]")
        self.spec_augment, self.max_shift = spec_augment, max_shift
        self.noise_std, self.mix_level = noise_std, mix_level
        self.crop = crop

    def _crop(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Keep a random stretch of 50-100 % of each clip's audio frames (the rest zero, i.e. padding)."""
        lengths = np.array([np.flatnonzero(np.any(x != 0, axis=1)).max(initial=-1) + 1 for x in X])
        keep = np.maximum(1, np.round(lengths * rng.uniform(*self.crop, size=len(X)))).astype(int)
        start = (rng.random(len(X)) * (lengths - keep + 1)).astype(int)
        t = np.arange(X.shape[1])[None, :]
        inside = (t >= start[:, None]) & (t < (start + keep)[:, None])
        return np.where(inside[:, :, None], X, np.float32(0))

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One view of every clip of ``X`` (n, frames, n_mels); ``X`` is not modified."""
        n, frames = X.shape[0], X.shape[1]
        X = self._crop(X, rng)
        s = int(self.max_shift * frames)
        shifts = rng.integers(-s, s + 1, size=n) if s else np.zeros(n, int)
        idx = (np.arange(frames)[None, :] - shifts[:, None]) % frames
        out = X[np.arange(n)[:, None], idx].astype(np.float32)
        noisy = rng.random(n) < 0.5
        std = rng.uniform(*self.noise_std, size=n).astype(np.float32)
        level = rng.uniform(*self.mix_level, size=n).astype(np.float32)
        other = rng.permutation(n) if n > 1 else np.zeros(1, int)
        gauss = rng.standard_normal(out.shape, dtype=np.float32) * std[:, None, None]
        mixed = level[:, None, None] * out[other]
        out += np.where(noisy[:, None, None], gauss, mixed)
        if self.spec_augment is not None:
            out = self.spec_augment.apply_batch(out, rng)
        return np.asarray(out, dtype=np.float32)


# ------------------------------------------------------------------ losses, prototypes
def nt_xent(z1, z2, *, temperature: float = SSL_TEMPERATURE):
    """SimCLR's normalised-temperature cross-entropy of two views' unit embeddings.

    Returns ``(loss, accuracy)``: accuracy is how often a view's most similar
    other view is its own pair.
    """
    from keras import ops

    z = ops.concatenate([z1, z2], axis=0)
    n = ops.shape(z1)[0]
    sim = ops.matmul(z, ops.transpose(z)) / temperature
    sim = sim - 1e9 * ops.eye(2 * n, dtype=sim.dtype)
    target = ops.concatenate([ops.arange(n, 2 * n), ops.arange(0, n)], axis=0)
    loss = ops.mean(ops.sparse_categorical_crossentropy(target, sim, from_logits=True))
    acc = ops.mean(ops.cast(ops.equal(ops.argmax(sim, axis=-1), target), "float32"))
    return loss, acc


def prototypes(Z: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean embedding per class; a class without examples gets a far-away point.

    Parameters
    ----------
    Z : np.ndarray, shape (n, d)
    y : np.ndarray, shape (n,), int

    Returns
    -------
    np.ndarray, shape (n_classes, d), float32
    """
    Z = np.asarray(Z, np.float32)
    P = np.full((n_classes, Z.shape[1]), 1e3, np.float32)  # never the nearest
    for c in range(n_classes):
        if np.any(y == c):
            P[c] = Z[y == c].mean(axis=0)
    return P


# ------------------------------------------------------------------ unlabelled audio
def _chunks_work(path: str, cfg) -> tuple[list[np.ndarray], str]:
    from animalsnd.audio import load
    from animalsnd.augment.copies import feature_window
    from animalsnd.features import logmel

    try:
        y, _ = load(path, sr=cfg.sr, min_samples=cfg.n_fft)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        return [], str(exc)
    n, out = feature_window(cfg), []
    for s in range(0, len(y), n):
        piece = y[s : s + n]
        if out and len(piece) < cfg.sr:  # keep tails of at least 1 s
            break
        out.append(logmel(piece, cfg=cfg))
    return out, ""


def unlabeled_features(folder: str | Path, cfg, *, jobs: int = -1) -> np.ndarray:
    """Log-Mel features of every audio file under ``folder`` (any depth).

    A long recording gives one clip per ``cfg.clip_seconds`` of audio (a last
    piece shorter than 1 s is dropped). Unreadable files are skipped.

    Returns
    -------
    np.ndarray, shape (n, frames, n_mels), float32
    """
    from animalsnd.audio import is_audio_file
    from animalsnd.parallel import run_parallel

    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"--unlabeled {folder}: folder does not exist")
    key = (str(root.resolve()), cfg.hash())
    if key not in _UNLABELED:
        files = sorted(p for p in root.rglob("*") if is_audio_file(p)
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        res = run_parallel(_chunks_work, [(str(p), cfg) for p in files], jobs=jobs)
        clips = [x for r in res if isinstance(r, tuple) for x in r[0]]
        if not clips:
            raise DatasetError(f"--unlabeled {folder}: no usable audio files")
        _UNLABELED.clear()
        _UNLABELED[key] = np.stack(clips).astype(np.float32)
    return _UNLABELED[key]


# ------------------------------------------------------------------ training
def _quiet_tf_warnings() -> None:
    """Each fold traces its own training step; TensorFlow would warn about retracing."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _embed(encoder, X: np.ndarray, batch_size: int = 128) -> np.ndarray:
    if len(X) == 0:
        return np.zeros((0, encoder.output.shape[-1]), np.float32)
    return np.concatenate([np.asarray(encoder(X[i : i + batch_size], training=False))
                           for i in range(0, len(X), batch_size)])


def _pretrain(encoder, projector, pool: np.ndarray, *, config, views: Views, rng, fold: int, on_epoch) -> dict:
    import tensorflow as tf

    opt = F.optimizer(config)
    variables = encoder.trainable_variables + projector.trainable_variables
    opt.build(variables)  # create the slots outside the traced step

    @tf.function(reduce_retracing=True)
    def step(a, b):
        with tf.GradientTape() as tape:
            loss, acc = nt_xent(projector(encoder(a, training=True), training=True),
                                projector(encoder(b, training=True), training=True))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, acc

    bs = min(config.batch_size, len(pool))
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    for epoch in range(config.epochs):
        perm, losses, accs = rng.permutation(len(pool)), [], []
        for s in range(0, len(pool), bs):
            idx = perm[s : s + bs]
            if len(idx) < bs:  # fill the last batch up: one step shape, one trace
                idx = np.concatenate([idx, rng.choice(perm[:s], bs - len(idx), replace=False)])
            xb = pool[idx]
            loss, acc = step(views(xb, rng), views(xb, rng))
            losses.append(float(loss))
            accs.append(float(acc))
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(float(np.mean(accs)))
        if on_epoch is not None:
            on_epoch(F.EpochStats(fold=fold, epoch=epoch + 1, epochs=config.epochs, loss=history["loss"][-1],
                                  accuracy=history["accuracy"][-1], val_loss=None, val_accuracy=None,
                                  lr=float(config.lr)))
    return history


def _finetune(encoder, X: np.ndarray, y: np.ndarray, n_classes: int, *, config, views: Views, rng) -> list[float]:
    """Episodic prototype training on the labelled clips; returns the loss per epoch."""
    import keras
    import tensorflow as tf
    from keras import ops

    opt = keras.optimizers.Adam(learning_rate=config.lr * 0.1)
    variables = encoder.trainable_variables
    opt.build(variables)

    @tf.function(reduce_retracing=True)
    def step(xs, ys, xq, yq):
        with tf.GradientTape() as tape:
            zs, zq = encoder(xs, training=True), encoder(xq, training=True)
            onehot = ops.one_hot(ys, n_classes)
            counts = ops.maximum(ops.sum(onehot, axis=0), 1.0)
            P = ops.matmul(ops.transpose(onehot), zs) / ops.expand_dims(counts, 1)
            d2 = ops.sum(ops.square(ops.expand_dims(zq, 1) - ops.expand_dims(P, 0)), axis=-1)
            loss = ops.mean(ops.sparse_categorical_crossentropy(yq, -d2 / TEMPERATURE, from_logits=True))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    by_class = [np.flatnonzero(y == c) for c in range(n_classes)]
    by_class = [(c, idx) for c, idx in enumerate(by_class) if len(idx)]
    episodes = max(1, math.ceil(len(X) / (EPISODE_PER_CLASS * len(by_class))))
    out = []
    for _ in range(config.finetune_epochs):
        losses = []
        for _ in range(episodes):
            s_idx, q_idx = [], []
            for c, idx in by_class:
                pick = rng.permutation(idx)[:EPISODE_PER_CLASS]
                half = max(1, len(pick) // 2)
                s_idx += list(pick[:half])
                q_idx += list(pick[half:] if len(pick) > 1 else pick)
            s_idx, q_idx = np.array(s_idx), np.array(q_idx)
            loss = step(views(X[s_idx], rng), y[s_idx].astype("int32"), views(X[q_idx], rng), y[q_idx].astype("int32"))
            losses.append(float(loss))
        out.append(float(np.mean(losses)))
    return out


def train_fold(fs, *, config, test_fold: int, out_dir=None, cache_dir=None, augmented=None,
               export_tflite: bool = False, on_epoch: Callable | None = None):
    """Pretrain, pick the labelled clips, fine-tune, build prototypes and score ``test_fold``.

    Same contract as :func:`animalsnd.train.train_fold`; ``fs`` holds log-Mel features.
    """
    from animalsnd.bundle import keras_numpy_notice_silenced
    from animalsnd.models.protonet import build_encoder, build_projection, build_protonet

    n_classes = len(fs.classes)
    split = F.checked_split(fs, config, test_fold)
    frames, n_mels = fs.cfg.shape
    spec = batch_augmenters(config, fs.cfg.shape)[0]
    views = Views(spec_augment=spec)

    # unlabelled pool: training clips (labels unused), their augmented copies, --unlabeled audio
    parts = [fs.X[split.train]]
    n_aug = 0
    if augmented is not None and len(augmented.X):
        mask = F.select_augmented(augmented.source_shas, [fs.shas[i] for i in split.train])
        n_aug = int(mask.sum())
        parts.append(augmented.X[mask])
    n_unlabeled = 0
    if config.unlabeled:
        extra = unlabeled_features(config.unlabeled, fs.cfg)
        n_unlabeled = len(extra)
        parts.append(extra)
    pool = np.concatenate(parts) if len(parts) > 1 else parts[0]

    labelled = labelled_clips(split.train, fs.y, config, test_fold)
    X_lab, y_lab = fs.X[labelled], fs.y[labelled]

    unknown = sorted(set(config.model_options) - {"filters", "embed_dim"})
    if unknown:
        raise ConfigError(f"model 'protonet' has no option(s) {', '.join(unknown)}; available: embed_dim, filters")
    _quiet_tf_warnings()
    F.seed_everything(config.seed)
    encoder = build_encoder(fs.cfg.shape, **config.model_options)
    projector = build_projection(int(encoder.output.shape[-1]))
    rng = np.random.default_rng([config.seed, test_fold])
    t0 = time.perf_counter()
    with keras_numpy_notice_silenced():
        history = _pretrain(encoder, projector, pool, config=config, views=views, rng=rng, fold=test_fold,
                            on_epoch=on_epoch)
        if config.finetune_epochs:
            history["finetune_loss"] = _finetune(encoder, X_lab, y_lab, n_classes, config=config, views=views, rng=rng)
        P = prototypes(_embed(encoder, X_lab), y_lab, n_classes)
        model = build_protonet(encoder, P, temperature=TEMPERATURE)
    train_seconds = time.perf_counter() - t0

    result = F.fold_result(model, fs, split, test_fold=test_fold, history=history, train_seconds=train_seconds,
                           best_epoch=None, n_train=len(labelled), n_augmented=n_aug)
    if out_dir is not None:
        counts = np.bincount(y_lab, minlength=n_classes)
        result.model_dir = F.save_fold(
            out_dir, result, fs, split, config, cache_dir=cache_dir, export_tflite=export_tflite,
            training={"n_folds": fs.n_folds, "fold_seed": fs.seed, "n_pretrain": int(len(pool)),
                      "n_unlabeled": n_unlabeled},
            extra={"protonet": {"shots": config.shots, "labelled_per_class": dict(zip(fs.classes, counts.tolist())),
                                "temperature": TEMPERATURE, "ssl_temperature": SSL_TEMPERATURE,
                                "labelled_shas": [fs.shas[i] for i in labelled]}},
        )
    return result


# ------------------------------------------------------------------ the family
class ProtonetFamily(LogMelFamily):
    """``protonet``: contrastive pretraining, then nearest-prototype classification, on log-Mel features.

    Its bundles hold a Keras model on log-Mel features: reading them (inputs,
    evaluation data, prediction) is the log-Mel family's.
    """

    models = ("protonet",)
    # epochs = contrastive pretraining epochs; spec_augment = SpecAugment in the views
    defaults = {"protonet": dict(
        epochs=40, finetune_epochs=10, optimizer="adam", lr=1e-3, weight_decay=0.0, class_weights=False,
        spec_augment=True, early_stopping=False, patience=6, lr_schedule=False,
        val_fraction=0.0, batch_size=64,
    )}
    recipes: dict = {}
    options = ("shots", "unlabeled", "finetune_epochs")
    revisions: dict[str, int] = {}

    def train_fold(self, inputs, **kwargs):
        return train_fold(inputs, **kwargs)

    def recipe_notes(self, config) -> list[str]:
        return [F.shots_note(config.shots, "all labelled clips"),
                *([f"{config.finetune_epochs} fine-tuning epochs"] if config.finetune_epochs else []),
                *([f"unlabelled {config.unlabeled}"] if config.unlabeled else [])]


FAMILY = ProtonetFamily()
