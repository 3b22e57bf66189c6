"""animalsnd: small-data animal-sound classification on a CPU.

Importing this package is cheap: it never imports TensorFlow. Only the
commands that train or apply a model do.
"""

__version__ = "0.1.0"

from animalsnd.errors import (  # noqa: F401
    AnimalsndError,
    AudioError,
    BundleError,
    ConfigError,
    DatasetError,
)

__all__ = [
    "__version__",
    "AnimalsndError",
    "AudioError",
    "BundleError",
    "ConfigError",
    "DatasetError",
]
