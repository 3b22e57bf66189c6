"""The ablation table: several training variants on the same folds and seeds.

A *variant* is a model, overrides of its training recipe and, optionally, an
augmented noise set (:data:`VARIANTS`). :func:`compare` trains every
(variant, test fold, seed) run with :func:`animalsnd.train.train_fold`, scores
the held-out fold (clean, and optionally with noise mixed in at given SNRs) and
aggregates mean ± std over folds x seeds.

Every finished run is stored as one JSON record, written atomically, under
``CACHE_DIR/compare/runs/<key>.json``. The key hashes everything that decides
the run's result: the variant's definition, the resolved :class:`TrainConfig`
(seed and epochs included), the test fold, the feature config, the data
fingerprint and the augmented set's build key. A re-run reuses stored runs and
trains only what is missing or changed; an interrupted run loses at most the
run in progress. Models are not kept.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd import __version__
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.metrics import SUMMARY_KEYS, classification_metrics

__all__ = [
    "DEFAULT_VARIANTS",
    "VARIANTS",
    "CompareResult",
    "RunInfo",
    "Variant",
    "available_variants",
    "compare",
    "key_config",
    "parse_folds",
    "register_variant",
    "resolve_variants",
    "run_key",
    "snr_label",
]

_FORMAT = 1  # bump when a stored run record changes meaning
EVAL_NOISE_SEED = 0


# ------------------------------------------------------------------ variants
@dataclass(frozen=True)
class Variant:
    """One row of the ablation table.

    Attributes
    ----------
    name : str
    model : str
        A model known to :mod:`animalsnd.train`.
    overrides : dict
        :class:`~animalsnd.train.TrainConfig` options that replace the
        model's default recipe.
    augment : {"calibrated", "simple"} or None
        The noise-augmented set added to training (needs ``--noise``).
    description : str
    """

    name: str
    model: str
    overrides: dict = field(default_factory=dict)
    augment: str | None = None
    description: str = ""

    def definition(self) -> dict:
        return {"name": self.name, "model": self.model, "overrides": dict(sorted(self.overrides.items())),
                "augment": self.augment}


VARIANTS: dict[str, Variant] = {}


def register_variant(variant: Variant) -> Variant:
    """Add (or replace) a variant of the registry."""
    if variant.augment not in (None, "calibrated", "simple"):
        raise ConfigError(f"variant {variant.name!r}: augment={variant.augment!r} must be calibrated, simple or None")
    VARIANTS[variant.name] = variant
    return variant


for _v in [
    Variant("baseline", "cnn1d", {}, None,
            "1D CNN, the study's baseline recipe (Adam, 40 epochs, no weights, no augmentation)"),
    Variant("simple-noise", "cnn1d", {}, "simple",
            "baseline + naive noise copies (0-20 dB whole-clip SNR, unbalanced)"),
    Variant("alexnet-mel", "alexnet-mel", {}, None,
            "AlexNet-style 2D CNN on the log-Mel, robust recipe"),
    Variant("transformer-mel", "transformer-mel", {}, None,
            "Transformer encoder over Mel frames, robust recipe"),
    Variant("enhanced", "cnn1d-enhanced", {}, "calibrated",
            "enhanced 1D CNN + calibrated noise + SpecAugment + class weights + AdamW + LR schedule"),
    Variant("enhanced-no-noise", "cnn1d-enhanced", {}, None,
            "enhanced without the calibrated noise copies"),
    Variant("enhanced-no-specaugment", "cnn1d-enhanced", {"spec_augment": False}, "calibrated",
            "enhanced without SpecAugment"),
    Variant("enhanced-no-class-weights", "cnn1d-enhanced", {"class_weights": False}, "calibrated",
            "enhanced without class weights"),
]:
    register_variant(_v)

DEFAULT_VARIANTS: tuple[str, ...] = (
    "baseline", "simple-noise", "alexnet-mel", "transformer-mel", "enhanced",
    "enhanced-no-noise", "enhanced-no-specaugment", "enhanced-no-class-weights",
)


def _known_models() -> list[str]:
    from animalsnd.models import MODEL_NAMES
    from animalsnd.train import MODEL_DEFAULTS

    return list(dict.fromkeys([*MODEL_NAMES, *MODEL_DEFAULTS]))


def available_variants() -> list[str]:
    """Registered variants, then every trainable model not registered under its own name."""
    return [*VARIANTS, *(m for m in _known_models() if m not in VARIANTS)]


def resolve_variants(names: Sequence[str] | str | None) -> list[Variant]:
    """Variants by name (comma-separated text or a list); None: the defaults.

    A trainable model name that is not a registered variant becomes a variant
    with the model's own default recipe.

    Raises
    ------
    ConfigError
        An unknown or repeated name; the message lists the available ones.
    """
    if names is None:
        names = list(DEFAULT_VARIANTS)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = list(names)
    if not names or any(not n for n in names):
        raise ConfigError(f"--variants {','.join(names)!r} must be comma-separated names; "
                          f"available: {', '.join(available_variants())}")
    models = _known_models()
    out, unknown = [], []
    for n in names:
        if n in VARIANTS:
            out.append(VARIANTS[n])
        elif n in models:
            out.append(Variant(n, n, {}, None, f"{n} with its default recipe"))
        else:
            unknown.append(n)
    if unknown:
        raise ConfigError(f"unknown variant(s) {', '.join(unknown)}; available: {', '.join(available_variants())}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"variant(s) named twice: {', '.join(dup)}")
    return out


def parse_folds(value: str | int | None, n_folds: int) -> list[int]:
    """``"all"``/None -> every fold; N -> folds 0..N-1 as test folds."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return list(range(n_folds))
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--folds {value!r} must be 'all' or a number of folds") from None
    if not 1 <= n <= n_folds:
        raise ConfigError(f"--folds {value!r} must be between 1 and the cache's {n_folds} folds (or 'all')")
    return list(range(n))


