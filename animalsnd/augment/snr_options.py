"""SNR options as typed on the command line: a range (``"10:20"``) or a list (``"20,10,5,0"``)."""

from __future__ import annotations

import math

from animalsnd.errors import ConfigError

__all__ = ["parse_snr_list", "parse_snr_range", "snr_range"]


def parse_snr_range(text: str) -> tuple[float, float]:
    """Parse an SNR range option: ``"10:20"`` -> (10.0, 20.0), ``"5"`` -> (5.0, 5.0).

    Parameters
    ----------
    text : str
        ``"LOW:HIGH"`` or a single value, in dB. Negative values are allowed.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``low <= high``.

    Raises
    ------
    ConfigError
        For empty, non-numeric, non-finite or inverted ranges; the message
        quotes ``text``.
    """
    parts = str(text).split(":")
    if len(parts) > 2 or any(not p.strip() for p in parts):
        raise ConfigError(f"SNR range {text!r} must look like LOW:HIGH or VALUE (dB)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(
            f"SNR range {text!r} must hold numbers, like 10:20 or 5"
        ) from None
    lo, hi = values[0], values[-1]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"SNR range {text!r} must be finite")
    if lo > hi:
        raise ConfigError(f"SNR range {text!r} is inverted: low {lo:g} > high {hi:g}")
    return lo, hi


def parse_snr_list(text: str) -> list[float]:
    """Parse a comma-separated list of SNRs: ``"20,10,5,0"`` -> [20.0, 10.0, 5.0, 0.0].

    Order is kept. Raises :class:`ConfigError` quoting ``text`` for an empty
    list, an empty item or a non-numeric / non-finite value.
    """
    parts = str(text).split(",")
    if any(not p.strip() for p in parts):
        raise ConfigError(
            f"SNR list {text!r} must be comma-separated numbers, like 20,10,5,0"
        )
    out: list[float] = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise ConfigError(f"SNR list {text!r}: {p.strip()!r} is not a number") from None
        if not math.isfinite(v):
            raise ConfigError(f"SNR list {text!r}: {p.strip()!r} is not finite")
        out.append(v)
    return out


def snr_range(snr, default: tuple[float, float]) -> tuple[float, float]:
    """``snr`` as a checked ``(low, high)`` in dB: ``"LOW:HIGH"`` (:func:`parse_snr_range`), a
    ``(low, high)`` pair, or None for ``default``."""
    if snr is None:
        return default
    if isinstance(snr, str):
        return parse_snr_range(snr)
    try:
        lo, hi = (float(v) for v in snr)
    except (TypeError, ValueError):
        raise ConfigError(f"snr={snr!r} must be 'LOW:HIGH' or a (low, high) pair in dB") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ConfigError(f"snr={snr!r} must be finite with low <= high")
    return lo, hi
