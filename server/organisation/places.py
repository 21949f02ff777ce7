"""The town's places: its villages (each with its QR code) and their grids (网格).

A village or grid is never deleted: retired, it keeps its cases and figures and leaves
the pickers, posters and the screening duty. Every change is audited.
"""

from __future__ import annotations

from sqlalchemy import func, select

from server.db import db
from server.infra import clock
from server.infra.errors import Conflict, NotFound, ValidationFailed
from server.models import Grid, Town, User, Village
from server.organisation import reference
from server.organisation.checks import checked_code, checked_name
from server.trust import audit, towns


def save_village(
    *,
    actor: User | None,
    village: Village | None,
    code: str,
    name: str,
    active: bool = True,
    ip: str | None = None,
    town_id: int | None = None,
) -> Village:
    """Create a village (it gets its QR code) or change its name; a village leaves the
    pickers, posters and screening duty when deactivated, and keeps its cases.

    A new village is its maker's town's; for the district's admin and the operator, the
    town `town_id` names (the first when none). A town's admin changes their own town's
    villages only: another town's is not found, as if it did not exist."""
    if village is not None and not towns.reaches(actor, village.town_id):
        raise NotFound("找不到该村。")
    code = checked_code(code, "村编号")
    clash = db.session.scalar(select(Village).where(Village.code == code))
    if clash is not None and clash is not village:
        raise Conflict(f"村编号 {code} 已存在。", code="village_taken", field="code")
    if village is None:
        if actor is not None and actor.town_id is not None:
            town_id = actor.town_id
        town = (
            db.session.get(Town, town_id)
            if town_id is not None
            else db.session.scalar(select(Town).order_by(Town.id))
        )
        if town is None and town_id is not None:
            raise ValidationFailed("所选的镇不存在。", code="unknown_reference", field="town")
        if town is None:
            raise ValidationFailed("请先设置镇的名称。", code="no_town")
        village = Village(town=town)
        db.session.add(village)
    if village.active and not active and village.id is not None:
        # Its grids first: a grid worker would be left looking after a closed village.
        open_grids = db.session.scalar(
            select(func.count(Grid.id)).where(Grid.village_id == village.id, Grid.active.is_(True))
        )
        if open_grids:
            raise Conflict(
                f"{village.name}还有{open_grids}个在用的网格，请先停用或调整网格。",
                code="village_in_use",
            )
    if village.active != active:
        village.deactivated_at = None if active else clock.now()
    village.code, village.name, village.active = code, checked_name(name, "村名"), active
    db.session.flush()
    reference.forget()
    audit.record(
        "village.save",
        actor=actor,
        object_type="village",
        object_id=village.code,
        ip=ip,
        object_town=village.town_id,
        name=village.name,
        active=active,
    )
    return village


def save_grid(
    *,
    actor: User | None,
    grid: Grid | None,
    code: str,
    name: str,
    village_id: int | None,
    active: bool = True,
    ip: str | None = None,
) -> Grid:
    """Create or change a grid (网格) of a village. A grid still held by an active grid
    worker cannot be deactivated: the worker would be left looking after nothing. A town's
    admin keeps to their own town's grids and villages."""
    if grid is not None and not towns.reaches(actor, grid.village.town_id):
        raise NotFound("找不到该网格。")
    code = checked_code(code, "网格编号", 24)
    clash = db.session.scalar(select(Grid).where(Grid.code == code))
    if clash is not None and clash is not grid:
        raise Conflict(f"网格编号 {code} 已存在。", code="grid_taken", field="code")
    village = db.session.get(Village, village_id) if village_id else None
    if village is not None and not towns.reaches(actor, village.town_id):
        village = None  # another town's village: not one this admin can choose
    # A grid is retired whatever its village; it is made or kept in use in a served one.
    if village is None or (active and not village.active):
        raise ValidationFailed("请选择网格所属的村。", code="unknown_reference", field="village")
    if grid is not None and grid.active and not active:
        held = db.session.scalar(
            select(User.display_name)
            .join(User.grids)
            .where(Grid.id == grid.id, User.active.is_(True))
            .limit(1)
        )
        if held is not None:
            raise Conflict(f"网格仍由{held}负责，请先调整该网格员的网格。", code="grid_in_use")
    if grid is None:
        grid = Grid()
        db.session.add(grid)
    grid.code, grid.name, grid.village, grid.active = (
        code,
        checked_name(name, "网格名称"),
        village,
        active,
    )
    db.session.flush()
    reference.forget()
    audit.record(
        "grid.save",
        actor=actor,
        object_type="grid",
        object_id=grid.code,
        ip=ip,
        object_town=village.town_id,
        name=grid.name,
        village=village.code,
        active=active,
    )
    return grid
