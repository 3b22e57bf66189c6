"""Pure augmentation transforms on NumPy arrays (no I/O, no TensorFlow).

One class per augmentation. Each has ``randomize(...)``, which draws and
records its random values in ``self.params``, ``apply(...)``, which uses only
those, and ``__call__``, which does both.
"""

from animalsnd.augment.mixup import Mixup
from animalsnd.augment.noise import (
    NoiseMixer,
    active_rms,
    calculate_desired_noise_rms,
    noise_segment,
    parse_snr_list,
    parse_snr_range,
    realised_snr,
    rms,
)
from animalsnd.augment.specaugment import SpecAugment

__all__ = [
    "Mixup",
    "NoiseMixer",
    "SpecAugment",
    "active_rms",
    "calculate_desired_noise_rms",
    "noise_segment",
    "parse_snr_list",
    "parse_snr_range",
    "realised_snr",
    "rms",
]
