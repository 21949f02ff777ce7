"""One backup as one file: a tar of the database snapshot, the photos and a manifest.

The manifest (`manifest.json`, the tar's second-last member) says what the archive is:
its format, the app's version, the schema's Alembic revision, the database kind, when it
was made (UTC), and every other member with its size and sha256; the last member holds
the manifest's own sha256, so a flipped byte anywhere is found before anything is
restored. The tar is written under a hidden temporary name and renamed when whole and
synced: a half-written archive (a full disk, a killed job) never looks like a backup.
Manifests carry no names or phones: photo keys are random (server/infra/storage.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.json.sha256"
# grid-report-20261206T023000Z.tar: sorted by name is sorted by time.
NAME = re.compile(r"^grid-report-(\d{8}T\d{6})Z\.tar$")
_CHUNK = 1 << 20


class ArchiveBroken(Exception):
    """The archive is unreadable or does not match its manifest; the message says how."""


def archive_name(created_at: datetime, label: str = "") -> str:
    """The file name of an archive made at `created_at`; a `label` (`pre-upgrade`) keeps
    it out of the retention rule, which only knows unlabelled names."""
    suffix = f"-{label}" if label else ""
    return f"grid-report-{created_at.astimezone(UTC):%Y%m%dT%H%M%S}Z{suffix}.tar"


def time_of(name: str) -> datetime | None:
    """When the archive named `name` was made, or None for a file that is not ours."""
    match = NAME.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


@dataclass
class Manifest:
    """What an archive holds, as `manifest.json` says it."""

    app_version: str
    revision: str | None
    database: str  # "sqlite" or "postgresql"
    created_at: str
    snapshot_at: str = ""
    photos_referenced: int = 0
    photos_missing: list[str] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # {"path", "size", "sha256"}
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(vars(self), ensure_ascii=False, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
        except ValueError as error:
            raise ArchiveBroken(f"清单（manifest.json）无法读取：{error}") from None
        # The format first: a later format may carry fields this code does not know.
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise ArchiveBroken(f"不认识的备份格式：{found}（本程序认识 {FORMAT}）。")
        try:
            return cls(**data)
        except TypeError as error:
            raise ArchiveBroken(f"清单（manifest.json）无法读取：{error}") from None


class _Hashing:
    """A file read through sha256, for tarfile to copy from."""

    def __init__(self, handle):
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.handle.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


class Writer:
    """Writes an archive into `directory`: add files, then `finish(manifest)`."""

    def __init__(self, directory: Path, created_at: datetime, label: str = ""):
        self.directory = Path(directory)
        # Only the service's user reads backups: they hold everything the database does.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.directory / archive_name(created_at, label)
        self.temporary = self.directory / f".{self.path.name}.{secrets.token_hex(4)}.partial"
        self.files: list[dict] = []
        descriptor = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(descriptor, "wb")
        self._tar = tarfile.open(  # noqa: SIM115 - closed by finish() or abandon()
            fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT
        )

    def add(self, source: Path, name: str) -> None:
        """Copy the file `source` in as `name`, counting its size and sha256."""
        info = tarfile.TarInfo(name)
        info.size = source.stat().st_size
        info.mtime = int(source.stat().st_mtime)
        info.mode = 0o600
        with open(source, "rb") as handle:
            reader = _Hashing(handle)
            self._tar.addfile(info, reader)
        if reader.size != info.size:  # photos are write-once: this would be a bug
            raise RuntimeError(f"{name} changed while it was copied")
        self.files.append({"path": name, "size": info.size, "sha256": reader.digest.hexdigest()})

    def _add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o600
        info.mtime = int(datetime.now(UTC).timestamp())
        self._tar.addfile(info, _BytesReader(data))

    def finish(self, manifest: Manifest) -> Path:
        """Write the manifest, sync, and give the archive its name: now it is a backup."""
        manifest.files = list(self.files)
        raw = manifest.to_json()
        self._add_bytes(MANIFEST, raw)
        self._add_bytes(MANIFEST_SUM, hashlib.sha256(raw).hexdigest().encode())
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.path.exists():  # two backups in one second: keep the first, fail this one
            raise FileExistsError(f"备份文件已存在：{self.path}")
        os.replace(self.temporary, self.path)
        _sync_directory(self.directory)  # the rename itself survives a power cut
        return self.path

    def abandon(self) -> None:
        """Remove what was written so far (the backup failed)."""
        try:
            self._tar.close()
            self._file.close()
        finally:
            self.temporary.unlink(missing_ok=True)


class _BytesReader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.at + n
        chunk, self.at = self.data[self.at : end], min(end, len(self.data))
        return chunk


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _safe(name: str) -> bool:
    """A member name that stays inside the folder it is unpacked into: relative, no `..`,
    and written as its plain form (`media//etc/x` would lose `media/` and become absolute
    once the prefix is cut; `a/./b` and a trailing `/` are refused as well)."""
    path = PurePosixPath(name)
    return (
        bool(name)
        and not path.is_absolute()
        and ".." not in path.parts
        and str(path) == name
        and "\\" not in name
    )


def verify(archive: Path) -> Manifest:
    """Read the whole archive and check every member against the manifest; return the
    manifest, or raise ArchiveBroken saying what is wrong."""
    digests: dict[str, tuple[int, str]] = {}
    manifest_raw = manifest_sum = None
    try:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                if not member.isfile() or not _safe(member.name):
                    raise ArchiveBroken(f"归档里有不该有的条目：{member.name}")
                handle = tar.extractfile(member)
                if member.name == MANIFEST:
                    manifest_raw = handle.read()
                elif member.name == MANIFEST_SUM:
                    manifest_sum = handle.read().decode("ascii", "replace").strip()
                else:
                    digest = hashlib.sha256()
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                    digests[member.name] = (member.size, digest.hexdigest())
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArchiveBroken(f"归档文件已损坏或不完整：{error}") from None
    if manifest_raw is None or manifest_sum is None:
        raise ArchiveBroken("归档里没有清单（manifest.json）：不是完整的备份。")
    if hashlib.sha256(manifest_raw).hexdigest() != manifest_sum:
        raise ArchiveBroken("清单（manifest.json）的校验和不符：归档已损坏。")
    manifest = Manifest.from_json(manifest_raw)
    try:
        listed = {entry["path"]: (entry["size"], entry["sha256"]) for entry in manifest.files}
    except (KeyError, TypeError):
        raise ArchiveBroken("清单（manifest.json）的文件列表不完整：归档已损坏。") from None
    for name in sorted(set(listed) | set(digests)):
        if name not in digests:
            raise ArchiveBroken(f"清单列出的文件不在归档里：{name}")
        if name not in listed:
            raise ArchiveBroken(f"归档里有清单未列出的文件：{name}")
        if digests[name] != listed[name]:
            raise ArchiveBroken(f"文件的校验和不符：{name}")
    return manifest


def extract(archive: Path, name: str, target: Path) -> None:
    """Copy the member `name` of a verified archive to the file `target`."""
    with tarfile.open(archive, "r:") as tar:
        handle = tar.extractfile(name)
        with open(target, "wb") as out:
            while chunk := handle.read(_CHUNK):
                out.write(chunk)


def extract_tree(archive: Path, prefix: str, target: Path) -> int:
    """Copy the members under `prefix/` of a verified archive into `target`, each synced;
    return how many."""
    count = 0
    with tarfile.open(archive, "r:") as tar:
        for member in tar:
            if not member.name.startswith(prefix + "/") or not _safe(member.name):
                continue
            destination = target / member.name[len(prefix) + 1 :]
            if not destination.resolve().is_relative_to(target.resolve()):
                raise ArchiveBroken(f"归档里有不该有的条目：{member.name}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            handle = tar.extractfile(member)
            with open(destination, "wb") as out:
                while chunk := handle.read(_CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            count += 1
    return count
