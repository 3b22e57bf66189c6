"""The recording-chain scores of the compare runs (``compare --eval-chain``).

Every run's held-out clips are re-rendered through each named chain of
:mod:`animalsnd.chains` exactly as ``eval --chain`` renders them (seed 0, clip
``i`` of the fold drawing from ``spawn_key=(i,)``), computed in the model's
own inputs and scored again. A run stored without a requested chain's scores,
or with the scores of a chain since redefined, is trained and scored again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from animalsnd import families
from animalsnd.chains import CHAINS, parse_chains
from animalsnd.compare.records import hash_of
from animalsnd.errors import ConfigError

__all__ = ["CHAIN_SEED", "chain_source", "check_chain_inputs", "has_chains", "resolve_chains"]

CHAIN_SEED = 0


def resolve_chains(eval_chain: str | Sequence[str] | None) -> list[str]:
    """Chain names from ``--eval-chain`` text (``"8k,mp3"``, ``"default"``, ``"all"``) or a list; None: none."""
    if eval_chain is None:
        return []
    if not isinstance(eval_chain, str):
        if not eval_chain:
            return []
        eval_chain = ",".join(eval_chain)
    return parse_chains(eval_chain, option="--eval-chain")


def check_chain_inputs(variants) -> None:
    """Refuse a variant whose inputs cannot be computed from a rendered clip (ConfigError)."""
    for v in variants:
        fam = families.family(v.model)
        if getattr(fam, "wave_input", None) is None:  # the family's own say, as for eval --chain
            raise ConfigError(f"variant {v.name!r}: --eval-chain cannot compute {fam.input_kind} inputs "
                              "from a re-rendered clip")


def chain_source(names: Sequence[str]) -> dict[str, str]:
    """Per chain, a hash of its definition and seed: what a stored run's chain scores came from."""
    return {n: hash_of([asdict(CHAINS[n]), CHAIN_SEED]) for n in names}


def has_chains(rec: dict, source: dict[str, str]) -> bool:
    """Whether a stored run holds the scores of every chain of ``source``, from the same definitions."""
    return all(rec.get("chain_source", {}).get(n) == h and n in rec.get("chains", {}) for n, h in source.items())
