"""The statuses of a case in groups: code asks for the group, not the label."""

from __future__ import annotations

from server.models import CaseStatus

S = CaseStatus

OPEN = frozenset({S.SUBMITTED, S.ACCEPTED, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED, S.FOLLOW_UP})
ENDED = frozenset({S.REJECTED, S.MERGED, S.CLOSED})
WITH_DEPARTMENT = frozenset({S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED})
ALL = OPEN | ENDED
# A result was reported: the reporter may now answer, or complain.
AFTER_RESULT = frozenset({S.RESOLVED, S.FOLLOW_UP, S.CLOSED})
