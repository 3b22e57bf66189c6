"""Build augmented feature sets: noisy copies of a cache's clips.

Layout of ``CACHE_DIR/augment/NAME/``::

    config.json     options, noise file hashes, feature config, build key, status
    manifest.csv    one row per augmented copy (source, noise, offset, SNRs)
    <id>.npz        float32 [t <= frames, n_mels] log-Mel of the noisy copy + metadata

Noise is mixed into the source waveform (before feature extraction), cropped
to the window the features cover. Copies are made for the clips of every
fold and tagged with their source's content hash and fold, so a training
split uses only the copies of its own training clips.

Two modes:

``calibrated``
    SNR uniform in the range (default 10-20 dB) against the *active* level of
    the call; every class gets the same number of copies, or by default
    enough to reach the largest class; a class's clips are used round-robin,
    so a minority clip gets more copies.
``simple``
    The naive baseline: SNR uniform in 0-20 dB against the whole-clip level;
    sources drawn at random over all clips regardless of class (the class mix
    follows the original imbalance); as many copies in total as
    ``calibrated`` would make.

Every copy draws its noise, offset and SNR from its own generator,
``SeedSequence(seed, spawn_key=(index,))``, so results do not depend on
``jobs`` or on the order of work.

The pieces: :mod:`animalsnd.augment.copies` (one copy's audio, generator and
mix), :mod:`animalsnd.augment.plan` (which clip each copy comes from),
:mod:`animalsnd.augment.sets` (reading the sets); their public names are
importable from here too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd import __version__
from animalsnd.audio import load
from animalsnd.augment.copies import CLEAN_INFO, copy_rng, feature_window, mix
from animalsnd.augment.noise import NoiseMixer
from animalsnd.augment.noisebank import load_noise_bank, load_noise_waveforms
from animalsnd.augment.plan import Copy, check_sources, plan_copies, targets
from animalsnd.augment.sets import AugmentedSet, list_augmented, load_augmented, read_json
from animalsnd.augment.snr_options import snr_range
from animalsnd.background import BACKGROUND
from animalsnd.cache import Progress, atomic_write_text, read_config, run_parallel, save_npz, usable_rows
from animalsnd.cache_check import UNREADABLE
from animalsnd.config import FeatureConfig
from animalsnd.errors import AudioError, ConfigError, DatasetError
from animalsnd.features import logmel
from animalsnd.fileutil import atomic_write_csv
from animalsnd.parallel import check_backend

__all__ = [
    "DEFAULT_SNR",
    "MANIFEST_COLUMNS",
    "MODES",
    "REFERENCE",
    "AugmentResult",
    "AugmentedSet",
    "Copy",
    "build_augmented",
    "copy_rng",
    "feature_window",
    "list_augmented",
    "load_augmented",
    "mix",
    "plan_copies",
]

MODES = ("calibrated", "simple")
DEFAULT_SNR = {"calibrated": (10.0, 20.0), "simple": (0.0, 20.0)}
#: SNR range of the copies of ``background`` clips: the noise dominates them (docs/augmentation.md)
DEFAULT_BACKGROUND_SNR = (-20.0, 0.0)
REFERENCE = {"calibrated": "active", "simple": "whole"}
MANIFEST_COLUMNS = [
    "id", "copy_index", "source_path", "source_sha256", "source_fold", "label",
    "noise_file", "offset", "target_snr_db", "realised_snr_db", "active_snr_db",
    "gain", "n_frames", "chain",
]
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FORMAT = 1  # bump when the stored copies change meaning


def _check_options(mode, snr, per_class, name, seed, jobs) -> tuple[tuple[float, float], str]:
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} must be one of {', '.join(MODES)}")
    lo, hi = snr_range(snr, DEFAULT_SNR[mode])
    if per_class is not None and (
        not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1
    ):
        raise ConfigError(f"per-class={per_class!r} must be a positive integer")
    name = mode if name is None else str(name)
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"name={name!r} must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)"
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    if not isinstance(jobs, int) or jobs == 0:
        raise ConfigError(f"jobs={jobs!r} must be -1 (all cores) or a positive integer")
    return (lo, hi), name


# ------------------------------------------------------------------ workers
def _augment_source(
    path: str,
    cfg: FeatureConfig,
    noise_root: str | None,
    noise_names: tuple[str, ...],
    snr: tuple[float, float],
    reference: str,
    seed: int,
    copies: list[tuple[int, str]],
    out_dir: str,
    chain: str | None = None,
) -> list[dict]:
    """Worker: all pending copies of one source clip; returns their metadata.

    ``chain`` ``"random"``: each noisy copy then goes through a random
    recording chain (:mod:`animalsnd.augment.chain`), drawn from the copy's
    generator after the noise, and its parameters are kept in ``chain``.
    """
    try:
        y, _ = load(path, sr=cfg.sr, min_samples=cfg.n_fft)
    except AudioError as exc:
        return [{"id": cid, "status": "failed", "error": str(exc)} for _, cid in copies]
    y = y[: feature_window(cfg)]
    mixer = None
    if noise_root is not None:
        noises = load_noise_waveforms(noise_root, noise_names, cfg.sr)
        mixer = NoiseMixer(noises, snr_db=snr, reference=reference, sr=cfg.sr, noise_names=noise_names)
    out = []
    recorder = None if chain is None else _random_chain(cfg.sr)
    for index, cid in copies:
        rng = copy_rng(seed, index)
        mixed, info = mix(y, mixer, rng) if mixer is not None else (np.asarray(y, np.float32), dict(CLEAN_INFO))
        if recorder is not None:
            mixed = recorder(mixed, rng)
            info["chain"] = json.dumps(recorder.params, sort_keys=True)
        x = logmel(mixed, cfg=cfg, pad=False)
        meta = {"id": cid, "copy_index": index, **info, "n_frames": int(x.shape[0])}
        save_npz(Path(out_dir) / f"{cid}.npz", x=x, meta=np.array(json.dumps(meta)))
        out.append({"status": "ok", **meta})
    return out


def _read_npz_meta(path: Path) -> dict | None:
    try:
        with np.load(path) as z:
            return json.loads(str(z["meta"]))
    except UNREADABLE:
        return None


# -------------------------------------------------------------------- build
@dataclass
class AugmentResult:
    """What :func:`build_augmented` made."""

    cache_dir: Path
    name: str
    out_dir: Path
    mode: str
    snr_db: tuple[float, float]
    reference: str
    rows: list[dict]  # manifest rows, one per copy
    computed: int
    reused: int
    source_counts: dict[str, int]  # usable clips per class in the cache
    n_noises: int
    warnings: list[str] = field(default_factory=list)

    def noisy_shares(self) -> dict[str, float]:
        """Per class, the share of noisy copies among its clips after augmentation."""
        return {r["label"]: r["copies"] / max(r["sources"] + r["copies"], 1) for r in self.per_class()}

    def per_class(self) -> list[dict]:
        """Per class: ``label``, ``sources``, ``copies`` and the realised SNR's
        ``snr_mean``, ``snr_min``, ``snr_max`` (None without copies)."""
        snrs: dict[str, list[float]] = defaultdict(list)
        for r in self.rows:
            snrs[r["label"]].append(float(r["realised_snr_db"]))
        out = []
        for label in sorted(set(self.source_counts) | set(snrs)):
            v = snrs.get(label, [])
            out.append({
                "label": label,
                "sources": self.source_counts.get(label, 0),
                "copies": len(v),
                "snr_mean": round(float(np.mean(v)), 4) if v else None,
                "snr_min": min(v) if v else None,
                "snr_max": max(v) if v else None,
            })
        return out


def _short_list(items: list[str], k: int = 3) -> str:
    head = ", ".join(items[:k])
    return head + (f" and {len(items) - k} more" if len(items) > k else "")


def build_augmented(
    cache_dir: str | Path,
    noise_dir: str | Path,
    *,
    mode: str = "calibrated",
    snr: str | tuple[float, float] | None = None,
    per_class: int | None = None,
    name: str | None = None,
    seed: int = 0,
    jobs: int = -1,
    backend: str = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
    chain: str | None = None,
    background_snr: str | tuple[float, float] | None = None,
) -> AugmentResult:
    """Mix background noise into a prepared cache's clips and cache the features.

    Parameters
    ----------
    cache_dir : str or Path
        A cache written by ``animalsnd prepare`` (its source audio must exist).
    noise_dir : str or Path or None
        Folder of noise recordings, searched recursively. ``None`` (with
        ``chain="random"`` only): chain-only copies, the clean clip through a
        random recording chain, no noise (SNR infinite in the manifest).
    mode : {"calibrated", "simple"}
    snr : str or (float, float), optional
        SNR range in dB, ``"10:20"``; default 10:20 (calibrated), 0:20 (simple).
    per_class : int, optional
        Copies per class; default: enough to bring every class to the size of
        the largest. ``simple`` makes the same total, drawn regardless of class.
    name : str, optional
        Set name (folder under ``CACHE_DIR/augment``); default: ``mode``.
    seed : int
    jobs : int
        Parallel workers (-1: all cores). Does not change the result.
    backend, scheduler : str
        ``"local"`` processes or ``"dask"`` with a scheduler address (see
        :func:`animalsnd.parallel.run_parallel`). Does not change the result.
    progress : callable(done, total), optional
        Called as source clips finish.
    chain : {None, "random"}
        ``"random"``: every copy also goes through a random recording chain
        (:class:`animalsnd.augment.chain.RandomChain`).
    background_snr : str or (float, float), optional
        SNR range of the copies of ``background`` clips; default
        :data:`DEFAULT_BACKGROUND_SNR` (-20 to 0 dB: the noise dominates
        them, so the "no animal" class also learns noise beds on their own,
        as a field recording's quiet stretches hold them); ``"same"``: ``snr``.

    Returns
    -------
    AugmentResult

    Raises
    ------
    ConfigError
        A bad option value.
    DatasetError
        Not a cache, no usable noise, or no source audio left.
    """
    snr_db, name = _check_options(mode, snr, per_class, name, seed, jobs)
    same = isinstance(background_snr, str) and background_snr.strip().lower() == "same"
    bg_snr_db = snr_db if same else snr_range(background_snr, DEFAULT_BACKGROUND_SNR)
    chain_spec = _chain_spec(chain)
    check_backend(backend, scheduler)
    reference = REFERENCE[mode]
    cache_dir = Path(cache_dir)
    conf = read_config(cache_dir)
    cfg = FeatureConfig.from_dict(conf["feature"])
    rows = usable_rows(cache_dir)
    if noise_dir is None and chain_spec is None:
        raise ConfigError("augment needs noise (--noise DIR), a recording chain (--chain random), or both")
    bank = None if noise_dir is None else load_noise_bank(noise_dir, sr=cfg.sr)
    warnings = [f"noise {n}: {why}; skipped" for n, why in bank.skipped] if bank is not None else []

    sources, bad = check_sources(cache_dir, rows)
    if not sources:
        raise DatasetError(
            f"{cache_dir}: the source audio of all {len(rows)} clips is missing or changed "
            f"(e.g. {bad[0][0]}: {bad[0][1]}); augment mixes noise into the prepared recordings"
        )
    if bad:
        warnings.append(
            f"{len(bad)} of {len(rows)} source files are missing or changed since prepare and get "
            f"no copies: {_short_list([f'{p} ({why})' for p, why in bad])}"
        )
    counts = dict(sorted(Counter(r["label"] for r in rows).items()))
    have = {r["label"] for r in sources}
    for label, n in targets(counts, per_class).items():
        if n and label not in have:
            warnings.append(f"class {label!r}: no source audio left; no copies")
    plan = plan_copies(sources, mode=mode, counts=counts, per_class=per_class, seed=seed)
    if not plan:
        warnings.append("classes are already balanced, so no copies were made; use --per-class N")

    options = {
        "format": _FORMAT,
        "mode": mode,
        "snr_db": list(snr_db),
        "reference": reference,
        "per_class": per_class,
        "seed": seed,
        "noise": bank.fingerprint() if bank is not None else None,
        "feature_hash": cfg.hash(),
        "plan": [[c.index, c.source["sha256"], c.source["label"]] for c in plan],
        **({"chain": chain_spec} if chain_spec else {}),
        # only where it matters, so sets of caches without the class keep their key
        **({"background_snr_db": list(bg_snr_db)} if any(c.source["label"] == BACKGROUND for c in plan) else {}),
    }
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    out_dir = cache_dir / "augment" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    prev = read_json(out_dir / "config.json")
    if prev.get("key") != key:
        _clear(out_dir)
    aconf = {
        "animalsnd_version": __version__,
        "name": name,
        "key": key,
        "status": "building",
        "mode": mode,
        "snr_db": list(snr_db),
        "reference": reference,
        "per_class": per_class,
        "seed": seed,
        "noise_dir": str(Path(noise_dir).resolve()) if noise_dir is not None else None,
        "noise": bank.fingerprint() if bank is not None else None,
        "feature": cfg.to_dict(),
        "feature_hash": cfg.hash(),
        "copies": len(plan),
        "chain": chain_spec,
        "background_snr_db": list(bg_snr_db),
    }
    atomic_write_text(out_dir / "config.json", json.dumps(aconf, indent=2) + "\n")

    metas: dict[str, dict] = {}
    pending: dict[str, list[Copy]] = defaultdict(list)
    for c in plan:
        m = _read_npz_meta(out_dir / f"{c.id}.npz") if (out_dir / f"{c.id}.npz").exists() else None
        if m is not None and m.get("copy_index") == c.index:
            metas[c.id] = m
        else:
            pending[c.source["path"]].append(c)
    reused = len(metas)
    tasks = [
        (path, cfg, str(bank.root) if bank is not None else None, tuple(bank.names) if bank is not None else (),
         bg_snr_db if cs[0].source["label"] == BACKGROUND else snr_db,
         reference, seed, [(c.index, c.id) for c in cs], str(out_dir), "random" if chain_spec else None)
        for path, cs in pending.items()
    ]
    failed = []
    results = run_parallel(_augment_source, tasks, jobs=jobs, backend=backend,
                           scheduler=scheduler, progress=progress)
    for task, res in zip(tasks, results):
        if not isinstance(res, list):  # the task itself failed (e.g. a lost worker)
            why = getattr(res, "error", repr(res))
            res = [{"id": cid, "status": "failed", "error": why} for _, cid in task[7]]
        for m in res:
            if m.pop("status") == "ok":
                metas[m["id"]] = m
            else:
                failed.append(f"{m['id']}: {m['error']}")
    if failed:
        warnings.append(f"{len(failed)} copies failed (a re-run retries them): {_short_list(failed)}")

    out_rows = [_manifest_row(c, metas[c.id]) for c in plan if c.id in metas]
    _write_manifest(out_dir, out_rows)
    aconf["status"] = "complete" if not failed else "partial"
    atomic_write_text(out_dir / "config.json", json.dumps(aconf, indent=2) + "\n")
    return AugmentResult(
        cache_dir=cache_dir, name=name, out_dir=out_dir, mode=mode, snr_db=snr_db,
        reference=reference, rows=out_rows, computed=len(out_rows) - reused, reused=reused,
        source_counts=counts, n_noises=len(bank) if bank is not None else 0, warnings=warnings,
    )


def _manifest_row(c: Copy, meta: dict) -> dict:
    s = c.source
    return {
        "id": c.id,
        "copy_index": c.index,
        "source_path": s["path"],
        "source_sha256": s["sha256"],
        "source_fold": int(s["fold"]),
        "label": s["label"],
        **{k: meta[k] for k in ("noise_file", "offset", "target_snr_db", "realised_snr_db",
                                "active_snr_db", "gain", "n_frames")},
        "chain": meta.get("chain", ""),
    }


def _random_chain(sr: int):
    from animalsnd.augment.chain import RandomChain

    return RandomChain(sr=sr)


def _chain_spec(chain: str | None) -> dict | None:
    """What decides the chain draws of ``chain`` (None: no chain), for the build key."""
    from animalsnd.augment.chain import parse_chain

    return None if parse_chain(chain) is None else _random_chain(16000).to_dict()


def _clear(out_dir: Path) -> None:
    """Remove a previous build's copies (its options differ)."""
    for p in out_dir.iterdir():
        if p.is_file() and (p.suffix == ".npz" or p.name == "manifest.csv" or p.name.endswith(".tmp")):
            p.unlink(missing_ok=True)


def _write_manifest(out_dir: Path, rows: list[dict]) -> None:
    atomic_write_csv(out_dir / "manifest.csv", rows, MANIFEST_COLUMNS)