def snr_label(snr: float) -> str:
    """``10.0`` -> ``"10"``, ``-2.5`` -> ``"-2.5"`` (JSON keys and column names)."""
    return f"{float(snr):g}"


# ------------------------------------------------------------------ records
def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


# TrainConfig fields when the run format was fixed; options added later enter a
# run's key only when set to something else than their default, so stored runs
# stay valid when TrainConfig grows.
_KEY_FIELDS = (
    "model", "epochs", "optimizer", "lr", "weight_decay", "class_weights", "spec_augment",
    "early_stopping", "patience", "lr_schedule", "batch_size", "time_masks", "freq_masks",
    "time_width", "freq_width", "mixup", "label_smoothing", "loss", "val_fraction", "seed",
    "lr_factor", "lr_patience", "min_lr",
)


def key_config(config) -> dict:
    """The part of a :class:`~animalsnd.train.TrainConfig` that keys a run."""
    from dataclasses import MISSING, fields

    defaults = {}
    for f in fields(config):
        if f.default is not MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not MISSING:
            defaults[f.name] = f.default_factory()
    return {k: v for k, v in config.to_dict().items()
            if k in _KEY_FIELDS or k not in defaults or v != defaults[k]}


def run_key(variant: Variant, config: dict, *, fold: int, feature_hash: str, fingerprint: str,
            augmented_key: str | None) -> str:
    """The store key of one run: changes whenever its result could.

    ``config`` is :func:`key_config` of the run's TrainConfig. A model whose
    architecture changed since revision 1 (:data:`animalsnd.train.MODEL_REVISIONS`)
    adds its revision, so its older runs are retrained; other models keep
    their keys.
    """
    from animalsnd.train import model_revision

    key = {
        "format": _FORMAT, "variant": variant.definition(), "config": config, "fold": int(fold),
        "feature_hash": feature_hash, "fingerprint": fingerprint, "augmented": augmented_key,
    }
    revision = model_revision(variant.model)
    if revision > 1:
        key["model_revision"] = revision
    return _hash(key)


