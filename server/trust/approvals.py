"""Changes that take two people (MLPS 2.0 level 3, 三员分立): one asks, another approves.

- `grant_role`: a new account that reads informants or keeps the system (center, system
  admin, security admin, auditor) is made inactive, and becomes active on approval; an
  existing account raised to such a role keeps its old one until approved;
- `reset_password` of such an account: the new password (its hash only) is applied on
  approval;
- `move_town` of such an account (by the district's account keeper): it is placed in
  another town, or at the district, on approval, as making it there would wait;
- `clear_confidential`: a category stops being confidential (the village's grid workers
  would then read its reports) on approval only.

The approver is another person than the one who asked, of the duty the change belongs to
(accounts: the security admin; categories: the system admin). Every step is audited.
"""

from __future__ import annotations

from sqlalchemy import select

from server.db import db
from server.infra import clock
from server.infra.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.models import Approval, Category, Role, Town, User
from server.trust import audit, towns, websession

PRIVILEGED = frozenset({Role.CENTER, Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR})
LABELS = {
    "grant_role": "开设高权限账号",
    "reset_password": "重置高权限账号密码",
    "move_town": "高权限账号调往其他镇",
    "clear_confidential": "取消类别的保密",
}
# The kinds that change an account (object_id: the account's id).
ACCOUNT_KINDS = frozenset({"grant_role", "reset_password", "move_town"})
# Who may approve each kind.
APPROVERS = {
    "grant_role": Role.SECURITY_ADMIN,
    "reset_password": Role.SECURITY_ADMIN,
    "move_town": Role.SECURITY_ADMIN,
    "clear_confidential": Role.ADMIN,
}


def ask(
    kind: str,
    *,
    actor: User,
    object_type: str,
    object_id,
    payload: dict | None = None,
    ip: str | None = None,
) -> Approval:
    """Record a change waiting for a second person."""
    approval = Approval(
        kind=kind,
        object_type=object_type,
        object_id=str(object_id),
        payload=payload or {},
        requested_by_id=actor.id,
        requested_at=clock.now(),
        status="pending",
    )
    db.session.add(approval)
    db.session.flush()
    audit.record(
        "approval.asked",
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        ip=ip,
        kind=kind,
        approval=approval.id,
    )
    return approval


def pending(user: User) -> list[Approval]:
    """What `user` may decide now (not their own asks; of accounts, those they keep: a
    town's security admin their own town's)."""
    kinds = [k for k, role in APPROVERS.items() if role == user.role]
    if not kinds:
        return []
    asked = db.session.scalars(
        select(Approval)
        .where(
            Approval.status == "pending",
            Approval.kind.in_(kinds),
            Approval.requested_by_id != user.id,
        )
        .order_by(Approval.requested_at)
    )
    return [approval for approval in asked if _keeps_target(user, approval)]  # a few


def _keeps_target(actor: User, approval: Approval) -> bool:
    """Whether the account an approval changes is `actor`'s to keep (other kinds: yes). A
    move between towns is the district's keepers' to decide: the town it leaves may not
    give its account to the district or to another town (whose keepers would never see
    it), as making it there would wait for a district keeper."""
    if approval.kind not in ACCOUNT_KINDS:
        return True
    if approval.kind == "move_town":
        return actor.town_id is None
    user = db.session.get(User, int(approval.object_id))
    return user is None or towns.keeps(actor, user)


def _decidable(approval_id: int, actor: User) -> Approval:
    """The pending approval `actor` may decide, read to be written (FOR UPDATE, afresh):
    of two people deciding at once, the second finds it decided."""
    approval = db.session.get(Approval, approval_id, with_for_update=True, populate_existing=True)
    if approval is None or approval.status != "pending" or not _keeps_target(actor, approval):
        raise NotFound("没有这项待审批的事项。")  # another town's: as if it did not exist
    if APPROVERS[approval.kind] != actor.role:
        raise Forbidden("此事项不归您审批。")
    if approval.requested_by_id == actor.id:
        raise Forbidden("不能审批自己提出的事项：须由另一人审批。", code="own_request")
    return approval


