"""Build and read augmented feature sets: noisy copies of a cache's clips.

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
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd import __version__
from animalsnd.audio import load
from animalsnd.augment.noise import NoiseMixer, parse_snr_range, realised_snr
from animalsnd.augment.noisebank import load_noise_bank, load_noise_waveforms
from animalsnd.cache import (
    Progress,
    atomic_write_text,
    read_config,
    read_manifest,
    run_parallel,
    save_npz,
    stack_npz,
    usable_rows,
)
from animalsnd.cache_check import UNREADABLE
from animalsnd.config import FeatureConfig
from animalsnd.dataset import sha256_file
from animalsnd.errors import AudioError, ConfigError, DatasetError
from animalsnd.parallel import check_backend
from animalsnd.features import logmel

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
REFERENCE = {"calibrated": "active", "simple": "whole"}
MANIFEST_COLUMNS = [
    "id", "copy_index", "source_path", "source_sha256", "source_fold", "label",
    "noise_file", "offset", "target_snr_db", "realised_snr_db", "active_snr_db",
    "gain", "n_frames", "chain",
]
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FORMAT = 1  # bump when the stored copies change meaning


# ------------------------------------------------------------------ helpers
def feature_window(cfg: FeatureConfig) -> int:
    """Samples that influence the first ``cfg.frames`` feature frames.

    Cropping a waveform to this length leaves its features unchanged, and
    makes the SNR refer to the part of the clip the model sees.
    """
    return (cfg.frames - 1) * cfg.hop_length + cfg.n_fft


def copy_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of copy ``index``: child ``index`` of ``SeedSequence(seed)``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def mix(
    clip: np.ndarray, mixer: NoiseMixer, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """Mix noise into ``clip`` and measure the SNR that resulted.

    Parameters
    ----------
    clip : np.ndarray, shape (n,)
        Clean mono waveform at ``mixer.sr``.
    mixer : NoiseMixer
    rng : np.random.Generator

    Returns
    -------
    mixed : np.ndarray, shape (n,)
    info : dict
        ``noise_file``, ``offset``, ``target_snr_db``, ``gain``,
        ``realised_snr_db`` (against the mixer's reference) and
        ``active_snr_db`` (against the active level, for any mode).
    """
    mixed = mixer(clip, rng)
    p = mixer.params
    clean = np.asarray(clip, dtype=np.float64) * p["gain"]
    realised = realised_snr(clean, mixed, sr=mixer.sr, reference=mixer.reference)
    active = (
        realised if mixer.reference == "active"
        else realised_snr(clean, mixed, sr=mixer.sr, reference="active")
    )
    return mixed, {
        "noise_file": p["noise_name"],
        "offset": int(p["offset"]),
        "target_snr_db": round(float(p["snr_db"]), 4),
        "realised_snr_db": round(realised, 4),
        "active_snr_db": round(active, 4),
        "gain": round(float(p["gain"]), 6),
    }


def _check_options(mode, snr, per_class, name, seed, jobs) -> tuple[tuple[float, float], str]:
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} must be one of {', '.join(MODES)}")
    if snr is None:
        lo, hi = DEFAULT_SNR[mode]
    elif isinstance(snr, str):
        lo, hi = parse_snr_range(snr)
    else:
        try:
            lo, hi = (float(v) for v in snr)
        except (TypeError, ValueError):
            raise ConfigError(f"snr={snr!r} must be 'LOW:HIGH' or a (low, high) pair in dB") from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise ConfigError(f"snr={snr!r} must be finite with low <= high")
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


# ------------------------------------------------------------------ sources
def _check_sources(cache_dir: Path, rows: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Split rows into those whose audio is still there, unchanged, and the rest."""
    try:
        index = json.loads((cache_dir / "hashes.json").read_text())
    except (OSError, ValueError):
        index = {}
    ok, bad = [], []
    for r in rows:
        p = Path(r["path"])
        try:
            st = p.stat()
        except OSError:
            bad.append((r["path"], "missing"))
            continue
        hit = index.get(r["path"])
        if hit and hit[:2] == [st.st_size, st.st_mtime_ns]:
            sha = hit[2]
        else:
            try:
                sha = sha256_file(p)
            except OSError as exc:
                bad.append((r["path"], f"cannot read ({exc.strerror})"))
                continue
        if sha != r["sha256"]:
            bad.append((r["path"], "changed since prepare"))
            continue
        ok.append(r)
    return ok, bad


# --------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Copy:
    """One planned augmented copy."""

    index: int
    source: dict  # a manifest row of the cache

    @property
    def id(self) -> str:
        return f"{self.index:06d}"


def _targets(counts: dict[str, int], per_class: int | None) -> dict[str, int]:
    if per_class is not None:
        return {c: per_class for c in sorted(counts)}
    top = max(counts.values())
    return {c: top - n for c, n in sorted(counts.items())}


def plan_copies(
    sources: list[dict],
    *,
    mode: str,
    counts: dict[str, int],
    per_class: int | None,
    seed: int,
) -> list[Copy]:
    """Decide which source clip each augmented copy comes from.

    Parameters
    ----------
    sources : list of dict
        Cache manifest rows whose audio is available.
    mode : {"calibrated", "simple"}
    counts : dict
        Usable clips per class in the cache (sets the default targets).
    per_class : int or None
        Copies per class; ``None``: enough to reach the largest class.
    seed : int

    Returns
    -------
    list of Copy
        Indexed 0..n-1. ``calibrated``: per class (sorted), the class's
        sources shuffled and cycled. ``simple``: the same total, all sources
        shuffled and cycled regardless of class.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    targets = _targets(counts, per_class)
    picks: list[dict] = []
    if mode == "calibrated":
        by_class: dict[str, list[dict]] = defaultdict(list)
        for r in sources:
            by_class[r["label"]].append(r)
        for label, target in targets.items():
            pool = by_class.get(label, [])
            if not pool or target == 0:
                continue
            order = rng.permutation(len(pool))
            picks += [pool[order[k % len(pool)]] for k in range(target)]
    else:
        total = sum(targets.values())
        order = rng.permutation(len(sources))
        picks = [sources[order[k % len(sources)]] for k in range(total)]
    return [Copy(i, r) for i, r in enumerate(picks)]


# ------------------------------------------------------------------ workers
def _augment_source(
    path: str,
    cfg: FeatureConfig,
    noise_root: str,
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
    noises = load_noise_waveforms(noise_root, noise_names, cfg.sr)
    mixer = NoiseMixer(noises, snr_db=snr, reference=reference, sr=cfg.sr, noise_names=noise_names)
    out = []
    recorder = None if chain is None else _random_chain(cfg.sr)
    for index, cid in copies:
        rng = copy_rng(seed, index)
        mixed, info = mix(y, mixer, rng)
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
) -> AugmentResult:
    """Mix background noise into a prepared cache's clips and cache the features.

    Parameters
    ----------
    cache_dir : str or Path
        A cache written by ``animalsnd prepare`` (its source audio must exist).
    noise_dir : str or Path
        Folder of noise recordings, searched recursively.
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
    chain_spec = _chain_spec(chain)
    check_backend(backend, scheduler)
    reference = REFERENCE[mode]
    cache_dir = Path(cache_dir)
    conf = read_config(cache_dir)
    cfg = FeatureConfig.from_dict(conf["feature"])
    rows = usable_rows(cache_dir)
    bank = load_noise_bank(noise_dir, sr=cfg.sr)
    warnings = [f"noise {n}: {why}; skipped" for n, why in bank.skipped]

    sources, bad = _check_sources(cache_dir, rows)
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
    for label, n in _targets(counts, per_class).items():
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
        "noise": bank.fingerprint(),
        "feature_hash": cfg.hash(),
        "plan": [[c.index, c.source["sha256"], c.source["label"]] for c in plan],
        **({"chain": chain_spec} if chain_spec else {}),
    }
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    out_dir = cache_dir / "augment" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    prev = _read_json(out_dir / "config.json")
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
        "noise_dir": str(Path(noise_dir).resolve()),
        "noise": bank.fingerprint(),
        "feature": cfg.to_dict(),
        "feature_hash": cfg.hash(),
        "copies": len(plan),
        "chain": chain_spec,
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
        (path, cfg, str(bank.root), tuple(bank.names), snr_db, reference, seed,
         [(c.index, c.id) for c in cs], str(out_dir), "random" if chain_spec else None)
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
        source_counts=counts, n_noises=len(bank), warnings=warnings,
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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _clear(out_dir: Path) -> None:
    """Remove a previous build's copies (its options differ)."""
    for p in out_dir.iterdir():
        if p.is_file() and (p.suffix == ".npz" or p.name == "manifest.csv" or p.name.endswith(".tmp")):
            p.unlink(missing_ok=True)


