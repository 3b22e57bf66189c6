"""Command-line interface. Each command lives in its own module."""

from animalsnd.cli._app import app
from animalsnd.cli import prepare as _prepare  # noqa: F401  (registers commands)
from animalsnd.cli import augment as _augment  # noqa: F401
from animalsnd.cli import train as _train, eval as _eval  # noqa: F401
from animalsnd.cli import predict as _predict  # noqa: F401
from animalsnd.cli import compare as _compare  # noqa: F401
from animalsnd.cli import demo as _demo  # noqa: F401
from animalsnd.cli import audit as _audit  # noqa: F401
from animalsnd.cli import review as _review  # noqa: F401
from animalsnd.cli import placeholders as _placeholders  # noqa: F401


def _own_stderr() -> None:
    """Python's stderr on its own copy of file descriptor 2. Libraries' C-level notes are
    silenced by sending fd 2 to /dev/null for a while (:func:`animalsnd.fileutil.c_stderr_silenced`),
    sometimes from a background thread (a model loading while the first files are read); the
    command's own warnings and errors must not be silenced with them."""
    import io
    import os
    import sys

    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return
    sys.stderr = open(fd, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                      errors="backslashreplace")


def main() -> None:
    _own_stderr()
    app()


__all__ = ["app", "main"]
