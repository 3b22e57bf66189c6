"""Noisy copies for the models on per-clip vectors (clip descriptors, BirdNET embeddings).

An augmented set (``animalsnd augment``) stores the log-Mel features of its
copies and, in its manifest, each copy's recipe: source clip, noise file,
offset and target SNR, and with ``--chain random`` the copy's recording chain. The vector models re-render every copy from that
recipe at their own sample rate (the same noise segment, scaled to the same
SNR against the call's active level) and describe or embed it exactly as
a training clip, so ``train --augmented NAME`` means the same copies for
every model kind. The copies' vectors are cached next to the clean ones::

    <clean store>/augment/<set name>-<set key>/<copy id>.npz

As with the log-Mel copies, only the copies of a split's training clips
ever join its training data.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsnd.errors import AudioError, DatasetError

__all__ = ["CopyVectors", "copy_signal", "copy_vectors", "read_set"]


@dataclass
class CopyVectors:
    """Vectors of an augmented set's copies, aligned with its rows."""

    X: np.ndarray  # (n, ...) float32
    labels: list[str]
    source_shas: list[str]

    def for_training(self, train_shas: set[str], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of the copies whose source is one of ``train_shas``."""
        keep = [i for i, s in enumerate(self.source_shas) if s in train_shas and self.labels[i] in classes]
        y = np.array([classes.index(self.labels[i]) for i in keep], dtype=int)
        return self.X[keep], y


def copy_signal(recipe: dict, *, sr: int, noise_root: str, cache_sr: int, reference: str = "active") -> np.ndarray:
    """The noisy waveform of one copy at ``sr``, from its manifest row ``recipe``.

    The noise offset is stored in samples at the cache's rate ``cache_sr``;
    it is rescaled to ``sr``. The SNR is the copy's target SNR, measured
    against the source's active level at ``sr``. A copy of a set made with
    ``augment --chain random`` then goes through its stored recording chain
    (:func:`animalsnd.augment.chain.apply_chain`) at ``sr``.
    """
    from animalsnd.audio import load
    from animalsnd.augment.noise import NoiseMixer
    from animalsnd.augment.noisebank import load_noise_waveforms

    y, _ = load(recipe["source_path"], sr=sr)
    y = y.astype(np.float32)
    if recipe.get("noise_file"):  # empty: a chain-only copy (augment --chain random without --noise)
        noise = load_noise_waveforms(noise_root, (recipe["noise_file"],), sr)[0]
        mixer = NoiseMixer([noise], snr_db=float(recipe["target_snr_db"]), reference=reference, sr=sr,
                           noise_names=[recipe["noise_file"]])
        offset = int(round(int(recipe["offset"]) * sr / cache_sr)) % noise.size
        mixer.params = {"snr_db": float(recipe["target_snr_db"]), "noise_index": 0,
                        "noise_name": recipe["noise_file"], "offset": offset}
        y = mixer.apply(y).astype(np.float32)
    if recipe.get("chain"):  # the copy's recording chain, drawn when the set was made
        from animalsnd.augment.chain import apply_chain

        y = apply_chain(y, sr, recipe["chain"])
    return y


def _copy_work(recipe: dict, out: str, compute: Callable, sr: int, noise_root: str, cache_sr: int,
               reference: str) -> str | None:
    """Worker: one copy's vector written to ``out``, or why it failed."""
    from animalsnd.cache import save_npz

    try:
        x = compute(copy_signal(recipe, sr=sr, noise_root=noise_root, cache_sr=cache_sr, reference=reference))
    except AudioError as exc:
        return str(exc)
    save_npz(Path(out), x=np.asarray(x, dtype=np.float32))
    return None


def read_set(cache_dir: str | Path, name: str) -> tuple[dict, list[dict]]:
    """``(config, manifest rows)`` of augmented set ``name`` of a cache.

    Raises
    ------
    DatasetError
        No such (complete) set.
    """
    from animalsnd.augment.store import list_augmented

    cache_dir = Path(cache_dir)
    if name not in list_augmented(cache_dir):
        raise DatasetError(f"{cache_dir}: no augmented set {name!r}; run `animalsnd augment` first")
    folder = cache_dir / "augment" / name
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return json.loads((folder / "config.json").read_text()), rows


def copy_vectors(cache_dir: str | Path, name: str, *, store: Path, compute: Callable, sr: int,
                 jobs: int = -1, progress=None) -> CopyVectors:
    """Vectors (``compute(waveform at sr)``) of every copy of augmented set ``name``.

    Computed in parallel where missing, reused otherwise.

    Raises
    ------
    DatasetError
        No such set, or a copy whose source or noise can no longer be read.
    """
    from animalsnd.cache import read_config
    from animalsnd.parallel import TaskFailure, run_parallel

    cache_dir = Path(cache_dir)
    conf, rows = read_set(cache_dir, name)
    out_dir = store / "augment" / f"{name}-{conf.get('key', 'x')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_sr = int(read_config(cache_dir)["feature"]["sr"])
    todo = [r for r in rows if not (out_dir / f"{r['id']}.npz").exists()]
    tasks = [(r, str(out_dir / f"{r['id']}.npz"), compute, sr, str(conf["noise_dir"]), cache_sr,
              str(conf.get("reference", "active"))) for r in todo]
    for r, res in zip(todo, run_parallel(_copy_work, tasks, jobs=jobs, progress=progress)):
        if res is not None:
            why = res.error if isinstance(res, TaskFailure) else res
            raise DatasetError(f"augmented copy {r['id']} of set {name!r} ({r['source_path']}): {why}")
    X = []
    for r in rows:
        with np.load(out_dir / f"{r['id']}.npz") as z:
            X.append(np.asarray(z["x"], dtype=np.float32))
    return CopyVectors(X=np.stack(X) if X else np.zeros((0, 0), np.float32), labels=[r["label"] for r in rows],
                       source_shas=[r["source_sha256"] for r in rows])
