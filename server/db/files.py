"""Files written inside a unit of work: kept when it commits, deleted when it rolls back.

A photo's or a scan's bytes are written before its row, in the request that stores them
(a file whose row never was would never be found again). When the request fails after
that (a report the core refuses once its photos are stored, a step refused after a scan),
its rows roll back and, here, its files go too. A savepoint's rollback or release (the
workflow's, a screening's) decides nothing: the request's own transaction does.
"""

from __future__ import annotations

from sqlalchemy import event

from server.db import db
from server.infra.storage import storage

_KEY = "files_written"


def delete_on_rollback(keys: list[str]) -> None:
    """List `keys` (before their files are written) with the current unit of work."""
    session = db.session()
    if _KEY not in session.info:
        store = storage()  # while the app context is there

        def rolled_back(session, previous_transaction) -> None:
            if previous_transaction.nested:
                return
            for key in session.info.get(_KEY, []):
                store.delete(key)
            session.info[_KEY] = []

        def committed(session) -> None:
            if not session.in_nested_transaction():  # the savepoint's own commit: not yet
                session.info[_KEY] = []

        # For the session's life (one request's): it ends with the request.
        event.listen(session, "after_soft_rollback", rolled_back)
        event.listen(session, "after_commit", committed)
        session.info[_KEY] = []
    session.info[_KEY].extend(keys)
