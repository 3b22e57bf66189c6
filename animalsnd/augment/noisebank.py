"""Load a folder of background-noise recordings for :class:`NoiseMixer`.

Any audio file under the folder counts (recursively, hidden files and
folders ignored). Files that cannot be decoded, or that are silent, are
skipped and reported in :attr:`NoiseBank.skipped`; a folder without one
usable noise is an error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsnd.audio import is_audio_file, load
from animalsnd.augment.noise import NoiseMixer, rms
from animalsnd.errors import AudioError, DatasetError

__all__ = ["NoiseBank", "find_noise_files", "load_noise_bank", "load_noise_waveforms"]

# Same threshold as NoiseMixer: quieter noises cannot be scaled to an SNR.
_SILENT_RMS = 1e-8
# Decoded noises of this process, keyed by (root, names, sr); a few entries.
_DECODED: dict[tuple, tuple[np.ndarray, ...]] = {}
_MAX_DECODED = 4


@dataclass(frozen=True)
class NoiseBank:
    """Usable noise recordings of one folder, resampled to ``sr``.

    Attributes
    ----------
    root : Path
        The noise folder (absolute).
    names : list of str
        Paths relative to ``root`` (POSIX), sorted.
    waveforms : list of np.ndarray, each shape (n_i,), float32
        Mono noise at ``sr``, in the order of ``names``.
    shas : list of str
        SHA-256 of each file's bytes (key the augmented sets built from it).
    sr : int
        Sample rate in Hz.
    skipped : list of (str, str)
        ``(name, reason)`` of files that could not be used.
    """

    root: Path
    names: list[str]
    waveforms: list[np.ndarray]
    shas: list[str]
    sr: int
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def mixer(self, *, snr_db: tuple[float, float] | float, reference: str) -> NoiseMixer:
        """A :class:`NoiseMixer` over these noises."""
        return NoiseMixer(
            self.waveforms, snr_db=snr_db, reference=reference, sr=self.sr, noise_names=self.names
        )

    def fingerprint(self) -> list[list[str]]:
        """``[[name, sha256], ...]``: what changes when the folder's content does."""
        return [[n, s] for n, s in zip(self.names, self.shas)]


def find_noise_files(noise_dir: str | Path) -> list[Path]:
    """Audio files under ``noise_dir`` (recursively), sorted; no hidden ones.

    Raises
    ------
    DatasetError
        ``noise_dir`` is missing, not a folder, or holds no audio file.
    """
    root = Path(noise_dir)
    if not root.exists():
        raise DatasetError(f"{root}: noise folder does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root}: noise folder is not a folder")
    files = [
        p for p in sorted(root.rglob("*"))
        if is_audio_file(p) and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    if not files:
        raise DatasetError(f"{root}: no audio files in the noise folder (expected *.wav|flac|ogg|mp3)")
    return files


def _load_one(path: Path, *, sr: int, data: bytes | None = None) -> np.ndarray:
    y, _ = load(path, sr=sr, data=data)
    if rms(y) <= _SILENT_RMS:
        raise AudioError(f"{path}: silent noise (RMS {rms(y):.2g})")
    return y


def load_noise_bank(noise_dir: str | Path, *, sr: int) -> NoiseBank:
    """Decode every usable noise recording of ``noise_dir`` at ``sr``.

    Parameters
    ----------
    noise_dir : str or Path
        Folder of noise recordings (any depth).
    sr : int
        Target sample rate in Hz.

    Returns
    -------
    NoiseBank

    Raises
    ------
    DatasetError
        No audio file, or none of them usable.
    """
    root = Path(noise_dir)
    files = find_noise_files(root)
    names, waves, shas, skipped = [], [], [], []
    for p in files:
        name = p.relative_to(root).as_posix()
        try:
            data = p.read_bytes()
        except OSError as exc:
            skipped.append((name, f"cannot read ({exc.strerror})"))
            continue
        try:
            y = _load_one(p, sr=sr, data=data)
        except AudioError as exc:
            msg = str(exc)
            skipped.append((name, msg[len(str(p)) + 2:] if msg.startswith(f"{p}: ") else msg))
            continue
        names.append(name)
        waves.append(y)
        shas.append(hashlib.sha256(data).hexdigest())
    if not names:
        first = f"{skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise DatasetError(
            f"{root}: none of the {len(files)} noise file(s) could be used (first: {first})"
        )
    root = root.resolve()
    _remember((str(root), tuple(names), int(sr)), tuple(waves))
    return NoiseBank(root, names, waves, shas, int(sr), skipped)


def _remember(key: tuple, waves: tuple[np.ndarray, ...]) -> None:
    if len(_DECODED) >= _MAX_DECODED:
        _DECODED.pop(next(iter(_DECODED)))
    _DECODED[key] = waves


def load_noise_waveforms(root: str, names: tuple[str, ...], sr: int) -> tuple[np.ndarray, ...]:
    """The named noises of ``root`` at ``sr``, decoded once per process.

    Parallel workers receive only ``(root, names)`` instead of the arrays and
    decode them on first use; decoding is deterministic, so they get the
    waveforms :func:`load_noise_bank` checked in the parent.
    """
    key = (str(root), tuple(names), int(sr))
    if key not in _DECODED:
        _remember(key, tuple(_load_one(Path(root) / n, sr=sr) for n in names))
    return _DECODED[key]
