"""The ablation table: several training variants on the same folds and seeds.

:func:`compare` trains every (variant, test fold, seed) run with
:func:`animalsnd.train.train_fold`, scores the held-out fold (clean, and
optionally with noise mixed in at given SNRs and re-rendered through other
recording chains, in each model's own inputs) and
aggregates mean ± std over folds x seeds. A re-run reuses the stored runs
(:mod:`animalsnd.compare.records`) and trains only what is missing or
changed; an interrupted run loses at most the run in progress. Models are not
kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from animalsnd import __version__, families
from animalsnd.compare.chain_scores import CHAIN_SEED, chain_source, check_chain_inputs, has_chains, resolve_chains
from animalsnd.compare.noise_sets import augmented_set, existing_set
from animalsnd.compare.records import (
    FORMAT,
    CompareResult,
    RunCallback,
    RunInfo,
    hash_of,
    key_config,
    read_record,
    run_key,
    store_run,
)
from animalsnd.compare.variants import VARIANTS, Variant, parse_folds, resolve_variants, snr_label
from animalsnd.errors import ConfigError, DatasetError
from animalsnd.fitting import free_keras
from animalsnd.metrics import SUMMARY_KEYS, classification_metrics

__all__ = ["EVAL_NOISE_SEED", "compare", "compare_run"]

EVAL_NOISE_SEED = 0


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
    eval_chain: Sequence[str] | str | None = None,
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
        the vector models embed or describe the noisy clips,
        :func:`~animalsnd.robustness.noisy_vectors`); the noisy inputs are
        computed once per (fold, SNR, kind of input).
    eval_chain : names or comma-separated text, optional
        Also score each run's test fold re-rendered through these recording
        chains (:func:`animalsnd.chains.parse_chains`: ``"8k,mp3"``,
        ``"default"``, ``"all"``), as ``eval --chain`` does
        (:mod:`animalsnd.compare.chain_scores`).
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
    from animalsnd.runpool import bound_this_process, check_store, pool_for, run_many
    from animalsnd.train import TrainConfig

    cache_dir = Path(cache_dir)
    chosen = resolve_variants(variants)
    chains = resolve_chains(eval_chain)
    if chains:
        check_chain_inputs(chosen)
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
            aug_sets[mode] = existing_set(cache_dir, noise_dir, mode, per_class=per_class)
        else:
            aug_sets[mode] = augmented_set(cache_dir, Path(noise_dir), mode, jobs=jobs, progress=augment_progress,
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

        noise_id = load_noise_bank(eval_noise, sr=fs.cfg.sr).fingerprint()
        # the noisy clips are band-limited like the cache since scores were keyed by their cut-off;
        # earlier scores of a band-limited cache's vector models came from full-band clips
        noise_id = hash_of(noise_id if fs.cfg.fmax is None else [noise_id, {"fmax": fs.cfg.fmax}])

    def usable(rec: dict | None) -> bool:
        if rec is None:
            return False
        # runs stored before a model could be scored with noise have a source but no noisy scores
        return all(rec.get("noisy_source", {}).get(lab) == noise_id and lab in rec.get("noisy", {})
                   for lab in labels) and has_chains(rec, chain_source(chains))

    check_store(store, create=not report_only)
    stored = {key: read_record(store / f"{key}.json") for *_, key in plan}
    n_stored = sum(usable(r) for r in stored.values())
    if on_start is not None:
        on_start({"total": len(plan), "stored": n_stored, "variants": [v.name for v in chosen],
                  "folds": fold_ids, "seeds": seed_ids, "augmented": {m: a[0] for m, a in aug_sets.items()},
                  "pool": pool.describe() if pool.parallel else None})

    result = CompareResult(cache_dir=cache_dir, variants=chosen, folds=fold_ids, seeds=seed_ids,
                           classes=list(fs.classes), runs={v.name: [] for v in chosen}, eval_snrs=snrs,
                           eval_chains=chains)
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
        tasks = [(str(cache_dir), v, c, k, aug, snrs, eval_noise, str(store), key, source, chains)
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
            rec = _train_one(fs, cache_dir, v, c, k, aug, loaded_aug, snrs, eval_noise, noisy_cache, jobs,
                             chains=chains)
            report(item, store_run(store, key, rec, source), False)
    for runs in result.runs.values():
        runs.sort(key=lambda r: (r["fold"], r["seed"]))
    for name, n in result.missing.items():
        result.notes.append(f"{name}: {n} of {len(fold_ids) * len(seed_ids)} runs not stored yet")
    return result


def _train_one(fs, cache_dir, v: Variant, config, fold: int, aug, loaded_aug, snrs, eval_noise,
               noisy_cache, jobs, *, chains=()) -> dict:
    from animalsnd.models import count_params
    from animalsnd.train import load_augmented_for, train_fold

    augmented = None
    if aug is not None:
        if aug[0] not in loaded_aug:
            if len(loaded_aug) >= 2:  # at most two sets in memory
                loaded_aug.pop(next(iter(loaded_aug)))
            loaded_aug[aug[0]] = load_augmented_for(cache_dir, aug[0], classes=fs.classes, shape=fs.cfg.shape)
        augmented = loaded_aug[aug[0]]
    fam = families.family(config.model)
    inputs = fam.inputs_like(fs, cache_dir, config, jobs=jobs)  # the same rows, as the model's own inputs
    res = train_fold(inputs, config=config, test_fold=fold, augmented=augmented)
    model = res.model
    test = np.flatnonzero(fs.folds == fold)
    y_pred, secs = _predict_timed(model, inputs.X[test])
    metrics = res.metrics
    rec = {
        "format": FORMAT, "animalsnd_version": __version__, "variant": v.name, "model": v.model,
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
        paths = [fs.paths[i] for i in test]
        for snr in snrs:
            lab = snr_label(snr)
            key = (fold, lab, fam.input_kind, config.pool)
            if key not in noisy_cache:
                noisy_cache[key] = fam.noisy_inputs(paths, eval_noise, cfg=fs.cfg, pool=config.pool,
                                                    snr_db=snr, seed=EVAL_NOISE_SEED, jobs=jobs)
            pred, _ = _predict_timed(model, noisy_cache[key])
            rec["noisy"][lab] = _scores(fs.y[test], pred, fs.classes)
    if chains:  # the test clips as other recorders would have stored them, in the model's own inputs
        from animalsnd.chain_eval import spec_for, spec_inputs

        spec = spec_for(fam.input_kind, fs.cfg, config.pool)
        paths = [fs.paths[i] for i in test]
        rec["chains"], rec["chain_source"] = {}, chain_source(chains)
        for name in chains:
            key = (fold, ("chain", name), spec)
            if key not in noisy_cache:
                noisy_cache[key] = spec_inputs(paths, spec, name, shape=inputs.X.shape[1:], seed=CHAIN_SEED,
                                               jobs=jobs)
            pred, _ = _predict_timed(model, noisy_cache[key])
            rec["chains"][name] = _scores(fs.y[test], pred, fs.classes)
    del model
    res.model = None
    free_keras()
    return rec


def compare_run(cache_dir: str, variant, config, fold: int, aug, snrs, eval_noise, store: str, key: str,
                noise_source: dict, chains=()) -> dict:
    """One compare run in a worker process: train, score, write its record to the store."""
    from animalsnd.cache import load_features
    from animalsnd.runpool import cache_stamp, once

    cache = Path(cache_dir)
    stamp = cache_stamp(cache)
    fs = once(("features", cache_dir, stamp), lambda: load_features(cache))
    loaded_aug = once(("augmented", cache_dir, stamp), dict)
    noisy = once(("noisy", cache_dir, stamp, str(eval_noise)), dict)
    if noisy and next(iter(noisy))[0] != fold:
        noisy.clear()  # one fold's noisy inputs at a time
    rec = _train_one(fs, cache, variant, config, fold, aug, loaded_aug, snrs, eval_noise, noisy, 1, chains=chains)
    return store_run(Path(store), key, rec, noise_source)
