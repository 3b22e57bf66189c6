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


def main() -> None:
    app()


__all__ = ["app", "main"]
