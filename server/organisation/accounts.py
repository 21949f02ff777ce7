"""Accounts (the security admin's duty, 三员分立): made, changed, disabled, reset.

Every change is audited in the same transaction; raising an account to a privileged role
and resetting such an account's password wait for a second person (server/trust/approvals.py).
"""

from __future__ import annotations

from sqlalchemy import select

from server.db import db
from server.infra import clock
from server.infra.errors import Conflict, NotFound, ValidationFailed
from server.models import Department, Grid, Role, Town, User
from server.organisation.checks import checked_name, checked_phone
from server.trust import approvals, audit, passwords, websession
from server.trust.towns import keeps  # accounts.keeps: who keeps whose account


def create_user(
    *,
    actor: User,
    username: str,
    display_name: str,
    role: str,
    password: str,
    department_id: int | None = None,
    grid_ids: list[int] | None = None,
    ip: str | None = None,
    password_hash: str | None = None,
    town_id: int | None = None,
    district: bool = False,
) -> User:
    """Create an account (the password must meet the policy). Its town is its department's
    or grids' (`town_of`), else the maker's; `town_id` is the town a town file sets up,
    or the district's account keeper's choice in the admin's form (None: the district's,
    or the maker's own town); `district`: the keeper chose the district itself (区里), so
    a town's department or grid is refused rather than taken to place the account."""
    if town_id is not None and db.session.get(Town, town_id) is None:
        raise ValidationFailed("所选的镇不存在。", code="unknown_reference", field="town")
    username = checked_name(username, "用户名")
    if db.session.scalar(select(User).where(User.username == username)):
        raise Conflict("用户名已存在。", code="username_taken")
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed("角色无效。", code="invalid_choice", field="role") from None
    passwords.check_policy(password)
    # Made in the admin, a privileged account waits, inactive, for a second person's
    # approval, and every account's first sign-in chooses its own password. The machine's
    # operator (the CLI, no actor) makes the first accounts, so that there are approvers.
    privileged = role in approvals.PRIVILEGED and actor is not None
    user = User(
        username=username,
        display_name=checked_name(display_name or username, "姓名"),
        role=role,
        # Hashed by the caller already when it holds a write lock meanwhile (an import).
        password_hash=password_hash or passwords.hash_password(password),
        active=not privileged,
        must_change_password=actor is not None,
        town_id=town_id,
    )
    _bind(user, department_id, grid_ids, actor)
    if town_id is not None and user.town_id != town_id:
        raise ValidationFailed("所选的部门或网格不在所选的镇。", code="other_town", field="town")
    if district and user.town_id is not None:
        raise ValidationFailed(
            "区级账号不能属于镇的部门或网格，请选择所属镇。", code="other_town", field="town"
        )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.create",
        actor=actor,
        object_type="user",
        object_id=user.id,
        ip=ip,
        object_town=user.town_id,
        username=username,
        role=role.value,
    )
    if privileged:
        approvals.ask(
            "grant_role",
            actor=actor,
            object_type="user",
            object_id=user.id,
            payload={"username": username, "role": role.value},
            ip=ip,
        )
    return user


def _bind(
    user: User, department_id: int | None, grid_ids: list[int] | None, actor: User | None
) -> None:
    if user.role == Role.HANDLER:
        department = db.session.get(Department, department_id) if department_id else None
        if department is None:
            raise ValidationFailed(
                "处置人员须选择所属部门。", code="missing_field", field="department"
            )
        user.department = department
    else:
        user.department = None
    if user.department is not None and not user.department.active:
        raise ValidationFailed("该部门已停用。", code="unknown_reference", field="department")
    grids = [db.session.get(Grid, g) for g in grid_ids or []]
    if any(g is None or not g.active for g in grids):
        raise ValidationFailed("网格不存在。", code="unknown_reference", field="grids")
    if user.role == Role.GRID_WORKER and not grids:
        raise ValidationFailed("网格员须绑定至少一个网格。", code="missing_field", field="grids")
    user.grids = grids if user.role == Role.GRID_WORKER else []
    user.town_id = town_of(user, actor)


def town_of(user: User, actor: User | None) -> int | None:
    """The town `user` works in: their department's, their grids' (all in one town), or
    else the one they have, or else the town of whoever makes the account (the operator's
    command line gives its own). A town's account keeper keeps their own town's accounts
    only."""
    if user.department is not None:
        town_id = user.department.town_id
    elif user.grids:
        towns = {grid.village.town_id for grid in user.grids}
        if len(towns) > 1:
            raise ValidationFailed("网格须属于同一个镇。", code="invalid_choice", field="grids")
        (town_id,) = towns
    elif user.town_id is not None or actor is None:
        town_id = user.town_id  # kept on a change; the operator's choice on the CLI
    else:
        town_id = actor.town_id
    if actor is not None and actor.town_id is not None and town_id != actor.town_id:
        raise ValidationFailed("不能为其他镇的部门或网格设账号。", code="other_town")
    return town_id


def _kept(actor: User | None, user: User) -> None:
    if not keeps(actor, user):
        raise NotFound("找不到该账号。")  # another town's: as if it did not exist


