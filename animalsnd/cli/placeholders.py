"""Commands that later versions fill in; each says so in one line."""

from __future__ import annotations

import typer

from animalsnd.cli._app import app, not_available

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}

for _name, _help in [
]:

    def _cmd(ctx: typer.Context, _n: str = _name) -> None:
        not_available(_n)

    _cmd.__doc__ = _help
    app.command(name=_name, context_settings=_EXTRA, help=_help)(_cmd)
