"""Does the recording chain still name the class in what a model trains on?

The audit (:mod:`animalsnd.audit_report`) scores the recordings as they were
delivered. A model trains on what it hears of them: each clip resampled to the
cache's rate and cut to the feature window, plus the copies of an augmented
set. :func:`training_shortcut` measures the properties the audio itself shows
(:data:`animalsnd.audit.WAVEFORM_PROPERTIES`: effective bandwidth, capped at
the cache's analysis cut-off, duration, level, peak, silence) on both, exactly as rendered (a chain copy through its
own recording chain), and scores the audit's shortcut forest on them over the
cache's folds (a copy in its source clip's fold): clean clips alone, copies
alone, and both together (the training data of ``train --augmented``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from animalsnd.audit import WAVEFORM_PROPERTIES, waveform_properties
from animalsnd.errors import AudioError, DatasetError

__all__ = ["LEVEL_PROPERTIES", "heard_properties", "training_shortcut"]

LEVEL_PROPERTIES = ("rms_dbfs", "peak_dbfs")


def _heard(recipe: dict | None, path: str, sr: int, window: int, noise_root: str, reference: str) -> dict | str:
    """Worker: the waveform properties of one clean clip (``recipe`` None) or copy, at the cache's rate."""
    from animalsnd.audio import load
    from animalsnd.augment.vectors import copy_signal

    try:
        y = load(path, sr=sr)[0] if recipe is None else copy_signal(
            recipe, sr=sr, noise_root=noise_root, cache_sr=sr, reference=reference)
    except AudioError as exc:
        return str(exc)
    return waveform_properties(y[:window], sr)


def heard_properties(cache_dir: str | Path, name: str | None = None, *, jobs: int = -1,
                     progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Waveform properties of the cache's usable clips (``name`` None) or of the copies of
    augmented set ``name``, each with ``label``, ``fold`` and ``copy`` (bool).

    Raises
    ------
    DatasetError
        No such set, or a clip or copy that can no longer be rendered.
    """
    from animalsnd.augment.store import feature_window
    from animalsnd.augment.vectors import read_set
    from animalsnd.cache import read_config, read_manifest, usable_rows
    from animalsnd.config import FeatureConfig
    from animalsnd.parallel import TaskFailure, run_parallel

    cache_dir = Path(cache_dir)
    cfg = FeatureConfig.from_dict(read_config(cache_dir)["feature"])
    window = feature_window(cfg)
    if name is None:
        rows = usable_rows(cache_dir)
        meta = [{"label": r["label"], "fold": int(r["fold"]), "copy": False} for r in rows]
        tasks = [(None, r["path"], cfg.sr, window, "", "active") for r in rows]
    else:
        conf, rows = read_set(cache_dir, name)
        folds = {r["sha256"]: int(r["fold"]) for r in read_manifest(cache_dir) if r["status"] == "ok"}
        meta = [{"label": r["label"], "fold": folds.get(r["source_sha256"], int(r["source_fold"])), "copy": True}
                for r in rows]
        tasks = [(r, r["source_path"], cfg.sr, window, str(conf["noise_dir"]), str(conf.get("reference", "active")))
                 for r in rows]
    out = []
    for m, t, res in zip(meta, tasks, run_parallel(_heard, tasks, jobs=jobs, progress=progress)):
        if isinstance(res, (str, TaskFailure)):
            raise DatasetError(f"{t[1]}: {res if isinstance(res, str) else res.error}")
        if cfg.fmax:  # nothing above the analysis cut-off reaches a model
            res = {**res, "bandwidth_hz": min(res["bandwidth_hz"], float(cfg.fmax))}
        out.append({**m, **res})
    return out


def training_shortcut(cache_dir: str | Path, name: str | None = None, *,
                      props: Sequence[str] = WAVEFORM_PROPERTIES, jobs: int = -1) -> dict:
    """Shortcut scores (:func:`animalsnd.audit_report.shortcut_score`) of the ``props`` of what
    a model hears: ``{"clean": ..., "copies": ..., "clean+copies": ...}`` (the last two
    only with an augmented set ``name``), each a :class:`~animalsnd.audit_report.Shortcut`."""
    from animalsnd.audit_report import shortcut_score

    clean = heard_properties(cache_dir, jobs=jobs)
    out = {"clean": shortcut_score(clean, tuple(props))}
    if name is not None:
        copies = heard_properties(cache_dir, name, jobs=jobs)
        out["copies"] = shortcut_score(copies, tuple(props))
        out["clean+copies"] = shortcut_score(clean + copies, tuple(props))
    return out
