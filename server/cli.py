"""The `grid-report` program: Flask's command line over the app, whose commands are
server/commands.py's.

It sits above the app (it builds one for each command) and the commands below it (the app
registers them on first use), so that neither of the two needs to know the other.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup, ScriptInfo

from server.app import create_app

# Commands that need only the core (the configuration, the database, the models): their app
# is built without the surfaces, whose imports are most of a command's start-up.
CORE_COMMANDS = frozenset({"export-qr"})


class CommandLine(FlaskGroup):
    """Flask's command line, building for each command the app it needs."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in CORE_COMMANDS:
            ctx.ensure_object(ScriptInfo).create_app = lambda: create_app({"SURFACES": ""})
        return super().get_command(ctx, name)


def main() -> None:
    """Entry point of the `grid-report` console script."""
    cli = CommandLine(
        create_app=lambda: create_app(), help="网格事件上报与矛盾纠纷调处 (grid-report)"
    )
    cli.main(prog_name="grid-report")
