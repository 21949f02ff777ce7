"""Signing in and out of the admin."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import g, redirect, render_template, request, session, url_for

from admin.blueprint import ADMIN_ROLES, bp, client_ip
from server import auth
from server.db import unit
from server.infra.errors import DomainError, TooManyRequests
from server.trust import audit


def _safe_next(target: str | None) -> str:
    # Only paths inside the admin: never an open redirect to another site.
    if target and target.startswith("/admin") and not urlsplit(target).netloc:
        return target
    return url_for("admin.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form (username, password)."""
    error, status = None, 401
    if request.method == "POST":
        username = request.form.get("username", "")
        try:
            user = auth.authenticate(
                username, request.form.get("password", ""), ip=client_ip(), roles=ADMIN_ROLES
            )
        except auth.LoginFailed as failed:
            error = failed.message  # counted: the request's work stands
        except TooManyRequests as refused:
            error, status = refused.message, 429
        else:
            session.clear()
            session.regenerate()  # a new session id at sign-in
            session["user_id"] = user.id
            session["pwd"] = user.password_changed_at.isoformat()
            return redirect(_safe_next(request.args.get("next")))
        return render_template("admin/login.html", error=error, username=username), status
    if g.user is not None:
        return redirect(url_for("admin.index"))
    return render_template("admin/login.html", error=None, username="")


@bp.post("/logout")
def logout():
    """Sign out: the session row is deleted, and the sign-out is on record."""
    if g.user is not None:
        audit.record(
            "auth.logout",
            actor=g.user,
            object_type="user",
            object_id=g.user.id,
            ip=client_ip(),
            surface="admin",
        )
    session.clear()
    return redirect(url_for("admin.login"))


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    """Choose one's own password (required after a reset, before anything else)."""
    if g.user is None:
        return redirect(url_for("admin.login"))
    error = None
    if request.method == "POST":
        form = request.form
        if form.get("new_password", "") != form.get("confirm", ""):
            error = "两次输入的新密码不一致。"
        else:
            try:
                auth.change_own_password(
                    g.user, form.get("current", ""), form.get("new_password", ""), ip=client_ip()
                )
            except auth.LoginFailed as failed:
                error = failed.message  # counted: the request's work stands
            except DomainError as failed:
                unit.abandon()
                error = failed.message
            else:
                session["pwd"] = g.user.password_changed_at.isoformat()
                return redirect(url_for("admin.index"))
    return render_template("admin/password.html", error=error), 422 if error else 200