def approve(approval_id: int, *, actor: User, ip: str | None = None) -> Approval:
    """Apply the change and record who approved it."""
    approval = _decidable(approval_id, actor)
    if approval.kind in ACCOUNT_KINDS:
        user = db.session.get(User, int(approval.object_id))
        if user is None:
            raise NotFound("账号已不存在。")
        if approval.kind == "grant_role":
            user.active = True
            role = Role(approval.payload.get("role", user.role.value))
            if role != user.role:  # an existing account raised (accounts.update_user)
                user.role, user.department, user.grids = role, None, []
                websession.sign_out_everywhere(user)
        elif approval.kind == "move_town":
            town_id = approval.payload.get("town_id")
            if town_id is not None and db.session.get(Town, town_id) is None:
                raise NotFound("所选的镇已不存在。")
            if (user.role.value, user.town_id) != (
                approval.payload.get("role"),
                approval.payload.get("from_town_id"),
            ):
                # Changed since it was asked (a change of role or town withdraws the ask:
                # accounts.update_user); never applied to an account it was not meant for.
                raise Conflict("账号已有变动，此项调动已失效。", code="stale_approval")
            user.town_id = town_id
            websession.sign_out_everywhere(user)
            # What was asked of the account in its old town is not the new town's to grant.
            withdraw_for(user, actor=actor, ip=ip, keep=approval.id)
        else:
            user.password_hash = approval.payload["password_hash"]
            user.password_changed_at = clock.now()
            user.must_change_password = True
            websession.sign_out_everywhere(user)
    elif approval.kind == "clear_confidential":
        category = db.session.scalar(select(Category).where(Category.code == approval.object_id))
        if category is None:
            raise NotFound("类别已不存在。")
        category.confidential = False
    else:  # pragma: no cover - kinds are ours
        raise ValidationFailed("未知的审批事项。")
    _settle(approval, "approved", actor)
    audit.record(
        "approval.approved",
        actor=actor,
        object_type=approval.object_type,
        object_id=approval.object_id,
        ip=ip,
        kind=approval.kind,
        approval=approval.id,
        asked_by=approval.requested_by_id,
    )
    return approval


def _settle(approval: Approval, status: str, decider: User | None) -> None:
    """End a pending approval: decided (or withdrawn), and a password's hash, kept only
    while it waited, dropped."""
    approval.payload = {k: v for k, v in approval.payload.items() if k != "password_hash"}
    approval.status, approval.decided_at = status, clock.now()
    approval.decided_by_id = decider.id if decider is not None else None


def refuse(approval_id: int, *, actor: User, ip: str | None = None) -> Approval:
    """Refuse the change: nothing is applied (a new account stays inactive)."""
    approval = _decidable(approval_id, actor)
    _settle(approval, "refused", actor)
    audit.record(
        "approval.refused",
        actor=actor,
        object_type=approval.object_type,
        object_id=approval.object_id,
        ip=ip,
        kind=approval.kind,
        approval=approval.id,
    )
    return approval


def withdraw_for(user: User, *, actor: User, ip: str | None = None, keep: int | None = None) -> int:
    """Withdraw what waits to change `user`'s account (a role, a reset password, a move),
    when the account changes role or town: each was asked of the account as it was, by
    that town's keepers (a reset password chosen in one town is not for another's). Each
    is audited; returns how many."""
    with db.session.no_autoflush:
        waiting = db.session.scalars(
            select(Approval).where(
                Approval.status == "pending",
                Approval.kind.in_(ACCOUNT_KINDS),
                Approval.object_type == "user",
                Approval.object_id == str(user.id),
                Approval.id != (keep or -1),
            )
        ).all()
    for approval in waiting:
        _settle(approval, "withdrawn", None)  # no one decided: the account changed
        audit.record(
            "approval.withdrawn",
            actor=actor,
            object_type=approval.object_type,
            object_id=approval.object_id,
            ip=ip,
            kind=approval.kind,
            approval=approval.id,
        )
    return len(waiting)
