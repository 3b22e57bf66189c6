"""Save and load a trained model with everything needed to rebuild its inputs.

Layout of MODEL_DIR::

    model.keras     the Keras model (architecture + weights)
    bundle.json     classes, feature config, training options, data
                    fingerprint, test fold and its clips, metrics, history,
                    versions
    model.tflite    optional (``--export tflite``)

A bundle is written whole into a new folder beside MODEL_DIR and then
swapped in, so a failed save (disk full) leaves the previous bundle as it was
and a new one never keeps files of an old one (a stale ``model.tflite``).
``bundle.json`` lists the files it owns with their SHA-256; a file that is
not listed, or does not match, is refused when it is loaded.
A cross-validation run writes one bundle per fold, ``MODEL_DIR/fold-<k>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from animalsnd import __version__
from animalsnd.config import FeatureConfig
from animalsnd.errors import AnimalsndError, BundleError
from animalsnd.fileutil import c_stderr_silenced

BUNDLE_FILE = "bundle.json"
MODEL_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
FORMAT_VERSION = 1
_REQUIRED = ("classes", "input", "format")


def import_tensorflow():
    """Import TensorFlow and Keras quietly; returns the ``tensorflow`` module.

    ``TF_CPP_MIN_LOG_LEVEL=2`` hides C++ info/warning logs; the few lines
    written to stderr while the library loads (oneDNN notice) are dropped.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        with c_stderr_silenced():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]