def update_user(
    user: User,
    *,
    actor: User,
    department_id: int | None,
    grid_ids: list[int] | None,
    display_name: str | None = None,
    phone: str | None = None,
    role: str | None = None,
    ip: str | None = None,
    town_id: int | None = None,
    district: bool = False,
) -> bool:
    """Change a user's name, phone, role and what they are bound to (a department, grids),
    and, by the district's account keeper, the town of an account bound to neither
    (`town_id`, or `district`: 区里; a handler's or grid worker's is its department's or
    grids').

    Raising an account to a privileged role (one that reads informants or keeps the
    system) waits for a second security admin, as creating one does: the account keeps
    its old role and bindings until then. So does moving a privileged account to another
    town or to the district, which opens that town's cases to it as making a new account
    there would. Returns False when a part waits."""
    _kept(actor, user)
    if town_id is not None and db.session.get(Town, town_id) is None:
        raise ValidationFailed("所选的镇不存在。", code="unknown_reference", field="town")
    moving = actor is not None and actor.town_id is None and (district or town_id is not None)
    if display_name is not None:
        user.display_name = checked_name(display_name, "姓名")
    if phone is not None:
        user.phone = checked_phone(phone)
    new_role = user.role
    if role:
        try:
            new_role = Role(role)
        except ValueError:
            raise ValidationFailed("角色无效。", code="invalid_choice", field="role") from None
    if new_role != user.role and new_role in approvals.PRIVILEGED:
        if moving and town_id != user.town_id:
            # Two changes that each wait for a second person, asked of one another's
            # account: asked one at a time, each is decided on what it says.
            raise ValidationFailed(
                "改为高权限角色和调往其他镇须分两次保存：请先保存其中一项。",
                code="one_at_a_time",
                field="town",
            )
        approvals.ask(
            "grant_role",
            actor=actor,
            object_type="user",
            object_id=user.id,
            payload={"username": user.username, "role": new_role.value},
            ip=ip,
        )
        audit.record(
            "user.update",
            actor=actor,
            object_type="user",
            object_id=user.id,
            ip=ip,
            display_name=user.display_name,
            role_asked=new_role.value,
        )
        return False
    # The role, the town and the binding change together: no statement in between may
    # write one without the others (a handler without its department, refused by the
    # database, was a 500 of the account form).
    with db.session.no_autoflush:
        if new_role != user.role:
            user.role = new_role
            # What the account could see ends with its old role, and what was asked of it.
            websession.sign_out_everywhere(user)
            approvals.withdraw_for(user, actor=actor, ip=ip)
        was, waiting = user.town_id, False
        if moving and user.role not in (Role.HANDLER, Role.GRID_WORKER) and town_id != was:
            if user.role in approvals.PRIVILEGED:
                approvals.ask(
                    "move_town",
                    actor=actor,
                    object_type="user",
                    object_id=user.id,
                    # As the account is now: the move applies to it only while it is so.
                    payload={
                        "username": user.username,
                        "town_id": town_id,
                        "from_town_id": was,
                        "role": user.role.value,
                    },
                    ip=ip,
                )
                waiting = True
            else:
                user.town_id = town_id
        _bind(user, department_id, grid_ids, actor)
        if moving and not waiting and user.town_id != town_id:
            raise ValidationFailed(
                "所选的部门或网格不在所选的镇。"
                if town_id is not None
                else "区级账号不能属于镇的部门或网格，请选择所属镇。",
                code="other_town",
                field="town",
            )
    if user.town_id != was:
        # What the account could see ends with its old town, and what its keepers there
        # asked of it (a reset password chosen there is not the new town's to grant).
        websession.sign_out_everywhere(user)
        approvals.withdraw_for(user, actor=actor, ip=ip)
    db.session.flush()
    audit.record(
        "user.update",
        actor=actor,
        object_type="user",
        object_id=user.id,
        ip=ip,
        object_town=user.town_id,
        display_name=user.display_name,
        role=user.role.value,
        department=user.department_id,
        grids=[g.id for g in user.grids],
        town=_town_name(user.town_id),
    )
    return not waiting


def _town_name(town_id: int | None) -> str:
    town = db.session.get(Town, town_id) if town_id is not None else None
    return town.name if town is not None else "区里"


def set_active(user: User, active: bool, *, actor: User, ip: str | None = None) -> None:
    """Enable or disable an account; disabling ends its sessions and tokens."""
    _kept(actor, user)
    if user.id == actor.id and not active:
        raise ValidationFailed("不能停用自己的账号。", code="self_disable")
    user.active = active
    if not active:
        websession.end_sessions_of(user.id)
    audit.record(
        "user.enable" if active else "user.disable",
        actor=actor,
        object_type="user",
        object_id=user.id,
        ip=ip,
    )


def reset_password(user: User, new_password: str, *, actor: User, ip: str | None = None) -> bool:
    """Set a new password, which must be changed at the next sign-in; every session and
    token of the user ends. A privileged account's reset waits for a second person's
    approval (returns False then: nothing changed yet)."""
    _kept(actor, user)
    passwords.check_policy(new_password)
    if user.role in approvals.PRIVILEGED:
        approvals.ask(
            "reset_password",
            actor=actor,
            object_type="user",
            object_id=user.id,
            payload={
                "username": user.username,
                "password_hash": passwords.hash_password(new_password),
            },
            ip=ip,
        )
        return False
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = clock.now()
    user.must_change_password = True
    websession.sign_out_everywhere(user)
    audit.record("user.reset_password", actor=actor, object_type="user", object_id=user.id, ip=ip)
    return True
