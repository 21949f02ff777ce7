"""The per-process copy of reference data: used without queries, and never trusted over an
edit it knows of or over the session's own objects."""

from __future__ import annotations

from datetime import date

from sqlalchemy import event, update

from server.db import db
from server.models import Category, Step, User
from server.organisation import management, reference
from tests.factories import category


def _queries(app):
    statements = []

    def count(_conn, _cursor, statement, *_):
        statements.append(statement)

    return statements, count


def test_a_copy_is_used_without_a_query(app, world):
    reference.category("D02")  # loads the copy
    db.session.expunge_all()
    statements, count = _queries(app)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        found = reference.category("D02")
        village = reference.village(world.v1.id)
        grid = reference.grid(world.g1.id)
        town = village.town  # a report shows it: a lazy load cost each one 1.2 ms of CPU
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []
    assert (found.code, village.name, grid.village_id) == ("D02", "东村", world.v1.id)
    assert (town.id, town.name) == (world.v1.town_id, world.v1.town.name)
    assert found in db.session
    assert town in db.session
    assert {r.step for r in found.time_limits} >= {Step.ACCEPT}


def test_the_session_s_own_object_wins(world):
    reference.category("D02")
    mine = category("D02")
    mine.urgent = True  # not flushed: only this session knows
    assert reference.category("D02") is mine


def test_an_admin_edit_is_seen_at_once(world):
    before = reference.category("D02")
    assert before.active
    db.session.expunge_all()
    management.save_category(
        category("D02"),
        actor=world.admin,
        name="邻里纠纷",
        hint=None,
        urgent=False,
        confidential=False,
        emergency=False,
        active=False,
        default_risk_level="yellow",
        limits={},
        lead_kind=None,
        co_kinds=[],
    )
    db.session.flush()
    db.session.expunge_all()
    assert not reference.category("D02").active
    management.set_calendar_day(date(2026, 6, 8), False, actor=world.admin)
    db.session.flush()
    assert not reference.calendar().is_workday(date(2026, 6, 8))


def test_another_process_s_edit_is_seen_after_the_copy_expires(app, world):
    reference.category("D02")
    # Another worker deactivates the category: this process is not told.
    db.session.execute(update(Category).where(Category.code == "D02").values(active=False))
    db.session.expunge_all()
    assert reference.category("D02").active  # the copy, for now
    db.session.expunge_all()
    copy = app.extensions["reference_copy"]["copy"]
    copy.loaded_at -= app.config["REFERENCE_CACHE_SECONDS"] + 1
    assert not reference.category("D02").active


def test_no_copy_when_turned_off(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "REFERENCE_CACHE_SECONDS", 0)
    reference.forget()
    assert reference.category("D02").code == "D02"
    assert "copy" not in app.extensions.get("reference_copy", {})


def test_a_copy_loaded_before_an_edit_commits_is_dropped_at_the_commit(app, world):
    """Another thread may reload the copy between the edit's forget() and its commit: the
    copy it loads lacks the edit, so the commit drops it again."""
    reference.category("D02")
    reference.forget()  # the edit begins
    reference.category("D02")  # a reload meanwhile (here: this thread)
    assert app.extensions["reference_copy"].get("copy") is not None
    db.session.commit()  # the edit lands
    assert app.extensions["reference_copy"].get("copy") is None


def test_a_town_renamed_by_its_file_is_seen_at_once(app, world):
    """The copy holds the towns, so the town's file drops the copy as it writes, as an
    admin's other edits do."""
    from server.organisation import town_file
    from tests.test_town_setup import filled

    before = reference.village(world.v1.id).town.name
    db.session.expunge_all()
    renamed = filled(镇=[("改名镇", "0311-12345")], 村=[], 网格=[], 部门=[], 账号=[])
    town_file.import_town(renamed, actor=db.session.get(User, world.admin.id))
    db.session.flush()
    db.session.expunge_all()
    assert before != "改名镇"
    assert reference.village(world.v1.id).town.name == "改名镇"


def test_the_session_s_own_town_wins(world):
    """A town the session holds, changed and not yet flushed, keeps its change when a
    village of the copy is handed to the session (a merge would write the copy's over it
    and forget the change)."""
    from server.models import Town

    reference.village(world.v1.id)  # loads the copy
    db.session.expunge_all()
    mine = db.session.get(Town, world.v1.town_id)
    mine.name = "未保存的镇名"
    village = reference.village(world.v1.id)
    assert village.town is mine
    assert mine.name == "未保存的镇名"
    assert mine in db.session.dirty


def test_a_village_read_afresh_gets_its_own_town(world):
    """A village the session read itself (the QR page reads it by its token) is handed
    its town from the copy by its own town id, not by the copy's older one."""
    from server.models import Town, Village

    other = Town(name="另一镇")
    db.session.add(other)
    db.session.flush()
    reference.village(world.v1.id)  # the copy: v1 in its first town
    db.session.execute(update(Village).where(Village.id == world.v1.id).values(town_id=other.id))
    db.session.expunge_all()
    reference.forget()  # the copy knows the new town, but not yet that v1 moved
    reference.village(world.v2.id)
    app_copy = reference._copy()
    app_copy.villages[world.v1.id].town_id = world.v2.town_id  # as it was
    db.session.expunge_all()
    fresh = db.session.get(Village, world.v1.id)
    assert reference.village(world.v1.id) is fresh
    assert fresh.town.name == "另一镇"


def test_a_village_s_own_town_change_is_kept(world):
    """A village the session holds, given another town and not yet flushed, keeps it: the
    copy's town is only for a village whose town is not loaded."""
    from server.models import Town, Village

    other = Town(name="另一镇")
    db.session.add(other)
    db.session.flush()
    reference.village(world.v1.id)  # loads the copy
    db.session.expunge_all()
    mine = db.session.get(Village, world.v1.id)
    moved = db.session.get(Town, other.id)
    mine.town = moved
    assert reference.village(world.v1.id).town is moved
