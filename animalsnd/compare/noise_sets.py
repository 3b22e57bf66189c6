"""The noise-augmented training sets of the compare variants: reused when built before, else built."""

from __future__ import annotations

import json
from pathlib import Path

from animalsnd.compare.records import hash_of
from animalsnd.errors import DatasetError

__all__ = ["augmented_set", "existing_set"]


def augmented_set(cache_dir: Path, noise_dir: Path, mode: str, *, jobs: int, progress,
                   per_class: int | None = None) -> tuple[str, str]:
    """Name and build key of an augmented set of ``mode`` with the default options.

    Reuses a set already built from the same noise with the same options
    (whatever its name); otherwise builds ``mode`` (or, when that name holds a
    set of other options, ``compare-<mode>-<noise hash>``).
    """
    from animalsnd.augment.noisebank import load_noise_bank
    from animalsnd.augment.sets import list_augmented
    from animalsnd.augment.store import DEFAULT_SNR, build_augmented
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
        name = f"compare-{base}-{hash_of(bank.fingerprint())[:8]}"
    res = build_augmented(cache_dir, noise_dir, mode=mode, name=name, per_class=per_class, seed=0, jobs=jobs,
                          progress=progress)
    failed = [w for w in res.warnings if "copies failed" in w]
    if failed:
        raise DatasetError(f"augmented set {name!r} is incomplete: {failed[0]}")
    return name, conf(name)["key"]


def existing_set(cache_dir: Path, noise_dir, mode: str, *, per_class: int | None = None) -> tuple[str, str]:
    """Report-only: the set ``augmented_set`` would use, without building it."""
    from animalsnd.augment.sets import list_augmented
    from animalsnd.augment.store import DEFAULT_SNR

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
