"""``--model stats-mlp``: a small network on clip descriptors, trained from scratch.

Pipeline per clip: 16 kHz audio -> the clip's active region
(:mod:`animalsnd.trim`) -> :func:`animalsnd.descriptors.describe` (491
statistics of the level-normalised Mel spectrum, MFCCs, envelope
periodicity and spectral contrast; cached per clip next to the log-Mel
features) -> the network::

    descriptor (491) -> standardise (mean/variance of the training split, stored
                        in the model) -> GaussianNoise (training only)
                     -> Dense(hidden, relu) -> Dropout -> Dense(n_classes, softmax)

No pretrained weights are involved. The per-band z-normalisation of the
log-Mel input removes every band's level; the descriptors keep that spectral
envelope, which is where the convolutional models lose most (docs/models.md).

Augmentation happens in descriptor space (Gaussian noise on the standardised
input, ``--mixup``) and, with ``--augmented``, on an augment set's noisy copies,
re-rendered from its manifest and described (:mod:`animalsnd.augment.vectors`).
Prediction on long recordings describes each window the same way, untrimmed
(:class:`StatsPredictor`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from animalsnd import descriptors as D
from animalsnd import fitting as F
from animalsnd.errors import BundleError, ConfigError
from animalsnd.families.vector_head import VectorFamily, VectorPredictor, fit_vector_head

__all__ = ["DEFAULT_OPTIONS", "FAMILY", "StatsPredictor", "eval_data", "input_meta", "train_fold"]

#: Builder options (``--model-option``); chosen by 5-fold CV on animal-sounds-10 (docs/results.md).
DEFAULT_OPTIONS = {"hidden": 256, "dropout": 0.3, "noise": 0.1, "l2": 0.0}
_AUG_MSG = "--augmented needs the cache the set was built on"
_SETS: dict[str, object] = {}  # cache -> DescriptorSet, for repeated folds


def input_meta(ds) -> dict:
    """The bundle's ``input`` section for a network trained on ``ds``."""
    return {"kind": "stats", "dim": D.DIM, "spec": D.spec(ds.cfg.fmax), "sr": D.SPEC["sr"],
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
    if not isinstance(fs, D.DescriptorSet):
        if cache_dir is None:
            raise ConfigError("stats-mlp trains on clip descriptors: pass the cache folder")
        fs = descriptor_set_for(cache_dir)
    return fit_vector_head(fs, config=config, test_fold=test_fold, input_meta=input_meta(fs),
                           defaults=DEFAULT_OPTIONS, name="stats_mlp", input_name="descriptor",
                           augmented=augmented, aug_msg=_AUG_MSG, out_dir=out_dir, cache_dir=cache_dir,
                           export_tflite=export_tflite, on_epoch=on_epoch,
                           copies=copy_descriptors(cache_dir or fs.cache_dir, augmented, fs.cfg.fmax))


def copy_descriptors(cache_dir, augmented, fmax):
    """Descriptors of an augmented set's noisy copies (None without a set)."""
    if augmented is None or not len(augmented.X) or cache_dir is None:
        return None
    from functools import partial

    from animalsnd.augment.vectors import copy_vectors

    return copy_vectors(cache_dir, augmented.name, store=D.store_dir(cache_dir, fmax),
                        compute=partial(D.describe_clip, fmax=fmax), sr=D.SPEC["sr"])


# ------------------------------------------------------------------ evaluation data
def check_spec(bundle) -> None:
    """The installed descriptor definition must be the one the bundle was trained on."""
    want = D.spec(bundle.cfg.fmax)  # the analysis cut-off is the bundle's feature config's
    if bundle.meta["input"].get("spec") != want:
        raise BundleError(f"{bundle.path}: trained on descriptors {bundle.meta['input'].get('spec')}, "
                          f"but this animalsnd computes {want}; retrain the model")


def eval_data(bundle, data=None, *, jobs: int = -1, progress=None):
    """:class:`~animalsnd.inputs.EvalData` of descriptors for a stats-mlp bundle.

    ``data`` None: the bundle's held-out fold (from its cache's descriptor
    store, computed if missing); a prepared cache: all its usable clips; a
    folder: every file of the model's classes, described without caching.
    """
    from functools import partial

    from animalsnd.inputs import folder_inputs, is_cache, store_data

    check_spec(bundle)
    fmax = bundle.cfg.fmax
    if data is None or is_cache(Path(data)):
        return store_data(bundle, data, ensure=partial(D.ensure_descriptors, fmax=fmax), read=D.read_descriptor,
                          dim=D.DIM, jobs=jobs, progress=progress)
    return folder_inputs(Path(data), bundle.classes, partial(D.describe_file, fmax=fmax), empty_shape=(D.DIM,),
                         jobs=jobs, progress=progress)


# ------------------------------------------------------------------ prediction
# 2-s windows every 1 s, each pooled (max) with its overlapping neighbours: on field-like
# soundscapes of held-out clips, window mAP 0.41-0.43 with 5-s windows, 0.54-0.55 with these,
# on the wind proxy and the rain test alike (docs/results.md, "Unseen protocol")
DEFAULT_WINDOW_S = 2.0
DEFAULT_POOL = "max"
#: predict reports a window only when its label is the best class of 2 of the 3 raw windows around it:
#: chosen on the wind proxy of the soundscape benchmark (F1 0.264 -> 0.290), confirmed on its rain test
#: (0.396 -> 0.416; non-animal recordings labelled 11 -> 10 of 61) (docs/results.md)
DEFAULT_MIN_SUPPORT = 2


class StatsPlan:
    """Prediction windows in samples at 16 kHz (``window``, ``hop``)."""

    def __init__(self, window: int, hop: int, fmax: float | None = None) -> None:
        self.window, self.hop, self.fmax = window, hop, fmax
        self.cfg = StatsInput(fmax)

    @classmethod
    def from_seconds(cls, window_s: float | None = None, hop_s: float | None = None,
                     fmax: float | None = None) -> "StatsPlan":
        """``window_s`` (default :data:`DEFAULT_WINDOW_S`) and ``hop_s`` (default half a window),
        at least 0.1 s each."""
        for name, v in (("--window", window_s), ("--hop", hop_s)):
            if v is not None and not v > 0:
                raise ConfigError(f"{name} {v} must be a positive number of seconds")
        w = window_s or DEFAULT_WINDOW_S
        h = hop_s if hop_s is not None else w / 2
        sr = D.SPEC["sr"]
        return cls(max(int(round(w * sr)), sr // 10), max(int(round(h * sr)), sr // 10), fmax)


class StatsInput:
    """What a prediction run reports about the model's input (cf. FeatureConfig)."""

    sr = D.SPEC["sr"]
    fmin = D.SPEC["fmin"]

    def __init__(self, fmax: float | None = None) -> None:
        self.fmax = D.SPEC["sr"] / 2 if fmax is None else fmax


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
            X.append(D.describe(buf[:w], fmax=plan.fmax))
            spans.append((start, start + w))
            buf, start = buf[h:], start + h
        if on_seconds is not None:
            on_seconds(n / D.SPEC["sr"])
    if n == 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    # here buf holds [start, n): the whole file when shorter than w + h, else w to w + h - 1 samples
    if buf.size >= w:
        X.append(D.describe(buf[:w], fmax=plan.fmax))
        spans.append((start, start + w))
    if not spans or spans[-1][1] < n:  # shorter than a window, or an uncovered tail
        tail = buf[-w:]
        X.append(D.describe(tail, fmax=plan.fmax))
        spans.append((n - tail.size, n))
    return np.array(spans, dtype=np.int64).reshape(-1, 2), np.stack(X), n


class StatsPredictor(VectorPredictor):
    """The ``stats-mlp`` bundle(s) of a MODEL_DIR behind the predictor interface (folds averaged)."""

    kind, name = "stats", "stats-mlp"
    default_pool = DEFAULT_POOL  # predict's pooling of overlapping windows unless --pool says otherwise
    default_min_support = DEFAULT_MIN_SUPPORT  # predict's persistence rule unless --min-support says otherwise

    def __init__(self, bundles: Sequence, *, runtime: str = "auto", threads: int | None = None):
        def check(b, first) -> None:
            if list(b.classes) != list(first.classes):
                raise BundleError(f"{b.path}: classes differ from {first.path}; cannot average folds")
            check_spec(b)

        super().__init__(bundles, runtime=runtime, check=check)
        self.fmax = self.bundles[0].cfg.fmax
        self.cfg = StatsInput(self.fmax)

    def window_plan(self, window_s: float | None = None, hop_s: float | None = None) -> StatsPlan:
        return StatsPlan.from_seconds(window_s, hop_s, self.fmax)

    def scan(self, path: str | Path, plan: StatsPlan, *, batch_size: int = 64,
             on_seconds: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Windows (seconds), probabilities and duration of one file."""
        self._ready()
        spans, X, n = describe_windows(path, plan, on_seconds=on_seconds)
        sr = D.SPEC["sr"]
        return spans / sr, self.predict_proba(X, batch_size=batch_size), n / sr


def _describe(y: np.ndarray, fmax) -> np.ndarray:  # a whole clip (eval --chain, --noise): trimmed
    """The clip descriptor of waveform ``y`` at the descriptors' rate (its active region)."""
    return D.describe_clip(y, fmax=fmax)


# ------------------------------------------------------------------ the family
class StatsMlpFamily(VectorFamily):
    """``stats-mlp``: a small network on clip descriptors."""

    input_kind = "stats"
    inputs_label = "Clip descriptors"
    models = ("stats-mlp",)
    # a small network on 491 clip statistics (~0.05 s per epoch): every training clip is used for
    # fitting (no validation part) for a fixed 150 epochs, chosen by 5-fold CV (docs/results.md)
    defaults = {"stats-mlp": dict(F.ROBUST, spec_augment=False, epochs=150, early_stopping=False,
                                  val_fraction=0.0, lr_patience=8)}
    options = ("shots",)
    model_options = DEFAULT_OPTIONS
    required = ("spec", "dim")
    # 2: whole clips cut to their active region before they are described (animalsnd.trim)
    revisions = {"stats-mlp": 2}

    def load_inputs(self, cache_dir, config, *, jobs: int = -1, progress=None):
        return D.load_descriptor_set(cache_dir, jobs=jobs, progress=progress)

    def inputs_like(self, fs, cache_dir, config, *, jobs: int = -1):
        return descriptor_set_for(cache_dir, jobs=jobs)

    def train_fold(self, inputs, **kwargs):
        return train_fold(inputs, **kwargs)

    def eval_data(self, bundle, data=None, *, jobs: int = -1, progress=None):
        return eval_data(bundle, data, jobs=jobs, progress=progress)

    def predictor(self, bundles, *, runtime: str = "auto", threads: int | None = None):
        return StatsPredictor(bundles, runtime=runtime, threads=threads)

    def vector_input(self, pool: str, fmax):
        from animalsnd.families import WaveInput

        return WaveInput(int(D.SPEC["sr"]), _describe, (fmax,))

    def input_notes(self, config) -> list[str]:
        return ["clip descriptors, " + ", ".join(f"{k}={v}" for k, v in self.model_options.items()
                                                 if k not in config.model_options)]


FAMILY = StatsMlpFamily()