def _write_manifest(out_dir: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out_dir / "manifest.csv", buf.getvalue())


# ------------------------------------------------------------------ reading
@dataclass
class AugmentedSet:
    """The augmented copies of one set, ready to join a training split.

    Select the copies of a split's training clips with ``source_shas`` (or
    ``source_folds``); never add copies of validation or test clips.
    """

    X: np.ndarray  # (n, frames, n_mels) float32
    labels: list[str]
    source_shas: list[str]
    source_folds: np.ndarray  # (n,) int, the source clip's fold in the cache
    snr_db: np.ndarray  # (n,) float, realised SNR of each copy
    ids: list[str] = field(default_factory=list)
    noise_files: list[str] = field(default_factory=list)
    name: str = ""
    mode: str = ""

    def __len__(self) -> int:
        return len(self.labels)


def list_augmented(cache_dir: str | Path) -> list[str]:
    """Names of the completed augmented sets of a cache, sorted."""
    root = Path(cache_dir) / "augment"
    if not root.is_dir():
        return []
    return sorted(
        d.name for d in root.iterdir()
        if d.is_dir() and (d / "manifest.csv").exists()
        and _read_json(d / "config.json").get("status") in ("complete", "partial")
    )


def load_augmented(cache_dir: str | Path, name: str) -> AugmentedSet:
    """Read an augmented set built by :func:`build_augmented`.

    Returns
    -------
    AugmentedSet
        ``X`` padded or cropped to ``cfg.frames`` like the cache's features;
        ``source_folds`` follow the cache's current fold assignment.

    Raises
    ------
    DatasetError
        Unknown name (the message lists the available ones), a set built
        for another feature config, or a missing copy.
    """
    cache_dir = Path(cache_dir)
    cfg = FeatureConfig.from_dict(read_config(cache_dir)["feature"])
    names = list_augmented(cache_dir)
    if name not in names:
        avail = ", ".join(names) if names else "none; run `animalsnd augment` first"
        raise DatasetError(f"{cache_dir}: no augmented set {name!r} (available: {avail})")
    out_dir = cache_dir / "augment" / name
    aconf = _read_json(out_dir / "config.json")
    if aconf.get("feature_hash") != cfg.hash():
        raise DatasetError(
            f"augmented set {name!r} was built for other features than {cache_dir} now has; "
            f"re-run `animalsnd augment` with --name {name}"
        )
    with open(out_dir / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for i, r in enumerate(rows, start=2):  # ids are joined into paths: copy numbers only
        if not re.fullmatch(r"[0-9]{1,12}", r.get("id") or ""):
            raise DatasetError(f"{out_dir / 'manifest.csv'}: line {i}: id {str(r.get('id'))[:80]!r} is not a "
                               f"copy number; re-run `animalsnd augment` with --name {name}")
    folds_now = {r["sha256"]: int(r["fold"]) for r in read_manifest(cache_dir) if r["status"] == "ok"}
    X = stack_npz([out_dir / f"{r['id']}.npz" for r in rows], cfg=cfg,
                  what="copy", fix="re-run augment")
    return AugmentedSet(
        X=X,
        labels=[r["label"] for r in rows],
        source_shas=[r["source_sha256"] for r in rows],
        source_folds=np.array(
            [folds_now.get(r["source_sha256"], int(r["source_fold"])) for r in rows], dtype=int
        ),
        snr_db=np.array([float(r["realised_snr_db"]) for r in rows], dtype=float),
        ids=[r["id"] for r in rows],
        noise_files=[r["noise_file"] for r in rows],
        name=name,
        mode=str(aconf.get("mode", "")),
    )
