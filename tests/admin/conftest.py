"""Helpers for admin tests: sign in through the form, read CSRF tokens from pages."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(page: str) -> str:
    return TOKEN.search(page).group(1)


@pytest.fixture
def signin(client):
    """`signin(user)` signs the client in as `user`; returns a fresh CSRF token."""

    def sign_in(user, password=PASSWORD):
        client.delete_cookie("gr_admin", path="/admin")  # whoever was signed in before
        token = csrf_from(client.get("/admin/login").get_data(as_text=True))
        response = client.post("/admin/login", data={
            "csrf_token": token, "username": user.username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:400]
        return csrf_from(client.get("/admin/").get_data(as_text=True)) if user.role != "admin" \
            else csrf_from(client.get("/admin/users").get_data(as_text=True))

    return sign_in
