"""批示: a leader's instruction on a case, followed until the center marks it carried out."""

from __future__ import annotations

from sqlalchemy import select

from server.cases import workflow
from server.db import db
from server.models import CaseEvent, Instruction, Notification
from tests.helpers import case_in

ORDER = "请司法所牵头，一周内化解，结果报我。"


def test_a_leader_instructs_and_everyone_on_the_case_sees_it_until_carried_out(
    client, world, signin, login
):
    case = case_in("in_progress", world)
    db.session.flush()
    token = signin(world.leader)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert 'data-action="instruct"' in page
    answer = client.post(
        f"/admin/cases/{case.code}/actions/instruct",
        data={"csrf_token": token, "version": str(case.version), "text": ORDER},
    )
    assert answer.status_code == 302
    instruction = db.session.scalar(select(Instruction).where(Instruction.case_id == case.id))
    assert instruction.text == ORDER
    assert instruction.author_id == world.leader.id
    assert instruction.carried_out_at is None
    # On the timeline ...
    event = db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "instruct")
    )
    assert event.note == ORDER
    # ... told to the center and to the lead department, in their inbox with its words ...
    told = db.session.scalars(
        select(Notification).where(
            Notification.case_id == case.id,
            Notification.kind == "instruct",
            Notification.channel == "inbox",
        )
    ).all()
    assert {n.user_id for n in told} >= {world.center.id, world.justice_handler.id}
    assert all(ORDER in n.body for n in told)
    # ... on the center's case page, and on the handler's phone.
    token = signin(world.center)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert "领导批示待落实" in page
    assert ORDER in page
    detail = client.get(f"/api/v1/cases/{case.code}", headers=login(world.justice_handler)).json
    assert [(i["text"], i["carried_out_at"]) for i in detail["instructions"]] == [(ORDER, None)]

    # The center marks it carried out: the case stops showing it as waiting.
    db.session.refresh(case)
    answer = client.post(
        f"/admin/cases/{case.code}/actions/carry_out",
        data={
            "csrf_token": token,
            "version": str(case.version),
            "instruction": str(instruction.id),
            "note": "司法所已组织双方调解。",
        },
    )
    assert answer.status_code == 302
    db.session.refresh(instruction)
    assert instruction.carried_out_by_id == world.center.id
    assert instruction.carried_out_note == "司法所已组织双方调解。"
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert "领导批示待落实" not in page
    assert "已落实" in page
    assert db.session.scalar(
        select(Notification).where(
            Notification.kind == "carry_out", Notification.user_id == world.leader.id
        )
    )
    # Nothing is left to carry out: the action is gone.
    db.session.refresh(case)
    assert "carry_out" not in [t.action for t in workflow.allowed_actions(case, world.center)]


def test_only_a_leader_instructs_and_only_the_center_carries_out(world):
    case = case_in("dispatched", world)
    for user in (world.center, world.justice_handler, world.worker1, world.admin):
        assert "instruct" not in [t.action for t in workflow.allowed_actions(case, user)]
    workflow.apply(case, "instruct", actor=world.leader, text=ORDER)
    assert [t.action for t in workflow.allowed_actions(case, world.leader)] == ["instruct"]
    assert "carry_out" in [t.action for t in workflow.allowed_actions(case, world.center)]
    assert "carry_out" not in [
        t.action for t in workflow.allowed_actions(case, world.justice_handler)
    ]


def test_an_instruction_of_another_case_cannot_be_carried_out_here(world):
    import pytest

    from server.infra.errors import ValidationFailed

    one, other = case_in("dispatched", world), case_in("dispatched", world)
    workflow.apply(one, "instruct", actor=world.leader, text=ORDER)
    workflow.apply(other, "instruct", actor=world.leader, text="另一件的批示。")
    with pytest.raises(ValidationFailed):
        workflow.apply(one, "carry_out", actor=world.center, instruction=other.instructions[0].id)
    assert one.open_instructions
    assert other.open_instructions


def test_a_leader_attaches_no_photo_to_an_instruction(client, world, signin):
    """Found by review: the photo upload of the action form took photos with any action."""
    import io

    from PIL import Image

    from server.models import Photo

    case = case_in("dispatched", world)
    db.session.flush()
    token = signin(world.leader)
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(picture, "JPEG")
    answer = client.post(
        f"/admin/cases/{case.code}/actions/instruct",
        data={
            "csrf_token": token,
            "version": str(case.version),
            "text": ORDER,
            "photos": (io.BytesIO(picture.getvalue()), "x.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    assert db.session.scalar(select(Photo).where(Photo.case_id == case.id)) is None
    assert db.session.scalar(select(Instruction).where(Instruction.case_id == case.id)) is None
