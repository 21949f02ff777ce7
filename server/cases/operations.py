"""Verb functions that create and find cases. State changes go through `server.cases.workflow`.

Operations take domain objects and plain values, never a request; they add to the
session and flush when an id is needed, and leave the commit to the caller (one commit
per request or CLI command).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.session import make_transient_to_detached

from server.cases import access, limits, media, outbox, repeats, search, tracking, workflow
from server.db import db, new_rows
from server.infra import clock, codes, metrics
from server.infra.errors import (
    Conflict,
    Forbidden,
    ServiceUnavailable,
    ValidationFailed,
)
from server.models import (
    Case,
    CaseEvent,
    CaseParty,
    CaseStatus,
    Category,
    Grid,
    PartyKind,
    PartySide,
    RiskLevel,
    Role,
    Screening,
    Severity,
    Source,
    Step,
    User,
    Village,
)
from server.organisation import reference
from server.organisation.checks import checked_phone
from server.organisation.deadlines import Deadlines
from server.organisation.routing import Route, route
from server.trust import identity

# Who may file a report through each channel; villagers (no account) only by QR code.
SOURCE_ROLES = {
    Source.QR: {None},
    Source.GRID_WORKER: {Role.GRID_WORKER},
    Source.SCREENING: {Role.GRID_WORKER},
    Source.WALK_IN: {Role.CENTER},
    Source.HOTLINE: {Role.CENTER},
}


@dataclass
class Party:
    """A party to a dispute as given by the person reporting it."""

    name: str
    side: str = PartySide.APPLICANT.value
    kind: str = PartyKind.PERSON.value
    phone: str | None = None


@dataclass
class Reporter:
    """Who reports: anonymous unless they choose to give a name or a way to reach them."""

    anonymous: bool = True
    name: str | None = None
    phone: str | None = None
    wechat: str | None = None
    # A grid worker filing what a villager told them: the villager agreed to the report
    # and to how it names them (anonymous, or named for the center's eyes only).
    on_behalf: bool = False


@dataclass
class ReportDraft:
    """Everything a new report may carry; `submit_report` checks it all."""

    category: str | Category
    description: str
    village: int | Village | None = None  # None: the caller's (a screening's) to give
    source: str = Source.QR.value
    grid: int | Grid | None = None
    severity: str | None = None
    risk_level: str | None = None
    people_involved: int = 1
    group_dispute: bool = False
    criminal_risk: bool = False
    # Happening now (正在发生): the report is urgent whatever its category.
    happening_now: bool = False
    place_text: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    occurred_at: datetime | None = None
    reporter: Reporter = field(default_factory=Reporter)
    parties: list[Party] = field(default_factory=list)
    # Photos already checked for this report (media.claimable_photos); taken as it is filed.
    photos: list = field(default_factory=list)  # of Photo


def _fail(message: str, field_name: str, code: str = "invalid_field") -> ValidationFailed:
    return ValidationFailed(message, code=code, field=field_name)


def _resolve_category(value) -> Category:
    category = value if isinstance(value, Category) else reference.category(str(value))
    if category is None:
        raise _fail(f"未知的类别：{value!r}。", "category", "unknown_category")
    if not category.active:
        raise _fail("该类别已停用。", "category", "inactive_category")
    return category


def _resolve_village(value) -> Village:
    village = value if isinstance(value, Village) else None
    if village is None and isinstance(value, int) and not isinstance(value, bool):
        village = reference.village(value)
    if village is None:
        raise _fail(f"未知的村：{value!r}。", "village", "unknown_village")
    if not village.active:
        raise _fail(f"{village.name}已停用，请选择现在的村。", "village", "village_closed")
    return village


def _check_reporter(reporter: Reporter) -> Reporter:
    given = {
        k: (v or "").strip() or None
        for k, v in {
            "name": reporter.name,
            "phone": reporter.phone,
            "wechat": reporter.wechat,
        }.items()
    }
    if reporter.anonymous:
        if any(given.values()):
            raise _fail(
                "匿名上报不能同时填写姓名或联系方式。", "reporter", "anonymous_with_identity"
            )
        return Reporter()
    if not given["name"] and not given["phone"] and not given["wechat"]:
        raise _fail("实名上报请至少留下姓名或联系方式。", "reporter", "missing_identity")
    for key, limit in (("name", limits.NAME), ("phone", limits.PHONE), ("wechat", limits.WECHAT)):
        if given[key] and len(given[key]) > limit:
            raise _fail("姓名或联系方式过长。", f"reporter.{key}", "too_long")
    phone = checked_phone(given["phone"], "reporter.phone")
    return Reporter(False, given["name"], phone, given["wechat"])


# What a villager agreed to when a grid worker files on their behalf (Case.reporter_consent).
CONSENTS = {
    "anonymous": "村民同意上报，不留姓名",
    "named": "村民同意上报并留下姓名（仅调处中心可见）",
}


def submit_report(
    draft: ReportDraft,
    *,
    actor: User | None,
    idempotency_key: str | None = None,
    screening: Screening | None = None,
    tracking_hash: str | None = None,
    held: bool = False,
) -> Case:
    """File a new report: check every field, then create the case and its first event.

    `actor` is the account filing it (None for a villager on the QR page);
    `idempotency_key` the client's key, unique on the case (Conflict when a case has it
    already); `screening` the screening it was found in; `tracking_hash` a villager's
    tracking secret, hashed; `held`: past the village's limit (a flood), the report is
    taken all the same and held apart for the center, alerting nobody. Raises
    ValidationFailed or Forbidden before anything is added to the session.
    """
    case, event = _checked_case(draft, actor)
    case.screening = screening
    case.tracking_hash = tracking_hash
    case.held_as_spam = held
    alert = None if held else outbox.urgent_alert(case)
    case.idempotency_key = idempotency_key
    # The rows are new and known whole: one INSERT each (server/db/new_rows.py says
    # what the unit-of-work flush would cost), then in the session as if just loaded.
    connection = db.session.connection()
    if not new_rows.insert(connection, case, unless_conflict=True):
        if idempotency_key and find_by_idempotency_key(idempotency_key) is not None:
            raise Conflict("此请求已提交过。", code="already_submitted")
        # A case number drawn twice: a 5xx, so the idempotency layer forgets this answer
        # and the client's retry (same key) draws again.
        raise ServiceUnavailable("系统繁忙，请重试。", code="retry")
    new_rows.insert(connection, event)  # its case_id comes from the case just written
    new_rows.insert_all(connection, case.parties)
    search.write_entry(connection, case.id, case.search_entry)  # found at once
    for row in (case, event, *case.parties):
        make_transient_to_detached(row)
    db.session.add_all([case, event])  # the parties follow the case
    media.attach(draft.photos, case=case, event=event)
    outbox.queue_for_new_report(case, alert)
    metrics.after_commit(
        db.session(),
        metrics.REPORTS_FILED,
        source=case.source.value,
        group=case.category.group.value,
    )
    return case


def _checked_case(draft: ReportDraft, actor: User | None) -> tuple[Case, CaseEvent]:
    """Check a report and build its case and first event in memory (nothing is added to
    the session: a refusal leaves nothing behind)."""
    try:
        source = Source(draft.source)
    except ValueError:
        raise _fail(f"未知的来源：{draft.source!r}。", "source", "invalid_choice") from None
    role = actor.role if actor is not None else None
    if actor is not None and not actor.active:
        raise Forbidden("账号已停用。")
    if role not in SOURCE_ROLES[source]:
        raise Forbidden(f"此账号不能以“{source.label}”方式上报。")

    category = _resolve_category(draft.category)
    village = _resolve_village(draft.village)
    if actor is not None and actor.town_id not in (None, village.town_id):
        # A town's staff file into their own town: another town's village is unknown here.
        raise _fail(f"未知的村：{village.id!r}。", "village", "unknown_village")
    if role == Role.GRID_WORKER and village.id not in actor.village_ids:
        raise Forbidden("网格员只能上报本人负责的村。")
    grid = None
    if draft.grid is not None:
        grid = draft.grid if isinstance(draft.grid, Grid) else reference.grid(draft.grid)
        if grid is None or grid.village_id != village.id:
            raise _fail("网格不属于所选的村。", "grid", "grid_not_in_village")
        if not grid.active:
            raise _fail(f"{grid.name}已停用，请选择现在的网格。", "grid", "grid_closed")

    description = (draft.description or "").strip()
    if not description:
        raise _fail("请描述发生了什么。", "description", "missing_field")
    if len(description) > limits.TEXT:
        raise _fail(f"描述最多{limits.TEXT}字。", "description", "too_long")
    # Every text is bounded here, by the column it goes to, whatever the surface checked:
    # a statement that fails at the database loses the villager's report.
    if len((draft.place_text or "").strip()) > limits.PLACE:
        raise _fail(f"地点最多{limits.PLACE}字。", "place_text", "too_long")
    if (draft.latitude is None) != (draft.longitude is None):
        raise _fail("经纬度须同时提供。", "coordinates", "coordinates_unpaired")
    if draft.latitude is not None and not (
        -90 <= draft.latitude <= 90 and -180 <= draft.longitude <= 180
    ):
        raise _fail("经纬度超出范围。", "coordinates", "coordinates_out_of_range")
    if draft.occurred_at is not None:
        if draft.occurred_at.tzinfo is None:
            raise _fail("发生时间须带时区。", "occurred_at", "invalid_datetime")
        if draft.occurred_at > clock.now():
            raise _fail("发生时间不能晚于现在。", "occurred_at", "occurred_in_future")
        clock.check_year(draft.occurred_at, "occurred_at")
    if (
        not isinstance(draft.people_involved, int)
        or not 1 <= draft.people_involved <= limits.PEOPLE
    ):
        raise _fail("涉及人数须为正整数。", "people_involved", "invalid_number")
    try:
        severity = Severity(draft.severity) if draft.severity else category.default_severity
        risk = RiskLevel(draft.risk_level) if draft.risk_level else category.default_risk_level
    except ValueError:
        raise _fail("严重程度或风险等级取值无效。", "risk_level", "invalid_choice") from None
    reporter = _check_reporter(draft.reporter)
    consent = None
    if draft.reporter.on_behalf:
        if role != Role.GRID_WORKER:
            raise _fail("只有网格员可以代村民上报。", "reporter.on_behalf", "not_on_behalf")
        consent = "anonymous" if reporter.anonymous else "named"
    parties = []
    for i, party in enumerate(draft.parties):
        name = (party.name or "").strip()
        if not name or len(name) > limits.NAME:
            raise _fail(f"当事人姓名不能为空且不超过{limits.NAME}字。", f"parties[{i}].name")
        try:
            phone = checked_phone(party.phone, f"parties[{i}].phone")
            parties.append(
                CaseParty(
                    name=name,
                    side=PartySide(party.side),
                    kind=PartyKind(party.kind),
                    phone=phone,
                    name_key=repeats.name_key(name),
                    phone_key=repeats.phone_key(phone),
                )
            )
        except ValueError:
            raise _fail("当事人类型无效。", f"parties[{i}]", "invalid_choice") from None

    now = clock.now()
    # The same parties again within the window: flagged for the center (重复纠纷).
    earlier = (
        repeats.earlier_disputes(parties, now, town_id=village.town_id)
        if category.is_dispute
        else []
    )
    urgent = category.urgent or bool(draft.happening_now)
    accept = Deadlines(reference.calendar).clock(
        category, Step.ACCEPT, now, town_id=village.town_id, urgent=urgent
    )
    case = Case(
        code=codes.new_case_code(),
        source=source,
        village=village,
        town=village.town,  # read before the first write (SQLite: the write lock)
        grid=grid,
        category=category,
        severity=severity,
        risk_level=risk,
        people_involved=draft.people_involved,
        group_dispute=bool(draft.group_dispute),
        criminal_risk=bool(draft.criminal_risk),
        urgent=urgent,
        happening_now=bool(draft.happening_now),
        repeat_dispute=bool(earlier),
        description=description,
        place_text=(draft.place_text or "").strip() or None,
        latitude=draft.latitude,
        longitude=draft.longitude,
        occurred_at=draft.occurred_at.astimezone(UTC) if draft.occurred_at else None,
        # Sealed: the database never holds an informant's name or phone in the clear.
        reporter_anonymous=reporter.anonymous,
        reporter_name=identity.seal(reporter.name),
        reporter_phone=identity.seal(reporter.phone),
        reporter_wechat=identity.seal(reporter.wechat),
        reporter_consent=consent,
        created_by_id=actor.id if actor is not None else None,
        status=CaseStatus.SUBMITTED,
        step=accept.step,
        step_started_at=now,
        warn_at=accept.warn_at,
        due_at=accept.due_at,
        created_at=now,
        updated_at=now,
        # A new case has none yet: saying so spares a query for each when it is shown.
        parties=parties,
        assignments=[],
    )
    for collection in ("photos", "merged_reports", "instructions"):
        set_committed_value(case, collection, [])
    case.known_repeats = earlier  # so that its answer need not look again
    # Worked out now, while the informant's identity is still in the clear.
    case.search_entry = search.entry_for(
        case, {"name": reporter.name, "phone": reporter.phone, "wechat": reporter.wechat}
    )
    event = workflow.submit_event(case, actor)
    # Set, not assigned: the rows are known whole and need no change events.
    set_committed_value(case, "events", [event])
    for row in (case, event, *parties):
        new_rows.apply_defaults(row)
    return case, event


def find_by_idempotency_key(key: str) -> Case | None:
    """The case a client created with `key`, if any."""
    return db.session.scalar(select(Case).where(Case.idempotency_key == key))


def filed_with_key(key: str | None, actor: User) -> Case | None:
    """The case `actor` filed already with the client's `key`, if any: a phone resending
    a report whose answer it never heard, after the stored answer was purged
    (IDEMPOTENCY_KEEP_HOURS; an outbox may resend days later). It is answered with that
    case, not refused: a refusal would be kept as the key's answer and the phone, told
    its report failed, would file it again under a new key."""
    if not key:
        return None
    case = find_by_idempotency_key(key)
    return case if case is not None and case.created_by_id == actor.id else None


def suggest_dispatch(case: Case) -> Route:
    """The departments routing suggests for `case` (the center may choose others); none
    for a case the district holds, which the town's own route failed (it went up)."""
    if case.held_by_district:
        return Route(lead=None)
    return route(case.category, case.village)


