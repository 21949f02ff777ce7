"""Helpers for API tests: sign in as a world account, make idempotency keys."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import PASSWORD


@pytest.fixture
def login(client):
    """`login(user)` -> headers with a bearer token for `user`."""

    def sign_in(user) -> dict:
        response = client.post("/api/v1/auth/login",
                               json={"username": user.username, "password": PASSWORD})
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['token']}"}

    return sign_in


def key() -> dict:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": str(uuid.uuid4())}
