"""Named settings: the study's exact pipeline, and the defaults that transfer.

``study`` reproduces the published pipeline (per-band z-normalisation of the
full-band log-Mel). ``default`` is what measured best on recordings the
models never saw in training (other recording chains, unseen noise; see
docs/results.md, "Out of distribution"): the analysis bandwidth is chosen
from the recordings (``--cutoff auto``) and whole clips are cut to their
active region (``--trim``), so a call inside a longer recording is described
as the training clips were.
"""

from __future__ import annotations

from animalsnd.errors import ConfigError

PRESETS = ("default", "study")


def feature_preset(name: str, *, norm: str, cutoff: str | float | None,
                   trim: bool = True) -> tuple[str, str | float | None, bool]:
    """``(norm, cutoff, trim)`` for ``prepare`` under preset ``name``; the user's values
    stand under ``default``, ``study`` fixes all three (per-band, full band, untrimmed)."""
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r} must be one of: {', '.join(PRESETS)}")
    if name == "study":
        return "band", "none", False
    return norm, cutoff, trim