def timeline(case: Case, *, viewer: User | None) -> list[CaseEvent]:
    """The case's events `viewer` may see: all for staff, public ones for the reporter."""
    if viewer is not None and access.can_see_internal(viewer, case):
        return list(case.events)
    return [e for e in case.events if not e.internal]


def villager_form_key(idempotency_key: str, draft: ReportDraft) -> str:
    """The form's key bound to what the form says: a resend of the same report matches,
    while a stale key sent with another report (a shared phone, a cached page) does not,
    so nobody is ever shown someone else's report or tracking code."""
    reporter = draft.reporter
    content = json.dumps(
        [
            getattr(draft.village, "id", draft.village),  # a Village, or its id
            str(draft.category),
            (draft.description or "").strip(),
            (draft.place_text or "").strip(),
            reporter.anonymous,
            reporter.name,
            reporter.phone,
        ],
        ensure_ascii=False,
    )
    return f"{idempotency_key}:{hashlib.sha256(content.encode()).hexdigest()}"


def find_villager_report(form_key: str) -> Case | None:
    """The case a villager's form (see `villager_form_key`) already made, if any."""
    return find_by_idempotency_key(tracking.key_hash(form_key))


def submit_villager_report(
    draft: ReportDraft,
    *,
    idempotency_key: str,
    held: bool = False,
    actor: User | None = None,
) -> tuple[Case, str, bool]:
    """A villager's report with a tracking code: from a village's QR page (`draft`, its
    village given), or told to the center in person or on the phone (来访 / 来电: `actor`
    the center's account, the draft's source walk_in or hotline, and the code is on the
    receipt). Returns (case, tracking secret, whether it was a resend).

    Keyed by the form's key bound to its content: a double tap or a resend finds the first
    case and shows the same tracking secret. Stores no address, user agent or device id.
    `held`: the village's limit is used up (a flood): the report is taken all the same,
    held apart for the center (Case.held_as_spam) — a village's QR never goes silent.
    """
    form_key = villager_form_key(idempotency_key, draft)
    secret = tracking.secret_for(form_key)
    stored_key = tracking.key_hash(form_key)
    existing = find_by_idempotency_key(stored_key)
    if existing is not None:
        return existing, secret, True
    if actor is None:
        draft.source = Source.QR.value
    try:
        case = submit_report(
            draft,
            actor=actor,
            idempotency_key=stored_key,
            tracking_hash=tracking.secret_hash(secret),
            held=held,
        )
    except Conflict:
        # The same form sent twice at once: the other request made the case.
        return find_by_idempotency_key(stored_key), secret, True
    return case, secret, False
