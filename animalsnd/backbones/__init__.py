"""Pretrained audio backbones that turn a waveform into a fixed embedding.

Importing this package is cheap: no backbone module and no TensorFlow or
LiteRT runtime is imported until it is used.

Available backbones:

* :mod:`animalsnd.backbones.birdnet` -- BirdNET V2.4 (1024-d embeddings per
  3-s window at 48 kHz). Needs the optional extra: ``pip install -e ".[birdnet]"``.
"""

from __future__ import annotations

BACKBONES = ("birdnet",)

__all__ = ["BACKBONES"]