@contextlib.contextmanager
def keras_numpy_notice_silenced():
    """Hide the NumPy 2 ``__array__(copy=...)`` DeprecationWarning Keras raises
    when it reads its own variables (saving, callbacks)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"keras\.")
        yield


def _versions() -> dict[str, str]:
    import keras

    tf = import_tensorflow()
    return {"animalsnd": __version__, "tensorflow": tf.__version__, "keras": keras.__version__}


def save_bundle(
    model_dir: str | Path,
    *,
    model: Any,
    classes: list[str],
    cfg: FeatureConfig,
    train_options: dict | None = None,
    fingerprint: str = "",
    cache_dir: str | Path | None = None,
    test_fold: int | None = None,
    test_shas: list[str] | None = None,
    metrics: dict | None = None,
    history: dict[str, list[float]] | None = None,
    extra: dict | None = None,
    export_tflite: bool = False,
    input_meta: dict | None = None,
    files: dict[str, bytes] | None = None,
) -> Path:
    """Write ``model.keras`` and ``bundle.json`` (and ``model.tflite``).

    Parameters
    ----------
    model_dir : path
        Created if needed; an existing bundle there is replaced.
    model : keras.Model
        Takes ``(batch, cfg.frames, cfg.n_mels)`` and returns
        ``(batch, len(classes))`` probabilities.
    classes : list of str
        Class labels in output order.
    cfg : FeatureConfig
        How the inputs were computed.
    test_fold, test_shas, cache_dir
        The held-out fold, the SHA-256 of its clips, and the cache they came
        from, so ``evaluate`` can rebuild the held-out set.
    input_meta : dict, optional
        The ``input`` section when the model does not take log-Mel features
        (e.g. ``{"kind": "birdnet", "backbone": ..., "pool": ..., "dim": ...}``).
    files : dict, optional
        More files the bundle owns, name -> content (e.g. ``screen.npz``);
        their SHA-256 is recorded like the model's.

    Returns
    -------
    Path
        ``model_dir``.
    """
    import_tensorflow()
    from animalsnd.dataset import sha256_file
    from animalsnd.fileutil import atomic_write_text, new_folder_beside, replace_folder

    model_dir = Path(model_dir)
    if model_dir.exists() and not model_dir.is_dir():
        raise BundleError(f"{model_dir}: is a file, not a model folder; choose another --out")
    tmp = new_folder_beside(model_dir)
    try:
        with keras_numpy_notice_silenced():
            model.save(tmp / MODEL_FILE)
        if export_tflite:
            (tmp / TFLITE_FILE).write_bytes(to_tflite(model))
        for name, content in (files or {}).items():
            if name in (MODEL_FILE, TFLITE_FILE, BUNDLE_FILE) or Path(name).name != name:
                raise ValueError(f"bundle file name {name!r} is reserved or not a plain name")
            (tmp / name).write_bytes(content)
        owned = [MODEL_FILE, *([TFLITE_FILE] if export_tflite else []), *(files or {})]
        meta = _bundle_meta(model, classes, cfg, train_options, fingerprint, cache_dir, test_fold, test_shas,
                            metrics, history, extra, export_tflite, input_meta)
        meta["file_sha256"] = {name: sha256_file(tmp / name) for name in owned}
        atomic_write_text(tmp / BUNDLE_FILE, json.dumps(meta, indent=2) + "\n")
        replace_folder(tmp, model_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model_dir


def _bundle_meta(model, classes, cfg, train_options, fingerprint, cache_dir, test_fold, test_shas, metrics,
                 history, extra, export_tflite, input_meta) -> dict:
    return {
        "format": FORMAT_VERSION,
        "versions": _versions(),
        "model_name": getattr(model, "name", ""),
        "classes": list(classes),
        "input": input_meta or {"kind": "logmel", "feature": cfg.to_dict()},
        "train": train_options or {},
        "data": {
            "fingerprint": fingerprint,
            "cache_dir": str(Path(cache_dir).resolve()) if cache_dir is not None else None,
            "test_fold": test_fold,
            "test_shas": list(test_shas or []),
        },
        "metrics": metrics or {},
        "history": history or {},
        "files": {"model": MODEL_FILE, **({"tflite": TFLITE_FILE} if export_tflite else {})},
        **(extra or {}),
    }


def to_tflite(model: Any) -> bytes:
    """Convert a Keras model to a TensorFlow Lite flatbuffer (float32)."""
    tf = import_tensorflow()
    try:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        return converter.convert()
    except Exception as exc:  # the converter raises many types
        msg = str(exc).strip().splitlines()
        raise BundleError(f"TFLite export failed: {msg[-1] if msg else type(exc).__name__}") from None


@dataclass
class Bundle:
    """A loaded model bundle; the model is loaded on first use.

    ``loader(path)`` reads the model file (its family's, see
    :func:`animalsnd.families.open_bundle`); without one it is a plain Keras
    model whose custom layers, if any, are registered already.
    """

    path: Path
    classes: list[str]
    cfg: FeatureConfig
    meta: dict
    _model: Any = field(default=None, repr=False)
    loader: Callable[[Path], Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def test_fold(self) -> int | None:
        return self.meta.get("data", {}).get("test_fold")

    @property
    def kind(self) -> str:
        """What the model takes: the ``input.kind`` its family wrote (``logmel`` features, ...)."""
        return self.meta["input"]["kind"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one model input: ``(dim,)`` for per-clip vectors, else ``(frames, n_mels)``."""
        dim = self.meta["input"].get("dim")
        return self.cfg.shape if dim is None else (int(dim),)

    @property
    def test_shas(self) -> list[str]:
        return list(self.meta.get("data", {}).get("test_shas") or [])

    @property
    def cache_dir(self) -> Path | None:
        d = self.meta.get("data", {}).get("cache_dir")
        return Path(d) if d else None

    @property
    def has_tflite(self) -> bool:
        """The bundle owns a ``model.tflite`` (listed in bundle.json; for older bundles: one is there)."""
        owned = self.meta.get("file_sha256")
        return TFLITE_FILE in owned if isinstance(owned, dict) else (self.path / TFLITE_FILE).is_file()

    def owned_file(self, name: str) -> Path:
        """``path/name``, checked against the SHA-256 bundle.json records for it.

        Raises
        ------
        BundleError
            The file is missing, not listed (left from an earlier run) or
            differs from the one saved (replaced or corrupt).
        """
        from animalsnd.dataset import sha256_file

        path = self.path / name
        if not path.is_file():
            raise BundleError(f"{path}: missing; re-run `animalsnd train`")
        owned = self.meta.get("file_sha256")
        if isinstance(owned, dict):  # bundles saved before the hashes were recorded are trusted as they are
            if name not in owned:
                raise BundleError(f"{path}: not part of this bundle (left from an earlier run); delete it "
                                  "or re-run `animalsnd train`")
            if sha256_file(path) != owned[name]:
                raise BundleError(f"{path}: does not match the sha256 in {BUNDLE_FILE} (replaced or corrupt); "
                                  "re-run `animalsnd train`")
        return path

    def check_model_shapes(self, input_shape, output_shape) -> None:
        """The model's input matches ``input_shape`` (None: any length) and its output the class list."""
        where = self.path / BUNDLE_FILE
        n_out = output_shape[-1] if output_shape else None
        if n_out is not None and int(n_out) != len(self.classes):
            raise BundleError(f"{where}: lists {len(self.classes)} classes but the model has {int(n_out)} "
                              "outputs (edited or mixed bundle); re-run `animalsnd train`")
        given = tuple(input_shape)[1:] if input_shape else ()
        if given and (len(given) != len(self.input_shape)
                      or any(g is not None and int(g) != w for g, w in zip(given, self.input_shape))):
            shape = tuple(None if g is None else int(g) for g in given)
            raise BundleError(f"{where}: its input settings give {self.input_shape} but the model takes "
                              f"{shape} (edited feature config); re-run `animalsnd train`")

    @property
    def model(self):
        if self._model is None:
            import_tensorflow()
            path = self.owned_file(MODEL_FILE)
            try:
                model = (self.loader or _keras_model)(path)
            except AnimalsndError:
                raise
            except Exception as exc:
                raise BundleError(f"{path}: cannot load model ({_one_line(exc)})") from None
            self.check_model_shapes(_shape(model, "input_shape"), _shape(model, "output_shape"))
            self._model = model
        return self._model

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : np.ndarray, shape (n, *input_shape)
            Features computed with ``self.cfg`` (``(n, frames, n_mels)``), or
            pooled embeddings (``(n, dim)``) for a ``birdnet`` bundle.

        Returns
        -------
        np.ndarray, shape (n, len(classes)), float32
        """
        X = np.asarray(X, dtype=np.float32)
        if X.shape[1:] != self.input_shape:
            raise BundleError(
                f"features of shape {X.shape[1:]} do not match the model input {self.input_shape}"
            )
        if len(X) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        model = self.model
        out = [
            np.asarray(model(X[i : i + batch_size], training=False))
            for i in range(0, len(X), batch_size)
        ]
        return np.concatenate(out).astype(np.float32, copy=False)


def _keras_model(path: Path):
    import keras

    return keras.models.load_model(str(path), compile=False)


def _shape(model, attr: str):
    try:
        shape = getattr(model, attr)
    except (AttributeError, ValueError, RuntimeError):  # a model without a single fixed input or output
        return None
    return shape if isinstance(shape, tuple) else None


def _one_line(exc: BaseException) -> str:
    lines = [s for s in str(exc).strip().splitlines() if s.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]


def load_bundle(model_dir: str | Path, *, check_meta: Callable[[dict], None] | None = None) -> Bundle:
    """Read ``bundle.json``; the model itself is loaded lazily.

    ``check_meta(meta)`` raises ValueError when the ``input`` section lacks
    what the bundle's family needs (:func:`animalsnd.families.open_bundle`).

    Raises
    ------
    BundleError
        Missing folder, missing or corrupt ``bundle.json``, or no ``model.keras``.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise BundleError(f"{model_dir}: model folder does not exist")
    path = model_dir / BUNDLE_FILE
    if not path.is_file():
        raise BundleError(f"{model_dir}: not a model bundle (no {BUNDLE_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in _REQUIRED if k not in meta]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        if not isinstance(meta["input"].get("kind"), str) or not meta["input"]["kind"]:
            raise ValueError(f"unknown input kind {meta['input'].get('kind')!r}")
        if check_meta is not None:
            check_meta(meta)
        cfg = FeatureConfig.from_dict(meta["input"]["feature"])
        classes = [str(c) for c in meta["classes"]]
        if len(classes) < 2:
            raise ValueError("fewer than two classes")
    except (ValueError, TypeError, KeyError, AttributeError, AnimalsndError) as exc:
        raise BundleError(f"{path}: corrupt bundle ({_one_line(exc)})") from None
    if not (model_dir / MODEL_FILE).is_file():
        raise BundleError(f"{model_dir}: corrupt bundle (missing {MODEL_FILE})")
    return Bundle(path=model_dir, classes=classes, cfg=cfg, meta=meta)


_FOLD_DIR = re.compile(r"^fold-(\d+)$")


def find_bundles(model_dir: str | Path) -> list[Path]:
    """The bundle in ``model_dir``, or its ``fold-<k>`` bundles by fold number.

    Raises
    ------
    BundleError
        No bundle there.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise BundleError(f"{model_dir}: model folder does not exist")
    if (model_dir / BUNDLE_FILE).exists():
        return [model_dir]
    folds = []
    for p in model_dir.iterdir():
        m = _FOLD_DIR.match(p.name)
        if m and p.is_dir() and (p / BUNDLE_FILE).exists():
            folds.append((int(m.group(1)), p))
    if not folds:
        raise BundleError(
            f"{model_dir}: not a model bundle (no {BUNDLE_FILE} and no fold-*/{BUNDLE_FILE})"
        )
    folds.sort()
    runs = {_recorded_folds(p) for _, p in folds} - {None}
    if len(runs) > 1 or (runs and [k for k, _ in folds] != list(range(next(iter(runs))))):
        raise BundleError(
            f"{model_dir}: fold-* bundles of different runs ({len(folds)} folders, runs of "
            f"{' and '.join(map(str, sorted(runs)))} folds); re-run `animalsnd train --cv` or delete the extra ones"
        )
    return [p for _, p in folds]


def _recorded_folds(bundle_dir: Path) -> int | None:
    """How many folds the cross-validation run that saved this bundle had (None: not recorded)."""
    try:
        n = json.loads((bundle_dir / BUNDLE_FILE).read_text(encoding="utf-8")).get("training", {}).get("n_folds")
        return int(n) if n is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def remove_stale_folds(model_dir: str | Path, n_folds: int) -> list[Path]:
    """Delete ``fold-<k>`` bundles with ``k >= n_folds`` (an earlier run's), so the folder holds one run."""
    model_dir, gone = Path(model_dir), []
    if model_dir.is_dir():
        for p in sorted(model_dir.iterdir()):
            m = _FOLD_DIR.match(p.name)
            if m and p.is_dir() and int(m.group(1)) >= n_folds:
                shutil.rmtree(p)
                gone.append(p)
    return gone
