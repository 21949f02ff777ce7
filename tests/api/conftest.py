"""Helpers for API tests: idempotency keys (the `login` fixture is in tests/conftest.py)."""

from __future__ import annotations

import uuid


def key() -> dict:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": str(uuid.uuid4())}
