"""Backups: one archive file holding the database's snapshot, the photos and a manifest
(`make`), kept by a 7-daily / 4-weekly / 12-monthly rule (`prune`), checked (`verify`)
and put back into an empty instance (`restore.restore`).

Modules: `archive` (the tar and its manifest), `database` (each engine's snapshot and
load), `revisions` (the schema's Alembic revisions), `retention` (what to keep, a pure
function), `restore`. They open connections of their own, outside the unit of work:
a snapshot is one read transaction, a load is one write, each all or nothing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

from server.backups import archive, database, retention, revisions
from server.backups.archive import ArchiveBroken, Manifest, verify

__all__ = ["ArchiveBroken", "Backup", "Manifest", "make", "prune", "verify"]


@dataclass(frozen=True)
class Backup:
    """A finished archive and what it says of itself."""

    path: Path
    manifest: Manifest


def app_version() -> str:
    """The installed grid-report's version."""
    try:
        return metadata.version("grid-report")
    except metadata.PackageNotFoundError:  # run from a checkout that was not installed
        return "unknown"


def make(directory: Path, *, database_url: str, media_root: Path, label: str = "") -> Backup:
    """Back up the database at `database_url` and the photos under `media_root` into a
    new archive in `directory`, while the app goes on serving. A labelled archive is
    never pruned."""
    kind = database.kind(database_url)
    created_at = datetime.now(UTC)
    writer = archive.Writer(Path(directory), created_at, label)
    try:
        with tempfile.TemporaryDirectory(dir=directory, prefix=".snapshot-") as scratch:
            dump = Path(scratch) / database.dump_name(kind)
            snapshot = database.snapshot(database_url, dump)
            writer.add(dump, dump.name)
        # The photos after the database, not before: a photo's file is written and
        # synced before the row that refers to it is committed (server/cases/media.py),
        # so every photo the snapshot refers to is on disk by now, and photos are never
        # changed once written. A file that came after the snapshot is a harmless extra
        # (like an upload no report claimed); one taken before could lack its row's
        # photos' later siblings, and a snapshot taken second could refer to a photo the
        # copy missed.
        copied = _add_photos(writer, Path(media_root))
        manifest = Manifest(
            app_version=app_version(),
            revision=snapshot.revision,
            database=kind,
            created_at=created_at.isoformat(),
            snapshot_at=snapshot.taken_at.isoformat(),
            photos_referenced=len(snapshot.photo_keys),
            # A photo a row names but the disk lost before the backup: said, not fatal
            # (a backup without one photo is better than none).
            photos_missing=sorted(snapshot.photo_keys - copied),
        )
        return Backup(writer.finish(manifest), manifest)
    except BaseException:
        writer.abandon()
        raise


def _add_photos(writer: archive.Writer, media_root: Path) -> set[str]:
    """Add every stored photo under `media/`; return their keys."""
    keys = set()
    if not media_root.is_dir():
        return keys
    for path in sorted(media_root.rglob("*")):
        # Hidden names are the store's temporary files, half-written (storage.put).
        if not path.is_file() or path.name.startswith("."):
            continue
        writer.add(path, "media/" + path.relative_to(media_root).as_posix())
        keys.add(path.name)
    return keys


def prune(directory: Path, *, zone: ZoneInfo) -> list[Path]:
    """Delete the archives in `directory` that the retention rule does not keep; return
    them. Only files named as our archives are ever touched."""
    archives = {
        moment: path
        for path in Path(directory).iterdir()
        if path.is_file() and (moment := archive.time_of(path.name)) is not None
    }
    kept = retention.keep(archives, zone=zone)
    removed = [path for moment, path in sorted(archives.items()) if moment not in kept]
    for path in removed:
        path.unlink()
    return removed


def before_upgrade(
    engine, directory: Path, *, database_url: str, media_root: Path
) -> Backup | None:
    """Back up a database that holds a schema behind head, before it is migrated; None
    for a new database (nothing to lose) or one at head (`make run` migrates at every
    start and must stay quick and quiet). The archive is labelled `pre-upgrade`: the
    nightly pruning leaves it for whoever upgraded to remove."""
    current = revisions.current(engine)
    if current is None or current == revisions.head():
        return None
    return make(directory, database_url=database_url, media_root=media_root, label="pre-upgrade")
