"""The `grid-report` program: Flask's command line over the app, whose commands are
server/commands.py's.

It sits above the app (it builds one for each command) and the commands below it (the app
registers them on first use), so that neither of the two needs to know the other.

A command that needs no app at all (STANDALONE) is run on its own when it is named
first, without importing Flask or the app: the imports are most of its start-up (0.4 s of
`export-qr`'s 1.2 s). Named after an option (`grid-report -A … export-qr`), it runs
through Flask's command line like the others, inside an app.
"""

from __future__ import annotations

import sys

import click

from server.organisation.posters import export_qr_command

# Commands that run without the app, by name. Their modules import no more than the
# app's would (SQLAlchemy, click), so loading them costs the other commands nothing.
STANDALONE = {command.name: command for command in (export_qr_command,)}

# Commands that need only the core (the configuration, the database, the models): their app
# is built without the surfaces, whose imports are most of a command's start-up.
CORE_COMMANDS = frozenset(STANDALONE)


def _command_line() -> click.Group:
    """Flask's command line, building for each command the app it needs."""
    from flask.cli import FlaskGroup, ScriptInfo

    from server.app import create_app

    class CommandLine(FlaskGroup):
        def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
            if name in CORE_COMMANDS:
                ctx.ensure_object(ScriptInfo).create_app = lambda: create_app({"SURFACES": ""})
            return super().get_command(ctx, name)

    return CommandLine(
        create_app=lambda: create_app(), help="网格事件上报与矛盾纠纷调处 (grid-report)"
    )


def main() -> None:
    """Entry point of the `grid-report` console script."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name in STANDALONE:
        STANDALONE[name].main(sys.argv[2:], prog_name=f"grid-report {name}")
    else:
        _command_line().main(prog_name="grid-report")
