"""Stored compare runs: the key of a run, its record, and the mean and spread over runs.

Every finished run is one JSON record under ``CACHE_DIR/compare/runs/<key>.json``,
written atomically. The key hashes everything that decides the run's result, so
a re-run reuses what did not change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.compare.variants import Variant, snr_label
from animalsnd.metrics import SUMMARY_KEYS

__all__ = ["FORMAT", "CompareResult", "hash_of", "RunCallback", "RunInfo", "key_config", "read_record", "run_key",
           "store_run", "summarise_runs"]

FORMAT = 1  # bump when a stored run record changes meaning


def hash_of(obj) -> str:
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
        "format": FORMAT, "variant": variant.definition(), "config": config, "fold": int(fold),
        "feature_hash": feature_hash, "fingerprint": fingerprint, "augmented": augmented_key,
    }
    revision = model_revision(variant.model)
    if revision > 1:
        key["model_revision"] = revision
    return hash_of(key)


def read_record(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("format") == FORMAT else None


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
    eval_chains: list[str] = field(default_factory=list)
    trained: int = 0
    reused: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """``{"variants": {name: {accuracy: {mean, std}, ..., runs: [...]}}, ...}`` (the --json schema)."""
        out = {}
        for v in self.variants:
            out[v.name] = summarise_runs(self.runs.get(v.name, []), v, self.classes, self.eval_snrs,
                                         chains=self.eval_chains)
            out[v.name]["missing_runs"] = self.missing.get(v.name, 0)
        return {
            "cache_dir": str(self.cache_dir), "classes": self.classes, "folds": self.folds,
            "seeds": self.seeds, "eval_snr": [snr_label(s) for s in self.eval_snrs],
            "eval_chain": list(self.eval_chains), "variants": out, "notes": self.notes,
        }


def _ms(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std())} if a.size else {"mean": None, "std": None}


def summarise_runs(runs: list[dict], variant: Variant, classes: list[str], eval_snrs: list[float], *,
                   chains: list[str] = ()) -> dict:
    """Mean ± std (population) over runs of the scores, costs, noisy and chain scores.

    ``chain[name]`` holds the scores through each chain and ``drop``, the
    clean accuracy minus the chain's; ``worst_chain`` is the chain of the
    largest mean drop (``eval --chain``'s ``worst_drop``), with that drop's
    mean ± std over runs.
    """
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
    out["chain"] = {}
    for c in chains:
        got = [r for r in runs if c in r.get("chains", {})]
        out["chain"][c] = {k: _ms([r["chains"][c][k] for r in got]) for k in SUMMARY_KEYS}
        out["chain"][c]["drop"] = _ms([r["accuracy"] - r["chains"][c]["accuracy"] for r in got])
    drops = {c: d["drop"] for c, d in out["chain"].items() if d["drop"]["mean"] is not None}
    worst = max(drops, key=lambda c: drops[c]["mean"], default=None)
    out["worst_chain"] = {"chain": worst, **(drops[worst] if worst else {"mean": None, "std": None})}
    out["per_class_f1"] = {c: _ms([r["per_class_f1"][c] for r in runs if c in r["per_class_f1"]]) for c in classes}
    out["runs"] = runs
    return out


def store_run(store: Path, key: str, rec: dict, noisy_source: dict) -> dict:
    """Write one finished run's record (atomically) under its key; returns it."""
    from animalsnd.fileutil import atomic_write_text

    rec.update(key=key, noisy_source=noisy_source)
    atomic_write_text(store / f"{key}.json", json.dumps(rec, indent=1) + "\n")
    return rec
