"""Helpers for admin tests: read CSRF tokens from pages (`signin` is in tests/conftest.py)."""

from __future__ import annotations

import re

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(page: str) -> str:
    return TOKEN.search(page).group(1)
