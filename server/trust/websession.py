"""Server-side sessions for the web admin: the cookie holds only a random id.

The session's contents live in the database (one row per signed-in browser), so signing
out, disabling a user or an idle time-out ends a session for certain, and nothing about
the user travels in the cookie. Only /admin uses sessions: the villagers' pages and the
API never get a cookie. The row is written when Flask saves the session, after the
request's own unit of work committed: a transaction of its own.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete
from werkzeug.datastructures import CallbackDict

from server.db import db
from server.infra import clock
from server.models import User, WebSession
from server.trust import passwords

COOKIE_NAME = "gr_admin"
SESSION_PATH = "/admin"


class ServerSession(CallbackDict, SessionMixin):
    """The session dict of one request."""

    def __init__(self, initial=None, sid: str | None = None):
        def on_update(session):
            session.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.modified = False
        self.rotate = False  # set at sign-in: a new id, against session fixation

    def regenerate(self) -> None:
        """Give this session a new id (call when the user signs in)."""
        self.rotate = True
        self.modified = True


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class DatabaseSessionInterface(SessionInterface):
    """Flask's session, stored in `web_session`, ended after ADMIN_IDLE_MINUTES idle or
    ADMIN_SESSION_HOURS after sign-in, whichever comes first."""

    def _applies(self, request: Request) -> bool:
        return request.path == SESSION_PATH or request.path.startswith(SESSION_PATH + "/")

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if not self._applies(request):
            return ServerSession()
        sid = request.cookies.get(COOKIE_NAME)
        if not sid or len(sid) > 128:
            return ServerSession()
        row = db.session.get(WebSession, _hash(sid))
        idle = timedelta(minutes=int(app.config["ADMIN_IDLE_MINUTES"]))
        longest = timedelta(hours=int(app.config["ADMIN_SESSION_HOURS"]))
        now = clock.now()
        if row is None or row.last_seen_at < now - idle or row.created_at < now - longest:
            # Unknown, idle too long, or simply too old (a session kept alive all week by
            # someone at the desk still ends): start afresh.
            return ServerSession()
        session = ServerSession(dict(row.data or {}), sid=sid)
        # A page polling in the background is not a person at the desk: it does not keep
        # the session alive, so an unattended screen still times out.
        background = request.headers.get("X-Background-Poll") == "1"
        if not background and clock.now() - row.last_seen_at > timedelta(minutes=1):
            session.modified = True  # keep it alive (at most one write a minute)
        return session

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        if not isinstance(session, ServerSession) or not session.modified:
            return
        now = clock.now()
        secure = bool(app.config.get("SESSION_COOKIE_SECURE"))
        if session.sid and (session.rotate or not session):
            db.session.execute(delete(WebSession).where(WebSession.id_hash == _hash(session.sid)))
        if not session:  # signed out
            db.session.commit()
            response.delete_cookie(
                COOKIE_NAME, path=SESSION_PATH, secure=secure, httponly=True, samesite="Lax"
            )
            return
        if session.sid is None or session.rotate:
            session.sid = secrets.token_urlsafe(32)
            db.session.add(WebSession(id_hash=_hash(session.sid), created_at=now, last_seen_at=now))
            db.session.flush()
        # Afresh: the request's commit kept what it had loaded, and the row may have
        # ended since (signed out elsewhere, purged).
        row = db.session.get(WebSession, _hash(session.sid), populate_existing=True)
        if row is None:  # ended meanwhile (signed out elsewhere)
            db.session.rollback()
            return
        row.data = dict(session)
        row.user_id = session.get("user_id")
        row.last_seen_at = now
        db.session.commit()
        response.set_cookie(
            COOKIE_NAME,
            session.sid,
            path=SESSION_PATH,
            secure=secure,
            httponly=True,
            samesite="Lax",
        )


def purge_expired(idle_minutes: int) -> int:
    """Delete sessions idle for longer than the time-out (the sweep calls it)."""
    cutoff = clock.now() - timedelta(minutes=idle_minutes)
    return db.session.execute(delete(WebSession).where(WebSession.last_seen_at < cutoff)).rowcount


def end_sessions_of(user_id: int) -> None:
    """End a user's admin sessions (their phone's tokens: `sign_out_everywhere`)."""
    db.session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def sign_out_everywhere(user: User) -> None:
    """End every way `user` is signed in, when what they may do or see changes (a role, a
    town, a password, a disabled account): their admin sessions, and every token their
    phone holds (tokens are signed, not stored: the secret they carry a digest of is
    replaced)."""
    passwords.rotate_token_secret(user)
    end_sessions_of(user.id)


def init_app(app: Flask) -> None:
    """Use database sessions."""
    app.session_interface = DatabaseSessionInterface()
