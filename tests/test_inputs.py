"""One input system (issue 16, point 4): the API and the admin's forms take an action's
fields through the same schema (server/cases/inputs.py), so a rule about a field is
written once and refuses the same way on both surfaces; the villagers' form and the API
take a report through the same report schema."""

from __future__ import annotations

import re
import uuid

import pytest

from server.cases import inputs
from server.db import db
from server.infra.errors import ValidationFailed
from server.models import Case, CaseStatus
from tests.helpers import case_in

LONG = "很" * 2001

REFUSALS = [
    # (fields of a resolve, the field refused, what the API says, what the admin says)
    ({"result_code": "mediated", "result_text": LONG}, "result_text", "最多2000字", "办结情况"),
    ({"result_code": "made_up", "result_text": "调解成功"}, "result_code", "取值无效", "办结结果"),
]


@pytest.mark.parametrize(("fields", "name", "said", "label"), REFUSALS)
def test_the_admin_and_the_api_refuse_a_field_alike(
    client, world, login, signin, fields, name, said, label
):
    case = case_in("in_progress", world)
    db.session.flush()
    api = client.post(
        f"/api/v1/cases/{case.code}/actions",
        headers=login(world.justice_handler) | {"Idempotency-Key": str(uuid.uuid4())},
        json={"action": "resolve", "version": case.version, **fields},
    )
    assert api.status_code == 422
    assert said in "".join(api.json["errors"][name])

    token = signin(world.justice_handler)
    form = client.post(
        f"/admin/cases/{case.code}/actions/resolve",
        data={"csrf_token": token, "version": str(case.version), **fields},
        follow_redirects=True,
    )
    flashed = re.findall(
        r'<p class="flash flash-error"[^>]*>([^<]*)</p>', form.get_data(as_text=True)
    )
    assert len(flashed) == 1
    assert flashed[0].startswith(label)
    assert said in flashed[0]
    assert db.session.get(Case, case.id).status == CaseStatus.IN_PROGRESS


def test_a_form_s_fields_are_typed_as_the_schema_loads_them(world):
    from werkzeug.datastructures import MultiDict

    from server.infra import clock

    form = MultiDict(
        [
            ("version", "3"),
            ("lead_department", str(world.justice.id)),
            ("co_departments", str(world.committee1.id)),
            ("co_departments", ""),
            ("parties_consent", "yes"),
            ("until", "2026-12-31T17:30"),
            ("note", "  "),
        ]
    )
    names = ("version", "lead_department", "co_departments", "parties_consent", "until", "note")
    sent = inputs.from_form(inputs.ACTION, form, names, tz=clock.town_tz())
    loaded = inputs.load(inputs.ACTION, {"action": "dispatch", **sent})
    assert loaded["version"] == 3
    assert loaded["lead_department"] == world.justice.id
    assert loaded["co_departments"] == [world.committee1.id]
    assert loaded["parties_consent"] is True
    assert loaded["until"].utcoffset().total_seconds() == 8 * 3600  # the town's clock
    assert "note" not in loaded  # an empty text is not given


def test_a_report_refused_by_the_schema_names_the_field_in_chinese():
    with pytest.raises(ValidationFailed) as refused:
        inputs.load(
            inputs.VILLAGER_REPORT,
            {"category": "D02", "description": "吵架", "place_text": "村" * 201},
        )
    assert refused.value.message == "地点最多200字。"
    assert refused.value.details["field"] == "place_text"
    with pytest.raises(ValidationFailed) as missing:
        inputs.load(inputs.REPORT, {"category": "D02", "village": 1})
    assert missing.value.message == "请填写情况描述。"
    with pytest.raises(ValidationFailed) as nested:
        inputs.load(
            inputs.REPORT,
            {"category": "D02", "village": 1, "description": "x", "parties": [{"name": ""}]},
        )
    assert nested.value.message == "姓名不能为空，且最多64字。"


def test_a_bound_only_the_schema_knows_holds_on_the_admin_too(client, world, signin):
    """At most ten co-handling departments: a rule of the input schema, which the API
    always kept and the admin's hand-typed form parsing did not."""
    case = case_in("accepted", world)
    db.session.flush()
    token = signin(world.center)
    form = client.post(
        f"/admin/cases/{case.code}/actions/dispatch",
        data={
            "csrf_token": token,
            "version": str(case.version),
            "lead_department": str(world.justice.id),
            "co_departments": [str(n) for n in range(100, 111)],
        },
        follow_redirects=True,
    )
    flashed = re.findall(
        r'<p class="flash flash-error"[^>]*>([^<]*)</p>', form.get_data(as_text=True)
    )
    assert flashed == ["协办部门最多10个。"]
    assert db.session.get(Case, case.id).status == CaseStatus.ACCEPTED
