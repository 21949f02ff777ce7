"""What one edge of the lifecycle is (`Transition`), and what its effect is given (`Context`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from server.models import Case, CaseStatus, Department, Role, User
from server.organisation.deadlines import Deadlines

KEEP = object()  # a transition that leaves the running clock alone


@dataclass
class Context:
    """What an effect needs: the case, the actor, the cleaned fields, the time, the clocks."""

    case: Case
    actor: User
    fields: dict
    now: datetime
    deadlines: Deadlines
    # What the event records besides the fields (set by effects).
    data: dict = field(default_factory=dict)
    step_clock: object = KEEP
    # The departments whose share of the case this action ended, and those it added
    # beside a lead that stays (they are told).
    released: list[Department] = field(default_factory=list)
    joined: list[Department] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    """One edge of the lifecycle."""

    action: str
    label: str
    sources: frozenset[CaseStatus]
    to: CaseStatus | None  # None: the status stays (flags, notes, extensions)
    roles: frozenset[Role]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    # The step whose clock starts on arrival; None stops the clock; KEEP leaves it.
    step: object = KEEP
    # The actor's relation to the case (e.g. "holds the lead assignment").
    relation: Callable[[Case, User], bool] | None = None
    # A condition on the case beyond its status; returns a Chinese reason when refused.
    guard: Callable[[Case], str | None] | None = None
    effect: Callable[[Context], None] | None = None
    # Hidden from the reporter's timeline.
    internal: bool = False
    # False: the action cuts the running step short (it moves the case elsewhere) rather
    # than ending it, so the on-time figures do not count the step by it.
    ends_step: bool = True
    note_field: str | None = None  # which field is the event's free-text note
    # The field the action concludes with, kept on its event as `result` for the figures.
    result_field: str | None = None
    # One of the actions a case counts by in the figures ("disputes handled").
    counted: bool = False
    # Photos may come with it (a result, a visit, a co-handler's feedback).
    takes_photos: bool = False
