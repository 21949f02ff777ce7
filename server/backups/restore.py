"""Put an archive back into an empty instance: verify, refuse, load, migrate.

Nothing is touched before the archive has been read whole and every checksum matches,
and nothing is written into an instance that holds anything: a database whose tables
hold a row, or a photo folder with a file in it. The database is loaded in one step (a
failure leaves it as it was), the photos are unpacked beside the photo folder and moved
into place only after it, and an archive of an older schema is then migrated to head.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from server.backups import archive, database, revisions


class RestoreRefused(Exception):
    """The restore was refused before anything was written; the message says why."""


class RestoredInPart(Exception):
    """The database is restored, but a later step failed: the message says what to do."""


class NotMigrated(RestoredInPart):
    """The archive was restored whole, but migrating it to head failed."""


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    manifest: archive.Manifest
    photos: int
    migrated_from: str | None  # the archive's revision when it was not head


def check(archive_path: Path, *, database_url: str, media_root: Path, metadata):
    """Everything a restore must know before it writes: the archive whole, of a schema
    this code knows, of this kind of database, and an empty instance. Returns the
    manifest, or raises RestoreRefused / ArchiveBroken."""
    manifest = archive.verify(archive_path)
    kind = database.kind(database_url)
    if manifest.database != kind:
        raise RestoreRefused(f"这份备份来自 {manifest.database} 数据库，不能恢复到 {kind} 数据库。")
    if not revisions.known(manifest.revision):
        raise RestoreRefused(
            f"这份备份的数据库结构（{manifest.revision}）比本程序新"
            f"（版本 {manifest.app_version}）：请先安装该版本或更新的 grid-report 再恢复。"
        )
    foreign = database.foreign_tables(database_url, metadata)
    if foreign:
        raise RestoreRefused(
            "目标数据库里有不属于本程序的表（" + "、".join(foreign[:5]) + "）："
            "恢复会整个替换数据库，不会覆盖它们；请换一个新建的空数据库。"
        )
    busy = database.nonempty_tables(database_url, metadata)
    if busy:
        raise RestoreRefused(
            "目标数据库不是空的（" + "、".join(busy[:5]) + " 等表有数据）："
            "只能恢复到全新的实例，请换一个空数据库。"
        )
    if _has_files(media_root):
        raise RestoreRefused(
            f"照片目录不是空的（{media_root}）：只能恢复到全新的实例，请换一个空目录。"
        )
    return manifest


def restore(archive_path: Path, *, database_url: str, media_root: Path, metadata, upgrade):
    """Restore `archive_path` into the empty instance (`database_url`, `media_root`);
    `upgrade()` migrates the database to head afterwards when the archive is older."""
    archive_path, media_root = Path(archive_path), Path(media_root)
    manifest = check(
        archive_path, database_url=database_url, media_root=media_root, metadata=metadata
    )
    media_root.parent.mkdir(parents=True, exist_ok=True)
    # Beside the photo folder, on its file system: the move into place is a rename.
    staging = media_root.parent / f".{media_root.name}.restoring-{secrets.token_hex(4)}"
    loaded = False
    try:
        photos = archive.extract_tree(archive_path, "media", staging)
        with tempfile.TemporaryDirectory(dir=media_root.parent, prefix=".restore-") as scratch:
            dump = Path(scratch) / database.dump_name(manifest.database)
            archive.extract(archive_path, dump.name, dump)
            database.load(database_url, dump)
        loaded = True
        if media_root.exists():
            shutil.rmtree(media_root)  # empty folders only: checked above
        staging.mkdir(exist_ok=True)
        os.replace(staging, media_root)
    except OSError as error:
        if not loaded:
            raise
        # The database is in and a second restore would be refused: keep the photos
        # where they are and say where, rather than lose them.
        raise RestoredInPart(
            f"数据库已恢复，但照片未能移入 {media_root}（{type(error).__name__}）："
            f"照片保留在 {staging}，请手工移到该处。"
        ) from error
    finally:
        if not loaded:
            shutil.rmtree(staging, ignore_errors=True)
    migrated_from = None
    if manifest.revision != revisions.head():
        migrated_from = manifest.revision
        try:
            upgrade()  # one transaction: on failure the restored revision stands
        except Exception as error:
            raise NotMigrated(
                f"备份已完整恢复（数据库版本 {manifest.revision}），但迁移到当前版本失败："
                f"{type(error).__name__}。修正后运行 grid-report db upgrade。"
            ) from error
    return Restored(manifest, photos, migrated_from)


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(path.is_file() for path in folder.rglob("*"))
