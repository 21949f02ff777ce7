"""Every village's QR code and A4 poster written to a folder: `grid-report export-qr DIR`.

Run as `grid-report export-qr DIR`, the command starts without Flask, the models or the
app (server/cli.py runs it on its own): it reads the configuration (server/config.py), the
villages through SQLAlchemy's core, and renders the villagers' poster template with Jinja.
Why: through the app it took 2.4x plain qrcode making the same 50 codes (1.23 s against
0.51 s; issue 20 asks for 1.5x), and 0.41 s of it went to importing Flask, the models
and the surfaces before the first code was drawn; without them it takes 0.76 s (1.5x).
`benchmarks/bench_qr.py` prints the figures.

Run inside an app (`flask export-qr`, the tests' runner, `grid-report` given an option
before the command), it reads the app's database session and address instead: the same
command, the same files.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import Connection, create_engine, text

from server import config
from server.organisation import qr_images

# The villagers' poster is the villager pages' (/q/<token>/poster): its template and style
# are read from there, whether or not that surface is loaded.
_VILLAGER = Path(__file__).parents[2] / "villager"

_ACTIVE_VILLAGES = text(
    "SELECT village.id, village.code, village.name, village.qr_token, town.name, town.hotline "
    "FROM village JOIN town ON town.id = village.town_id "
    "WHERE village.active ORDER BY village.code"
)


@dataclass(frozen=True)
class Town:
    """What a poster says of a village's town: its name and its hotline."""

    name: str
    hotline: str | None


@dataclass(frozen=True)
class PosterVillage:
    """What a poster shows of a village (the template's `village`), and its code's URL."""

    id: int
    code: str
    name: str
    town: Town
    url: str


def active_villages(connection: Connection, base_url: str) -> list[PosterVillage]:
    """Every active village, in order of code, with the URL its code carries."""
    towns: dict[str, Town] = {}
    return [
        PosterVillage(
            id=row[0],
            code=row[1],
            name=row[2],
            town=towns.setdefault(row[4], Town(row[4], row[5])),
            url=qr_images.village_url(base_url, row[3]),
        )
        for row in connection.execute(_ACTIVE_VILLAGES)
    ]


def write(target: Path, villages: list[PosterVillage]) -> None:
    """Each village's PNG, SVG and poster, and the sheet of all, into `target`."""
    # Here: Jinja is loaded by the command, not by whoever imports this module.
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    target.mkdir(parents=True, exist_ok=True)
    css = (_VILLAGER / "static" / "poster.css").read_text(encoding="utf-8")
    # Escaped as Flask escapes the pages that render the same template.
    templates = Environment(
        loader=FileSystemLoader(_VILLAGER / "templates"), autoescape=select_autoescape()
    )
    poster = templates.get_template("villager/poster.html")
    # Each code is made and drawn once: its files, its poster and the sheet share it.
    drawings = {village.id: qr_images.draw(village.url) for village in villages}

    def posters(shown: list[PosterVillage]) -> str:
        # Each poster names its own village's town; a sheet of several towns' names none.
        towns = {village.town for village in shown}
        return poster.render(
            villages=shown,
            town=towns.pop() if len(towns) == 1 else None,
            qr_svg=lambda village: drawings[village.id].svg,
            url_of=lambda village: village.url,
            inline_css=css,
        )

    for village in villages:
        stem = f"{village.code}-{village.name}"
        drawing = drawings[village.id]
        (target / f"{stem}.png").write_bytes(drawing.png)
        (target / f"{stem}.svg").write_text(drawing.svg, encoding="utf-8")
        (target / f"{stem}-poster.html").write_text(posters([village]), encoding="utf-8")
    (target / "all-villages-posters.html").write_text(posters(villages), encoding="utf-8")


@contextmanager
def _database() -> Iterator[tuple[Connection, str]]:
    """A connection to read the villages on, and the address their codes carry."""
    # Inside an app, its own: the tests' database is the one the app was given. Flask is
    # not imported to ask: if it is not loaded, no app can be running.
    flask = sys.modules.get("flask")
    if flask is not None and flask.has_app_context():
        from server.db import db
        from server.organisation import qr

        yield db.session.connection(), qr.public_base_url()
        return
    settings = config.load(config.instance_path())
    engine = create_engine(settings["DATABASE_URL"], **settings["SQLALCHEMY_ENGINE_OPTIONS"])
    try:
        with engine.connect() as connection:
            yield connection, qr_images.base_url(str(settings["PUBLIC_BASE_URL"]))
    finally:
        engine.dispose()


@click.command("export-qr")
@click.argument("directory", type=click.Path(file_okay=False))
def export_qr_command(directory: str) -> None:
    """Write every village's QR code (PNG, SVG) and A4 poster (HTML) into DIRECTORY."""
    with _database() as (connection, base_url):
        villages = active_villages(connection, base_url)
    write(Path(directory), villages)
    click.echo(f"wrote QR codes and posters of {len(villages)} villages to {directory}")