def _read_record(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("format") == _FORMAT else None


@dataclass(frozen=True)
class RunInfo:
    """What the progress callback receives after each run (trained or reused)."""

    done: int
    total: int
    variant: str
    fold: int
    seed: int
    reused: bool
    record: dict


RunCallback = Callable[[RunInfo], None]


@dataclass
class CompareResult:
    """Every variant's runs and their aggregate.

    ``trained`` counts the runs trained by this call, ``reused`` the runs read
    from the store.
    """

    cache_dir: Path
    variants: list[Variant]
    folds: list[int]
    seeds: list[int]
    classes: list[str]
    runs: dict[str, list[dict]]
    eval_snrs: list[float]
    trained: int = 0
    reused: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """``{"variants": {name: {accuracy: {mean, std}, ..., runs: [...]}}, ...}`` (the --json schema)."""
        out = {}
        for v in self.variants:
            out[v.name] = summarise_runs(self.runs.get(v.name, []), v, self.classes, self.eval_snrs)
            out[v.name]["missing_runs"] = self.missing.get(v.name, 0)
        return {
            "cache_dir": str(self.cache_dir), "classes": self.classes, "folds": self.folds,
            "seeds": self.seeds, "eval_snr": [snr_label(s) for s in self.eval_snrs],
            "variants": out, "notes": self.notes,
        }


def _ms(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std())} if a.size else {"mean": None, "std": None}


def summarise_runs(runs: list[dict], variant: Variant, classes: list[str], eval_snrs: list[float]) -> dict:
    """Mean ± std (population) over runs of the scores, costs and noisy scores."""
    out: dict = {"model": variant.model, "augment": variant.augment, "description": variant.description,
                 "n_runs": len(runs)}
    for k in SUMMARY_KEYS:
        out[k] = _ms([r[k] for r in runs])
    out["gap"] = _ms([r["macro_f1"] - r["weighted_f1"] for r in runs])
    out["params"] = int(runs[0]["params"]) if runs else None
    out["train_seconds"] = _ms([r["train_seconds"] for r in runs])
    out["infer_ms_per_clip"] = _ms([r["infer_ms_per_clip"] for r in runs])
    out["epochs"] = _ms([r["epochs_run"] for r in runs])
    out["snr"] = {}
    for s in eval_snrs:
        lab = snr_label(s)
        got = [r["noisy"][lab] for r in runs if lab in r.get("noisy", {})]
        out["snr"][lab] = {k: _ms([g[k] for g in got]) for k in SUMMARY_KEYS}
    out["per_class_f1"] = {c: _ms([r["per_class_f1"][c] for r in runs if c in r["per_class_f1"]]) for c in classes}
    out["runs"] = runs
    return out


# ------------------------------------------------------------------ noise sets
def _augmented_set(cache_dir: Path, noise_dir: Path, mode: str, *, jobs: int, progress,
                   per_class: int | None = None) -> tuple[str, str]:
    """Name and build key of an augmented set of ``mode`` with the default options.

    Reuses a set already built from the same noise with the same options
    (whatever its name); otherwise builds ``mode`` (or, when that name holds a
    set of other options, ``compare-<mode>-<noise hash>``).
    """
    from animalsnd.augment.noisebank import load_noise_bank
    from animalsnd.augment.store import DEFAULT_SNR, build_augmented, list_augmented
    from animalsnd.cache import read_config

    cconf = read_config(cache_dir)
    fhash = cconf["feature_hash"]
    bank = load_noise_bank(noise_dir, sr=int(cconf["feature"]["sr"]))
    want = {"mode": mode, "snr_db": list(DEFAULT_SNR[mode]), "per_class": per_class, "seed": 0,
            "noise": bank.fingerprint(), "feature_hash": fhash}

    def conf(name: str) -> dict:
        try:
            return json.loads((cache_dir / "augment" / name / "config.json").read_text())
        except (OSError, ValueError):
            return {}

    base = mode if per_class is None else f"{mode}-each-{per_class}"
    done = list_augmented(cache_dir)
    match = [n for n in done if {k: conf(n).get(k) for k in want} == want and conf(n).get("status") == "complete"]
    if base in match:
        name = base
    elif match:
        name = match[0]
    elif not (cache_dir / "augment" / base).exists() or {k: conf(base).get(k) for k in want} == want:
        name = base
    else:
        name = f"compare-{base}-{_hash(bank.fingerprint())[:8]}"
    res = build_augmented(cache_dir, noise_dir, mode=mode, name=name, per_class=per_class, seed=0, jobs=jobs,
                          progress=progress)
    failed = [w for w in res.warnings if "copies failed" in w]
    if failed:
        raise DatasetError(f"augmented set {name!r} is incomplete: {failed[0]}")
    return name, conf(name)["key"]


