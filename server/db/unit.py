"""One unit of work per request and per command: it commits once, or rolls back.

Views never commit. A request's work commits when its view returns (or a before-request
hook answers in its place), and rolls back when it raises, before the surface's error
page or JSON is made: a refusal never leaves half of what was done. The commit comes
before the answer leaves, so a commit that fails (a full disk, a broken constraint) is
answered as the error it is, never after a success was sent. An error whose writes must
stand says so (`DomainError.keeps_work`: a failed sign-in counts), and commits.

Commands (`grid-report ...`) are one unit each (`command`). Jobs that work through a
queue of claimed rows (the sweep, the sender) commit each claim on its own, so one
failure costs nothing else; they say so where they do.
"""

from __future__ import annotations

import functools

from flask import Flask

from server.db.extension import db


def finish() -> None:
    """Commit the unit's work. What the session holds stays loaded: the answer is made
    from it already, and expiring every object only to throw it away is CPU spent on each
    write."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def abandon() -> None:
    """Roll the unit's work back (a view that answers a refusal itself, keeping what was
    typed, calls this before it renders)."""
    db.session.rollback()


class App(Flask):
    """Flask, with each request one unit of work (see the module's note)."""

    def preprocess_request(self):
        answer = super().preprocess_request()
        if answer is not None:  # a hook answered (a redirect to sign in): its work stands
            finish()
        return answer

    def dispatch_request(self):
        answer = super().dispatch_request()
        finish()  # inside the dispatch: a failing commit reaches the error handlers
        return answer

    def handle_user_exception(self, e):
        if getattr(e, "keeps_work", False):
            finish()
        else:
            abandon()
        return super().handle_user_exception(e)


def command(function):
    """Make a CLI command one unit of work: committed when it returns, rolled back when
    it fails."""
    if getattr(function, "one_unit", False):  # already (an app made twice in a process)
        return function

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except BaseException:
            abandon()
            raise
        finish()
        return result

    wrapper.one_unit = True
    return wrapper
