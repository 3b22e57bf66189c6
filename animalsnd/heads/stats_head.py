"""``--model stats-mlp``: a small network on clip descriptors, trained from scratch.

Pipeline per clip: 16 kHz audio -> :func:`animalsnd.descriptors.describe`
(491 statistics of the level-normalised Mel spectrum, MFCCs, envelope
periodicity and spectral contrast; cached per clip next to the log-Mel
features) -> the network::

    descriptor (491) -> standardise (mean/variance of the training split, stored
                        in the model) -> GaussianNoise (training only)
                     -> Dense(hidden, relu) -> Dropout -> Dense(n_classes, softmax)

No pretrained weights are involved. The per-band z-normalisation of the
log-Mel input removes every band's level; the descriptors keep that spectral
envelope, which is where the convolutional models lose most (docs/models.md).

Augmentation happens in descriptor space (Gaussian noise on the standardised
input, ``--mixup``); the ``--augmented`` sets hold log-Mel features and are
refused. Prediction on long recordings describes each window the same way
(:class:`StatsPredictor`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from animalsnd import descriptors as D
from animalsnd.errors import BundleError, ConfigError, DatasetError

__all__ = ["DEFAULT_OPTIONS", "StatsPredictor", "eval_data", "input_meta", "train_fold"]

#: Builder options (``--model-option``); chosen by 5-fold CV on animal-sounds-10 (docs/results.md).
DEFAULT_OPTIONS = {"hidden": 256, "dropout": 0.3, "noise": 0.1}
_AUG_MSG = ("--augmented sets hold log-Mel features; stats-mlp augments in descriptor space instead "
            "(Gaussian noise always, mixup with --mixup)")
_SETS: dict[str, object] = {}  # cache -> DescriptorSet, for repeated folds


def input_meta(ds) -> dict:
    """The bundle's ``input`` section for a network trained on ``ds``."""
    return {"kind": "stats", "dim": D.DIM, "spec": dict(D.SPEC), "sr": D.SPEC["sr"],
            "feature": ds.cfg.to_dict()}


def descriptor_set_for(cache_dir, *, jobs: int = -1, progress=None):
    """The cache's descriptors (memoised per cache)."""
    key = str(Path(cache_dir).resolve())
    if key not in _SETS:
        _SETS.clear()
        _SETS[key] = D.load_descriptor_set(cache_dir, jobs=jobs, progress=progress)
    return _SETS[key]