# ------------------------------------------------------------------ running
def _predict_timed(model, X: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, float]:
    """Predicted classes and the wall time of predicting ``X`` (seconds)."""
    t0 = time.perf_counter()
    out = [np.asarray(model(X[i : i + batch_size], training=False)) for i in range(0, len(X), batch_size)]
    return np.concatenate(out).argmax(axis=1), time.perf_counter() - t0


def _scores(y_true, y_pred, classes) -> dict:
    m = classification_metrics(y_true, y_pred, classes=classes)
    return {k: m[k] for k in SUMMARY_KEYS}


def compare(
    cache_dir: str | Path,
    *,
    variants: Sequence[str] | str | None = None,
    noise_dir: str | Path | None = None,
    folds: str | int | None = "all",
    seeds: int = 1,
    epochs: int | None = None,
    jobs: int = -1,
    backend: str = "local",
    scheduler: str | None = None,
    eval_noise: str | Path | None = None,
    eval_snr: Sequence[float] | str = (10.0, 0.0),
    report_only: bool = False,
    train_options: dict | None = None,
    per_class: int | None = None,
    on_run: RunCallback | None = None,
    on_start: Callable[[dict], None] | None = None,
    augment_progress: Callable[[int, int], None] | None = None,
) -> CompareResult:
    """Train and score every (variant, test fold, seed) run; reuse stored runs.

    Parameters
    ----------
    cache_dir : str or Path
        A cache written by ``animalsnd prepare``.
    variants : names or comma-separated text, optional
        Default: :data:`DEFAULT_VARIANTS`.
    noise_dir : path, optional
        Noise for the variants that train with an augmented set (built or
        reused through :func:`animalsnd.augment.store.build_augmented`).
    folds : "all" or int
        All folds, or the first N, as test folds.
    seeds : int
        Seeds ``0..seeds-1`` per fold.
    epochs : int, optional
        Replaces every variant's epoch count (a cap for early-stopping recipes).
    jobs : int
        Workers for augmentation and noisy features, and worker processes
        for the runs (:mod:`animalsnd.runpool`; 1: one run after another in
        this process). The results are the same whatever ``jobs``.
    backend, scheduler : str
        ``"dask"`` and a scheduler address: one Dask task per run; the cache
        folder (with its run store) must be on storage every worker sees.
    eval_noise : path, optional
        Also score each run's test fold with this noise mixed in at every
        ``eval_snr`` (:func:`animalsnd.robustness.noisy_features`, seed 0;
        ``birdnet-head`` and ``stats-mlp`` embed or describe the noisy clips,
        :func:`~animalsnd.robustness.noisy_vectors`); the noisy inputs are
        computed once per (fold, SNR, kind of input).
    per_class : int, optional
        Noise copies per class in the augmented sets (``augment --per-class``);
        default: the study's balancing, which tops up the smaller classes only.
    train_options : dict, optional
        :class:`~animalsnd.train.TrainConfig` options for every variant (the
        variants' own overrides win), e.g. ``batch_size``.
    report_only : bool
        Train nothing; aggregate the stored runs (missing ones are counted in
        :attr:`CompareResult.missing`).
    on_run : callable(RunInfo), optional
        Called after each run, trained or reused (stored runs first, trained
        ones as they finish).
    on_start : callable(dict), optional
        Receives ``{"total", "stored", "variants", "folds", "seeds"}`` before training.

    Raises
    ------
    ConfigError
        Unknown variants, bad folds/seeds/epochs/jobs, a noise variant without
        ``noise_dir``, an unreachable scheduler, a run store of another version.
    DatasetError
        Not a cache, a cache without folds, unusable noise.
    animalsnd.runpool.RunFailed
        A run failed in its worker (the finished ones are stored).
    """
    from animalsnd.augment.noise import parse_snr_list
    from animalsnd.cache import load_features, read_config, read_manifest
    from animalsnd.runpool import bound_this_process, check_store, compare_run, pool_for, run_many
    from animalsnd.train import TrainConfig

    cache_dir = Path(cache_dir)
    chosen = resolve_variants(variants)
    pool = pool_for(jobs, backend, scheduler)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"--seeds {seeds!r} must be a positive integer")
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
        raise ConfigError(f"--epochs {epochs!r} must be a positive integer")
    if per_class is not None and (not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1):
        raise ConfigError(f"--per-class {per_class!r} must be a positive integer")
    snrs = parse_snr_list(eval_snr) if isinstance(eval_snr, str) else [float(s) for s in eval_snr]
    if eval_noise is None:
        snrs = []
    needs_noise = [v.name for v in chosen if v.augment]
    if needs_noise and noise_dir is None:
        clean = [v.name for v in chosen if not v.augment] or [n for n, v in VARIANTS.items() if not v.augment]
        raise ConfigError(f"variant(s) {', '.join(needs_noise)} need --noise NOISE_DIR "
                          f"(variants without noise: {', '.join(clean)})")
    conf = read_config(cache_dir)
    n_folds = int(conf.get("folds") or 0)
    present = {int(r["fold"]) for r in read_manifest(cache_dir) if r["status"] == "ok" and r["fold"] not in ("", None)}
    if n_folds < 2 or len(present - {-1}) < 2:
        raise DatasetError(f"{cache_dir}: the cache has no cross-validation folds (it needs two or more usable "
                           f"classes; run `animalsnd prepare` again)")
    fs = load_features(cache_dir)
    if len(fs.classes) < 2:
        raise DatasetError(f"{cache_dir}: need at least two classes, found {len(fs.classes)}")
    fold_ids = parse_folds(folds, n_folds)
    seed_ids = list(range(seeds))
    store = cache_dir / "compare" / "runs"

    # configs (validated before any work)
    configs: dict[tuple[str, int], TrainConfig] = {}
    for v in chosen:
        for s in seed_ids:
            opts = {**(train_options or {}), **v.overrides, "seed": s}
            if epochs is not None:
                opts["epochs"] = epochs
            try:
                c = configs[v.name, s] = TrainConfig.for_model(v.model, **opts)
            except ConfigError as exc:
                raise ConfigError(f"variant {v.name!r}: {exc}") from None
            frames, n_mels = fs.cfg.shape
            if c.spec_augment and ((c.time_masks and c.time_width >= frames) or (c.freq_masks and c.freq_width >= n_mels)):
                raise ConfigError(f"variant {v.name!r}: SpecAugment masks (time {c.time_width}, frequency "
                                  f"{c.freq_width}) must be narrower than the features ({frames} frames, {n_mels} bands)")

    if eval_noise is not None:  # fail early on an unusable noise folder
        from animalsnd.augment.noisebank import load_noise_bank

        load_noise_bank(eval_noise, sr=fs.cfg.sr)

    aug_sets: dict[str, tuple[str, str]] = {}
    for mode in dict.fromkeys(v.augment for v in chosen if v.augment):
        if report_only:
            aug_sets[mode] = _existing_set(cache_dir, noise_dir, mode, per_class=per_class)
        else:
            aug_sets[mode] = _augmented_set(cache_dir, Path(noise_dir), mode, jobs=jobs, progress=augment_progress,
                                            per_class=per_class)

    plan = []
    for k in fold_ids:
        for v in chosen:
            for s in seed_ids:
                c = configs[v.name, s]
                aug = aug_sets.get(v.augment) if v.augment else None
                key = run_key(v, key_config(c), fold=k, feature_hash=fs.cfg.hash(), fingerprint=fs.fingerprint,
                              augmented_key=aug[1] if aug else None)
                plan.append((k, v, s, c, aug, key))
    labels = [snr_label(x) for x in snrs]
    noise_id = None
    if eval_noise is not None:
        from animalsnd.augment.noisebank import load_noise_bank

        noise_id = _hash(load_noise_bank(eval_noise, sr=fs.cfg.sr).fingerprint())

    def usable(rec: dict | None) -> bool:
        if rec is None:
            return False
        # runs stored before a model could be scored with noise have a source but no noisy scores
        return all(rec.get("noisy_source", {}).get(lab) == noise_id and lab in rec.get("noisy", {}) for lab in labels)

    check_store(store, create=not report_only)
    stored = {key: _read_record(store / f"{key}.json") for *_, key in plan}
    n_stored = sum(usable(r) for r in stored.values())
    if on_start is not None:
        on_start({"total": len(plan), "stored": n_stored, "variants": [v.name for v in chosen],
                  "folds": fold_ids, "seeds": seed_ids, "augmented": {m: a[0] for m, a in aug_sets.items()},
                  "pool": pool.describe() if pool.parallel else None})

    result = CompareResult(cache_dir=cache_dir, variants=chosen, folds=fold_ids, seeds=seed_ids,
                           classes=list(fs.classes), runs={v.name: [] for v in chosen}, eval_snrs=snrs)
    source = {lab: noise_id for lab in labels}
    todo = []

    def report(item: tuple, rec: dict, reused: bool) -> None:
        k, v, s, *_ = item
        result.reused += reused
        result.trained += not reused
        result.runs[v.name].append(rec)
        if on_run is not None:
            on_run(RunInfo(done=result.reused + result.trained, total=len(plan), variant=v.name, fold=k, seed=s,
                           reused=reused, record=rec))

    for item in plan:
        if usable(stored[item[-1]]):
            report(item, stored[item[-1]], True)
        elif report_only:
            result.missing[item[1].name] = result.missing.get(item[1].name, 0) + 1
        else:
            todo.append(item)
    if pool.parallel and len(todo) > 1:  # every run seeds itself from its key: the same records as below
        tasks = [(str(cache_dir), v, c, k, aug, snrs, eval_noise, str(store), key, source)
                 for k, v, _, c, aug, key in todo]
        run_many(compare_run, tasks, pool, on_done=lambda i, rec: report(todo[i], rec, False),
                 name=lambda i: f"{todo[i][1].name} fold {todo[i][0]} seed {todo[i][2]}")
    elif todo:
        bound_this_process()  # the threads of a worker's run: the same results as --jobs N
        loaded_aug: dict[str, object] = {}
        noisy_cache: dict[tuple, np.ndarray] = {}  # (fold, SNR, model input) -> noisy inputs
        for item in todo:
            k, v, s, c, aug, key = item
            if noisy_cache and next(iter(noisy_cache))[0] != k:
                noisy_cache.clear()  # one fold's noisy features at a time
            rec = _train_one(fs, cache_dir, v, c, k, aug, loaded_aug, snrs, eval_noise, noisy_cache, jobs)
            report(item, store_run(store, key, rec, source), False)
    for runs in result.runs.values():
        runs.sort(key=lambda r: (r["fold"], r["seed"]))
    for name, n in result.missing.items():
        result.notes.append(f"{name}: {n} of {len(fold_ids) * len(seed_ids)} runs not stored yet")
    return result


