"""One exception hierarchy for everything a user can get wrong.

The CLI turns any :class:`AnimalsndError` into one red line and exit code 1.
"""


class AnimalsndError(Exception):
    """Base class: a problem with the user's input, not a bug."""


class AudioError(AnimalsndError):
    """A file could not be decoded or is not usable audio."""


class DatasetError(AnimalsndError):
    """A data folder or feature cache is missing, empty or inconsistent."""


class ConfigError(AnimalsndError):
    """An option has an invalid value."""


class BundleError(AnimalsndError):
    """A model bundle is missing, corrupt or incompatible."""