def train_fold(fs, *, config, test_fold: int, out_dir=None, cache_dir=None, augmented=None,
               export_tflite: bool = False, on_epoch=None):
    """Train on every fold but ``test_fold``; same contract as :func:`animalsnd.train.train_fold`.

    ``fs`` is a :class:`~animalsnd.descriptors.DescriptorSet`, or a log-Mel
    feature set of ``cache_dir`` (its descriptors are then loaded).
    """
    from animalsnd import train as T
    from animalsnd.augment import Mixup
    from animalsnd.heads.birdnet_head import build_head, standardiser
    from animalsnd.metrics import classification_metrics

    if augmented is not None and len(augmented.X):
        raise ConfigError(_AUG_MSG)
    if not isinstance(fs, D.DescriptorSet):
        if cache_dir is None:
            raise ConfigError("stats-mlp trains on clip descriptors: pass the cache folder")
        fs = descriptor_set_for(cache_dir)
    unknown = sorted(set(config.model_options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ConfigError(f"model 'stats-mlp' has no option(s) {', '.join(unknown)}; "
                          f"available: {', '.join(sorted(DEFAULT_OPTIONS))}")
    n_classes = len(fs.classes)
    split = T.checked_split(fs, config, test_fold)
    X_train, y_train = fs.X[split.train], fs.y[split.train]
    T._seed_everything(config.seed)
    mean, var = standardiser(X_train)
    model = build_head(int(fs.X.shape[1]), n_classes, mean=mean, variance=var, name="stats_mlp",
                       input_name="descriptor", **{**DEFAULT_OPTIONS, **config.model_options})
    mix = Mixup(config.mixup) if config.mixup > 0 else None
    history, train_seconds = T._fit(
        model, config, X_train, y_train, fs.X[split.val], fs.y[split.val], n_classes=n_classes,
        rng=np.random.default_rng([config.seed, test_fold]), spec_augment=None, mixup=mix,
        fold=test_fold, on_epoch=on_epoch,
    )
    best_epoch = T._best_epoch(config, history)
    y_test = fs.y[split.test]
    y_pred = T._predict(model, fs.X[split.test], batch_size=256)
    metrics = classification_metrics(y_test, y_pred, classes=fs.classes)
    result = T.FoldResult(
        fold=test_fold, metrics=metrics, history=history, train_seconds=train_seconds,
        epochs_run=len(history.get("loss", [])), best_epoch=best_epoch, n_train=len(split.train),
        n_val=len(split.val), n_test=len(split.test), n_augmented=0, y_true=y_test, y_pred=y_pred, model=model,
    )
    if out_dir is not None:
        from animalsnd.bundle import save_bundle

        result.model_dir = save_bundle(
            out_dir, model=model, classes=fs.classes, cfg=fs.cfg, input_meta=input_meta(fs),
            train_options=config.to_dict(), fingerprint=fs.fingerprint, cache_dir=cache_dir or fs.cache_dir,
            test_fold=test_fold, test_shas=[fs.shas[i] for i in split.test],
            metrics={**metrics, "train_seconds": round(train_seconds, 2)}, history=history,
            extra={"training": {k: v for k, v in result.summary().items() if k.startswith(("n_", "epochs"))}
                   | {"best_epoch": best_epoch, "n_folds": fs.n_folds, "fold_seed": fs.seed}},
            export_tflite=export_tflite,
        )
    return result


# ------------------------------------------------------------------ evaluation data
def check_spec(bundle) -> None:
    """The installed descriptor definition must be the one the bundle was trained on."""
    if bundle.meta["input"].get("spec") != D.SPEC:
        raise BundleError(f"{bundle.path}: trained on descriptors {bundle.meta['input'].get('spec')}, "
                          f"but this animalsnd computes {D.SPEC}; retrain the model")


def eval_data(bundle, data=None, *, jobs: int = -1, progress=None):
    """:class:`~animalsnd.evaluate.EvalData` of descriptors for a stats-mlp bundle.

    ``data`` None: the bundle's held-out fold (from its cache's descriptor
    store, computed if missing); a prepared cache: all its usable clips; a
    folder: every file of the model's classes, described without caching.
    """
    from collections import Counter

    from animalsnd.evaluate import EvalData, is_cache

    check_spec(bundle)
    known = {c: i for i, c in enumerate(bundle.classes)}
    empty = np.zeros((0, D.DIM), np.float32)
    if data is None or is_cache(Path(data)):
        from animalsnd.cache import read_config, read_manifest

        cache = bundle.cache_dir if data is None else Path(data)
        if data is None:
            if cache is None or not bundle.test_shas:
                raise DatasetError(f"{bundle.path}: the bundle records no held-out fold; pass --data")
            if not is_cache(cache):
                raise DatasetError(f"{bundle.path}: its feature cache {cache} is gone; pass --data")
        rows = [r for r in read_manifest(cache)
                if r["status"] == "ok" and int(r["fold"]) >= 0 and not r["duplicate_of"]]
        notes = []
        if data is None:
            wanted = set(bundle.test_shas)
            rows = [r for r in rows if r["sha256"] in wanted]
            source = f"held-out fold {bundle.test_fold} of {cache}"
            if len(wanted) > len(rows):
                notes.append(f"{len(wanted) - len(rows)} held-out clip(s) are no longer in {cache}; scored the rest")
        else:
            source = str(cache)
            trained_on = bundle.meta.get("data", {}).get("fingerprint")
            if trained_on and read_config(cache).get("fingerprint") == trained_on:
                notes.append("this cache holds the model's training clips, so the scores are optimistic; "
                             "omit --data to score the held-out fold")
        unknown = dict(Counter(r["label"] for r in rows if r["label"] not in known))
        rows = [r for r in rows if r["label"] in known]
        X = empty
        if rows:
            store, _, _ = D.ensure_descriptors(cache, rows=rows, jobs=jobs, progress=progress)
            X = np.stack([D.read_descriptor(store, r["sha256"]) for r in rows])
        return EvalData(X=X, y=np.array([known[r["label"]] for r in rows], dtype=int),
                        paths=[r["path"] for r in rows], source=source, unknown=unknown, notes=notes)

    from animalsnd.dataset import discover

    root = Path(data)
    recs = discover(root)
    unknown = dict(Counter(r.label for r in recs if r.label not in known))
    recs = [r for r in recs if r.label in known]
    results = D.describe_paths([str(r.path) for r in recs], jobs=jobs, progress=progress)
    X, y, paths, failed = [], [], [], []
    for rec, res in zip(recs, results):
        x, reason = res if isinstance(res, tuple) else (None, getattr(res, "error", "failed"))
        if x is None:
            failed.append((rec.relpath, reason))
            continue
        X.append(x)
        y.append(known[rec.label])
        paths.append(str(rec.path))
    return EvalData(X=np.stack(X) if X else empty, y=np.array(y, dtype=int), paths=paths, source=str(root),
                    unknown=unknown, failed=failed)


# ------------------------------------------------------------------ prediction
DEFAULT_WINDOW_S = 5.0


class StatsPlan:
    """Prediction windows in samples at 16 kHz (``window``, ``hop``)."""

    def __init__(self, window: int, hop: int) -> None:
        self.window, self.hop = window, hop
        self.cfg = StatsInput()

    @classmethod
    def from_seconds(cls, window_s: float | None = None, hop_s: float | None = None) -> "StatsPlan":
        """``window_s`` (default 5 s) and ``hop_s`` (default half a window), at least 0.1 s each."""
        for name, v in (("--window", window_s), ("--hop", hop_s)):
            if v is not None and not v > 0:
                raise ConfigError(f"{name} {v} must be a positive number of seconds")
        w = window_s or DEFAULT_WINDOW_S
        h = hop_s if hop_s is not None else w / 2
        sr = D.SPEC["sr"]
        return cls(max(int(round(w * sr)), sr // 10), max(int(round(h * sr)), sr // 10))

    def spans(self, n: int) -> list[tuple[int, int]]:
        """``(start, end)`` samples of each window of an ``n``-sample file; the last reaches the end."""
        out, s = [], 0
        while True:
            out.append((s, min(s + self.window, n)))
            if s + self.window >= n:
                return out
            s += self.hop


class StatsInput:
    """What a prediction run reports about the model's input (cf. FeatureConfig)."""

    sr = D.SPEC["sr"]
    fmin = D.SPEC["fmin"]
    fmax = D.SPEC["sr"] / 2


def describe_windows(path: str | Path, plan: StatsPlan, *, on_seconds: Callable[[float], None] | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Descriptors of a file's windows, decoded block by block.

    Windows start every ``plan.hop`` samples; when they leave the end of the
    file uncovered, one more window covers its last ``plan.window`` samples.
    A file no longer than a window is one window: the whole clip, exactly as
    in training. Memory holds one block plus about one window of audio.

    Returns
    -------
    spans : np.ndarray, shape (n_windows, 2), samples
    X : np.ndarray, shape (n_windows, DIM)
    n : int, samples decoded at 16 kHz
    """
    from animalsnd.errors import AudioError
    from animalsnd.stream import iter_blocks

    w, h = plan.window, plan.hop
    buf = np.zeros(0, np.float32)
    start = 0  # sample index of buf[0]; the next window starts here
    n = 0
    spans, X = [], []
    for y in iter_blocks(path, sr=D.SPEC["sr"]):
        n += y.size
        buf = np.concatenate([buf, np.asarray(y, np.float32)])
        while buf.size >= w + h:  # keep the last full window for the tail
            X.append(D.describe(buf[:w]))
            spans.append((start, start + w))
            buf, start = buf[h:], start + h
        if on_seconds is not None:
            on_seconds(n / D.SPEC["sr"])
    if n == 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    # here buf holds [start, n): the whole file when shorter than w + h, else w to w + h - 1 samples
    if buf.size >= w:
        X.append(D.describe(buf[:w]))
        spans.append((start, start + w))
    if not spans or spans[-1][1] < n:  # shorter than a window, or an uncovered tail
        tail = buf[-w:]
        X.append(D.describe(tail))
        spans.append((n - tail.size, n))
    return np.array(spans, dtype=np.int64).reshape(-1, 2), np.stack(X), n


class StatsPredictor:
    """The ``stats-mlp`` bundle(s) of a MODEL_DIR behind the predictor interface (folds averaged)."""

    def __init__(self, bundles: Sequence, *, runtime: str = "auto", threads: int | None = None):
        if not bundles:
            raise BundleError("no model bundle given")
        if runtime not in ("auto", "keras"):
            raise ConfigError(f"--runtime {runtime}: a stats-mlp model runs with Keras (auto or keras)")
        first = bundles[0]
        for b in bundles:
            if b.kind != "stats":
                raise BundleError(f"{b.path}: not a stats-mlp bundle; cannot average it with {first.path}")
            if list(b.classes) != list(first.classes):
                raise BundleError(f"{b.path}: classes differ from {first.path}; cannot average folds")
            check_spec(b)
        self.bundles = list(bundles)
        self.runtime = "keras"
        self.classes: list[str] = list(first.classes)
        self.cfg = StatsInput()
        self._loader: threading.Thread | None = None
        self._error: BaseException | None = None
        self._loaded = False

    def _load(self) -> None:
        try:
            for b in self.bundles:
                b.model  # noqa: B018  (loads lazily)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def preload(self) -> "StatsPredictor":
        """Load the models in the background."""
        if self._loader is None:
            self._loader = threading.Thread(target=self._load, name="animalsnd-stats-load", daemon=True)
            self._loader.start()
        return self

    def _ready(self) -> None:
        if self._loaded:
            return
        if self._loader is not None:
            self._loader.join()
        else:
            self._load()
        if self._error is not None:
            raise self._error
        self._loaded = True

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """Mean class probabilities of the bundles for descriptors ``X`` (n, DIM)."""
        self._ready()
        X = np.asarray(X, dtype=np.float32)
        total = np.zeros((len(X), len(self.classes)), np.float64)
        for b in self.bundles:
            total += b.predict_proba(X, batch_size=batch_size)
        return (total / len(self.bundles)).astype(np.float32)

    def window_plan(self, window_s: float | None = None, hop_s: float | None = None) -> StatsPlan:
        return StatsPlan.from_seconds(window_s, hop_s)

    def scan(self, path: str | Path, plan: StatsPlan, *, batch_size: int = 64,
             on_seconds: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Windows (seconds), probabilities and duration of one file."""
        self._ready()
        spans, X, n = describe_windows(path, plan, on_seconds=on_seconds)
        sr = D.SPEC["sr"]
        return spans / sr, self.predict_proba(X, batch_size=batch_size), n / sr