def store_run(store: Path, key: str, rec: dict, noisy_source: dict) -> dict:
    """Write one finished run's record (atomically) under its key; returns it."""
    from animalsnd.cache import atomic_write_text

    rec.update(key=key, noisy_source=noisy_source)
    atomic_write_text(store / f"{key}.json", json.dumps(rec, indent=1) + "\n")
    return rec


def _existing_set(cache_dir: Path, noise_dir, mode: str, *, per_class: int | None = None) -> tuple[str, str]:
    """Report-only: the set ``_augmented_set`` would use, without building it."""
    from animalsnd.augment.store import DEFAULT_SNR, list_augmented

    for name in [mode, *list_augmented(cache_dir)]:
        try:
            c = json.loads((cache_dir / "augment" / name / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if c.get("mode") == mode and c.get("snr_db") == list(DEFAULT_SNR[mode]) and c.get("per_class") == per_class \
                and c.get("seed") == 0 and c.get("status") == "complete" and (
                    noise_dir is None or c.get("noise_dir") == str(Path(noise_dir).resolve())):
            return name, c["key"]
    raise DatasetError(f"{cache_dir}: no complete {mode} augmented set to report on; run compare without --report-only")


def _train_one(fs, cache_dir, v: Variant, config, fold: int, aug, loaded_aug, snrs, eval_noise,
               noisy_cache, jobs) -> dict:
    from animalsnd.models import count_params
    from animalsnd.train import load_augmented_for, train_fold

    augmented = None
    if aug is not None:
        if aug[0] not in loaded_aug:
            if len(loaded_aug) >= 2:  # at most two sets in memory
                loaded_aug.pop(next(iter(loaded_aug)))
            loaded_aug[aug[0]] = load_augmented_for(cache_dir, aug[0], classes=fs.classes, shape=fs.cfg.shape)
        augmented = loaded_aug[aug[0]]
    inputs = fs
    if config.model == "birdnet-head":  # same rows, pooled BirdNET embeddings instead of log-Mel
        from animalsnd.heads.birdnet_head import embedding_set_for

        inputs = embedding_set_for(cache_dir, config.pool, jobs=jobs)
    elif config.model == "stats-mlp":  # same rows, clip descriptors instead of log-Mel
        from animalsnd.heads.stats_head import descriptor_set_for

        inputs = descriptor_set_for(cache_dir, jobs=jobs)
    res = train_fold(inputs, config=config, test_fold=fold, augmented=augmented)
    model = res.model
    test = np.flatnonzero(fs.folds == fold)
    y_pred, secs = _predict_timed(model, inputs.X[test])
    metrics = res.metrics
    rec = {
        "format": _FORMAT, "animalsnd_version": __version__, "variant": v.name, "model": v.model,
        "definition": v.definition(), "fold": fold, "seed": config.seed, "config": config.to_dict(),
        "augmented": aug[0] if aug else None,
        **{k: metrics[k] for k in SUMMARY_KEYS},
        "n_test": int(metrics["n"]),
        "per_class_f1": {c: metrics["per_class"][c]["f1"] for c in fs.classes},
        "confusion": metrics["confusion"],
        "params": count_params(model),
        "train_seconds": round(res.train_seconds, 3),
        "infer_ms_per_clip": round(1000 * secs / max(len(test), 1), 4),
        "epochs_run": res.epochs_run, "best_epoch": res.best_epoch,
        "n_train": res.n_train, "n_val": res.n_val, "n_augmented": res.n_augmented,
        "noisy": {},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if snrs:  # the model's own inputs of the noisy test clips: log-Mel features, embeddings or descriptors
        from animalsnd.robustness import noisy_features, noisy_vectors

        paths = [fs.paths[i] for i in test]
        kind = {"birdnet-head": ("birdnet", config.pool), "stats-mlp": ("stats", "")}.get(config.model)
        for snr in snrs:
            lab = snr_label(snr)
            key = (fold, lab, kind)
            if key not in noisy_cache:
                options = dict(snr_db=snr, seed=EVAL_NOISE_SEED, jobs=jobs)
                noisy_cache[key] = (noisy_features(paths, fs.cfg, eval_noise, **options) if kind is None
                                    else noisy_vectors(paths, kind[0], eval_noise, pool=kind[1], **options))
            pred, _ = _predict_timed(model, noisy_cache[key])
            rec["noisy"][lab] = _scores(fs.y[test], pred, fs.classes)
    del model
    res.model = None
    _free_keras()
    return rec


def _free_keras() -> None:
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
