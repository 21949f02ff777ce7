"""Every action the code base records in the audit log has a Chinese label, and so has
every object type and detail it records with it (admin/audit_words.py): the
sources are read, so a new `audit.record("x", ...)` without words fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from admin import audit_words

REPO = Path(__file__).parents[1]
ROOTS = ("server", "admin", "miniprogram_api", "villager", "workbench")
STANDARD = {"actor", "object_type", "object_id", "ip", "object_town"}  # columns, not details


def _calls():
    """(place, call) for every `audit.record(...)` in the sources."""
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "audit"
                ):
                    yield f"{path.relative_to(REPO)}:{node.lineno}", node


def _strings(node) -> list[str] | None:
    """The string literals an argument can be (`"a"`, `"a" if x else "b"`); None when
    it can be anything else (a name, a call), which no table can label."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body), _strings(node.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def test_the_scan_finds_the_calls_a_plain_search_finds():
    plain = set()
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            plain |= set(re.findall(r'audit\.record\(\s*"([^"]+)"', path.read_text("utf-8")))
    found = {a for _place, call in _calls() for a in _strings(call.args[0]) or []}
    assert len(found) > 20
    assert plain <= found


def test_every_recorded_action_has_a_chinese_label():
    missing = []
    for place, call in _calls():
        actions = _strings(call.args[0]) if call.args else None
        if actions is None:
            missing.append(f"{place}: the action is not a literal, so it cannot be labelled")
            continue
        missing += [f"{place}: {a}" for a in actions if a not in audit_words.ACTIONS]
    assert not missing, "actions without a label in admin/audit_words.py:\n" + "\n".join(missing)


def test_every_recorded_object_and_detail_has_words():
    missing = []
    for place, call in _calls():
        for keyword in call.keywords:
            if keyword.arg == "object_type":
                kinds = _strings(keyword.value)
                # approvals pass on the object type of what they approve: user, category
                kinds = kinds if kinds is not None else []
                missing += [f"{place}: object {k}" for k in kinds if k not in audit_words.OBJECTS]
            elif keyword.arg not in STANDARD and keyword.arg not in audit_words.DETAILS:
                missing.append(f"{place}: detail {keyword.arg}")
    assert not missing, "\n".join(missing)


def test_labels_are_chinese_and_name_only_recorded_actions():
    recorded = {a for _place, call in _calls() for a in _strings(call.args[0]) or []}
    assert set(audit_words.ACTIONS) == recorded, "a label for an action no longer recorded"
    for words in [*audit_words.ACTIONS.values(), *audit_words.OBJECTS.values()]:
        assert not re.search(r"[A-Za-z]", words), words
    for code in audit_words.ACTIONS:
        prefix = code.split(".")[0] + "."
        assert code in audit_words.GROUPS[prefix][1]


def test_a_category_s_limits_read_in_words():
    from server.models import AuditEntry

    entry = AuditEntry(
        action="category.save",
        object_type="category",
        object_id="D02",
        detail={"urgent": False, "limits": {"accept": ["1wd", "2wd"], "handle": [None, "30d"]}},
    )
    names = audit_words.Names(categories={"D02": "邻里纠纷"})
    assert audit_words.action_label(entry.action) == "保存类别（时限、分拨）"
    assert audit_words.object_words(entry, names) == "类别 邻里纠纷（D02）"
    assert audit_words.detail_words(entry, names) == [
        ("紧急", "否"),
        ("时限", "受理：1个工作日提醒，2个工作日到期；处置：30天到期"),
    ]


def test_an_object_recorded_by_a_fixed_word_reads_in_chinese():
    """An entry about a whole table records a fixed object id ("all"): the log shows the
    table's name, not the word (an independent review found "考核标准 all")."""
    from server.models import AuditEntry

    fixed = []
    for place, call in _calls():
        given = {k.arg: _strings(k.value) for k in call.keywords}
        for kind in given.get("object_type") or []:
            for key in given.get("object_id") or []:
                words = audit_words.object_words(
                    AuditEntry(object_type=kind, object_id=key), audit_words.Names()
                )
                fixed.append((place, words))
                assert not re.search(r"[A-Za-z]", words), f"{place}: {words}"
    assert any(words == "考核标准" for _place, words in fixed)
