"""Where photo bytes live: a small interface, with a local directory as the default.

Keys are random names chosen by us, never by the uploader, and the directory sits outside
the static folder: nothing is served from it except through an access-checked view.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import Protocol

from flask import current_app

from server.infra.errors import StorageFull


class Storage(Protocol):
    """What the app needs from a blob store (a local disk, or an S3-compatible one)."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


def new_key(suffix: str = "") -> str:
    """A fresh random storage key (128 bits)."""
    return secrets.token_hex(16) + suffix


class LocalStorage:
    """Blobs as files under `root`, two levels of fan-out, written atomically and synced."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not key or not all(c.isalnum() or c in "._-" for c in key) or key.startswith("."):
            raise ValueError("invalid storage key")
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        temporary = path.with_name(f".{key}.{secrets.token_hex(4)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # an acknowledged report's photo survives a crash
            os.replace(temporary, path)
        except OSError as error:
            temporary.unlink(missing_ok=True)  # no half-written photo is left behind
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull() from error
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def storage() -> Storage:
    """The app's configured store."""
    return LocalStorage(current_app.config["MEDIA_ROOT"])
