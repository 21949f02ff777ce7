"""The town's setup as one Excel file: the template a clerk fills in, and its import.

One sheet per kind: the town (镇), villages (村), grids (网格), departments (部门, with the
villages each covers: a legal advisor is a department of kind 法律顾问 covering its
villages) and accounts (账号). Headers are Chinese; the second row is an example, which
the import skips while it is left as it was.

The import checks every row of every sheet first, against the file and the database,
and names each fault by sheet, row and column, in Chinese. Only a file without a fault
is written, all of it, through the same functions as the admin's forms (so
each row is audited and the rules hold once); a fault found while writing rolls it all
back with the request. Rows are matched by their key (village code, grid code,
department name, username): a file imported again changes names and bindings, and
creates only what is new. Each new account gets a one-time password, shown once.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from server.db import db
from server.infra.errors import DomainError, ValidationFailed
from server.models import Department, DepartmentKind, Grid, Role, Town, User, Village
from server.organisation import accounts, management, places, reference
from server.organisation.checks import checked_code, checked_name, checked_phone
from server.trust import audit, passwords


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    required: bool = False
    example: str = ""
    choices: tuple[str, ...] = ()  # the labels a cell may hold (a drop-down in the template)
    # The check the admin's form makes of the same field (server/organisation/checks.py),
    # run on a filled cell so its fault is named by row and column before anything is written.
    check: Callable[[str], object] | None = None
    # Added after templates were handed out: a file made from an older one, without it,
    # reads it as empty rather than being refused.
    newer: bool = False


def _name(field: str, limit: int = 64) -> Callable[[str], object]:
    return lambda value: checked_name(value, field, limit)


def _code(field: str, limit: int = 16) -> Callable[[str], object]:
    return lambda value: checked_code(value, field, limit)


SEPARATORS = ("、", ",", "，", ";", "；", " ")
YES, NO = "是", "否"

SHEETS: dict[str, tuple[Column, ...]] = {
    "镇": (
        Column("镇名称", "name", True, "大钟庄镇", check=_name("镇名称")),
        Column("热线电话", "hotline", False, "12345", check=checked_phone),
        # The character of its papers' numbers (〔2026〕大调字第15号); empty: its name's first.
        Column("文号简称", "document_prefix", False, "大", check=_name("文号简称", 4), newer=True),
    ),
    "村": (
        Column("村编号", "code", True, "V01", check=_code("村编号")),
        Column("村名称", "name", True, "东村", check=_name("村名")),
        Column("启用", "active", False, YES, (YES, NO)),
    ),
    "网格": (
        Column("网格编号", "code", True, "V01-G1", check=_code("网格编号", 24)),
        Column("网格名称", "name", True, "东村第一网格", check=_name("网格名称")),
        Column("所属村编号", "village", True, "V01"),
        Column("启用", "active", False, YES, (YES, NO)),
    ),
    "部门": (
        Column("部门名称", "name", True, "东村调委会", check=_name("部门名称")),
        Column(
            "部门类型",
            "kind",
            True,
            DepartmentKind.VILLAGE_COMMITTEE.label,
            tuple(k.label for k in DepartmentKind),
        ),
        Column("覆盖全镇", "town_wide", False, NO, (YES, NO)),
        Column("负责村编号（用、分隔）", "villages", False, "V01"),
        Column("电话", "phone", False, "", check=checked_phone),
        Column("启用", "active", False, YES, (YES, NO)),
    ),
    "账号": (
        Column("用户名", "username", True, "grid01", check=_name("用户名")),
        Column("姓名", "display_name", True, "张网格", check=_name("姓名")),
        Column("角色", "role", True, Role.GRID_WORKER.label, tuple(r.label for r in Role)),
        Column("所属部门（处置人员填写）", "department", False, ""),
        Column("网格编号（网格员填写，用、分隔）", "grids", False, "V01-G1"),
        Column("电话", "phone", False, "", check=checked_phone),
    ),
}
# Which duty imports which sheets (三员分立): the system admin the town's shape, the
# security admin the accounts; the machine's operator (the CLI) all of them.
PLACES = ("镇", "村", "网格", "部门")
ACCOUNTS = ("账号",)
KINDS = {k.label: k for k in DepartmentKind}
ROLES = {r.label: r for r in Role}


@dataclass
class Fault:
    sheet: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"「{self.sheet}」第{self.row}行" if self.row else f"「{self.sheet}」"
        return f"{where}{'「' + self.column + '」' if self.column else ''}：{self.message}"


class ImportRefused(ValidationFailed):
    """The file has faults; nothing was written."""

    code = "import_refused"
    default_message = "导入文件有错误，未写入任何数据。"

    def __init__(self, faults: list[Fault]):
        super().__init__(faults=[str(f) for f in faults])
        self.faults = faults


@dataclass
class Outcome:
    """What an import did: counts by sheet, and each new account's one-time password."""

    created: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    accounts: list[tuple[str, str, str, str]] = field(default_factory=list)  # user, name, role, pw
    waiting: list[str] = field(default_factory=list)  # privileged accounts awaiting approval
    skipped: list[str] = field(default_factory=list)  # sheets left to another duty


def template() -> bytes:
    """The empty file: a sheet per kind, Chinese headers, an example row, drop-downs."""
    # openpyxl is loaded by the first spreadsheet a worker writes, not at start-up
    # (16 MiB a worker: benchmarks/bench_memory.py).
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    book.remove(book.active)
    bold, grey = Font(bold=True), Font(italic=True, color="808080")
    fill = PatternFill("solid", fgColor="DDEBF7")
    for name, columns in SHEETS.items():
        sheet = book.create_sheet(name)
        for index, column in enumerate(columns, start=1):
            head = sheet.cell(
                row=1, column=index, value=column.header + ("*" if column.required else "")
            )
            head.font, head.fill = bold, fill
            example = sheet.cell(row=2, column=index, value=column.example)
            example.font, example.data_type = grey, "s"
            letter = get_column_letter(index)
            sheet.column_dimensions[letter].width = max(12, len(column.header) * 2 + 4)
            if column.choices:
                check = DataValidation(
                    type="list", formula1='"' + ",".join(column.choices) + '"', allow_blank=True
                )
                check.error, check.errorTitle = "请从下拉列表中选择。", "取值无效"
                sheet.add_data_validation(check)
                check.add(f"{letter}3:{letter}1000")
        sheet.freeze_panes = "A3"
    notes = book.create_sheet("说明")
    for line in (
        "每个工作表一类数据；第1行是表头（带*的必填），第2行是示例，原样保留时导入会跳过。",
        "导入先检查全部行，有任何错误则一行也不写入，并列出错误所在的工作表、行和列。",
        "按编号、部门名称、用户名对应已有数据：再次导入会更新名称和绑定，只新建没有的。",
        "法律顾问：建一个类型为“法律顾问”的部门，填写其负责的村，再为律师建处置人员账号。",
        "系统管理员导入镇、村、网格、部门；安全管理员导入账号；"
        "服务器上的命令 grid-report import 导入全部。",
        "新账号各得一个一次性密码（只显示一次），首次登录须修改。",
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _split(value: str) -> list[str]:
    for separator in SEPARATORS[1:]:
        value = value.replace(separator, SEPARATORS[0])
    return [part for part in (p.strip() for p in value.split(SEPARATORS[0])) if part]


def read(data: bytes) -> tuple[dict[str, list[tuple[int, dict]]], list[Fault]]:
    """Each sheet's filled rows as (row number, {key: text}); faults in the file's shape."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # any unreadable upload is the same fault to a clerk
        return {}, [Fault("文件", 0, "", "无法读取，请使用下载的模板（.xlsx）。")]
    rows: dict[str, list[tuple[int, dict]]] = {}
    faults: list[Fault] = []
    try:
        for name, columns in SHEETS.items():
            if name not in book.sheetnames:
                continue
            sheet = book[name]
            found = None
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [_text(v) for v in values]
                if number == 1:
                    heads = [c.rstrip("*") for c in cells]
                    found = {c.key: heads.index(c.header) for c in columns if c.header in heads}
                    for column in columns:
                        if column.key not in found and not column.newer:
                            faults.append(Fault(name, 1, column.header, "缺少这一列。"))
                    continue
                if not any(cells) or found is None:
                    continue
                row = {
                    c.key: cells[found[c.key]]
                    if c.key in found and found[c.key] < len(cells)
                    else ""
                    for c in columns
                }
                if number == 2 and all(row[c.key] == c.example for c in columns if c.key in found):
                    continue  # the template's example, left as it was
                rows.setdefault(name, []).append((number, row))
    finally:
        book.close()
    if not rows and not faults:
        faults.append(Fault("文件", 0, "", "没有可导入的数据行。"))
    return rows, faults


class _Checker:
    """Checks every row against the file and the database, before anything is written."""

    def __init__(self, rows, town_id: int | None):
        self.rows = rows
        self.town_id = town_id
        self.faults: list[Fault] = []
        self.rules = {
            "村": self._village,
            "网格": self._grid,
            "部门": self._department,
            "账号": self._account,
        }
        self.closing_villages = {r["code"] for _, r in rows.get("村", []) if r["active"] == NO}
        # The file's town's villages and grids; codes are the deployment's, so another
        # town's are named as such rather than changed (a file of town B once renamed
        # town A's V01, and moved its grids).
        self.village_codes = {r["code"] for _, r in rows.get("村", [])} | set(
            db.session.scalars(
                select(Village.code).where(Village.active.is_(True), Village.town_id == town_id)
            )
        )
        self.grid_codes = {r["code"] for _, r in rows.get("网格", [])} | set(
            db.session.scalars(
                select(Grid.code)
                .join(Village)
                .where(Grid.active.is_(True), Village.town_id == town_id)
            )
        )
        self.other_villages = set(
            db.session.scalars(select(Village.code).where(Village.town_id != town_id))
        )
        self.other_grids = set(
            db.session.scalars(select(Grid.code).join(Village).where(Village.town_id != town_id))
        )
        self.departments = {r["name"] for _, r in rows.get("部门", [])} | set(
            db.session.scalars(
                select(Department.name).where(
                    Department.active.is_(True), management.of_town(Department.town_id, town_id)
                )
            )
        )

    def fault(self, sheet, number, key, message):
        header = next(c.header for c in SHEETS[sheet] if c.key == key) if key else ""
        self.faults.append(Fault(sheet, number, header, message))

    def check(self) -> list[Fault]:
        for sheet, columns in SHEETS.items():
            seen: dict[str, int] = {}
            for number, row in self.rows.get(sheet, []):
                for column in columns:
                    value = row[column.key]
                    if column.required and not value:
                        self.fault(sheet, number, column.key, "必填。")
                    elif value and column.check is not None:
                        try:
                            column.check(value)
                        except ValidationFailed as refused:
                            self.fault(sheet, number, column.key, refused.message)
                    if column.choices and value and value not in column.choices:
                        self.fault(
                            sheet,
                            number,
                            column.key,
                            f"“{value}”不是可选值（{'、'.join(column.choices)}）。",
                        )
                key = row[columns[0].key]
                if key and key in seen:
                    self.fault(sheet, number, columns[0].key, f"与第{seen[key]}行重复。")
                seen.setdefault(key, number)
                if sheet in self.rules:
                    self.rules[sheet](number, row)
        if len(self.rows.get("镇", [])) > 1:
            self.fault("镇", self.rows["镇"][1][0], "name", "只能填写一个镇。")
        if not self.rows.get("镇") and db.session.scalar(select(Town.id).limit(1)) is None:
            self.faults.append(Fault("镇", 0, "", "数据库中还没有镇，请填写镇名称。"))
        return self.faults

    def _grid(self, number, row):
        if row["code"] in self.other_grids:
            self.fault("网格", number, "code", f"网格编号“{row['code']}”已是其他镇的网格。")
        if row["village"] and row["village"] not in self.village_codes:
            self.fault("网格", number, "village", f"找不到村“{row['village']}”。")
        elif row["active"] != NO and row["village"] in self.closing_villages:
            self.fault("网格", number, "village", f"村“{row['village']}”在本表中停用。")
        if row["active"] == NO:
            held = db.session.scalar(
                select(User.display_name)
                .join(User.grids)
                .where(Grid.code == row["code"], Grid.active.is_(True), User.active.is_(True))
                .limit(1)
            )
            if held is not None:
                self.fault("网格", number, "active", f"网格仍由{held}负责，请先调整其网格。")

    def _village(self, number, row):
        if row["code"] in self.other_villages:
            self.fault("村", number, "code", f"村编号“{row['code']}”已是其他镇的村。")
        if row["active"] != NO:
            return
        kept = {r["code"] for _, r in self.rows.get("网格", []) if r["active"] == NO}
        grids = set(
            db.session.scalars(
                select(Grid.code)
                .join(Village)
                .where(Village.code == row["code"], Grid.active.is_(True))
            )
        ) | {r["code"] for _, r in self.rows.get("网格", []) if r["village"] == row["code"]}
        if grids - kept:
            self.fault("村", number, "active", "该村还有在用的网格，请先在“网格”表停用。")

    def _department(self, number, row):
        town_wide = row["town_wide"] == YES
        villages = _split(row["villages"])
        for code in villages:
            if code not in self.village_codes:
                self.fault("部门", number, "villages", f"找不到村“{code}”。")
        if not town_wide and not villages and row["active"] != NO:
            self.fault("部门", number, "villages", "请填写负责的村，或在“覆盖全镇”填“是”。")

    def _account(self, number, row):
        role = ROLES.get(row["role"])
        if role == Role.HANDLER:
            if not row["department"]:
                self.fault("账号", number, "department", "处置人员须填写所属部门。")
            elif row["department"] not in self.departments:
                self.fault("账号", number, "department", f"找不到部门“{row['department']}”。")
        elif row["department"]:
            self.fault("账号", number, "department", "只有处置人员属于部门。")
        grids = _split(row["grids"])
        if role == Role.GRID_WORKER and not grids:
            self.fault("账号", number, "grids", "网格员须填写至少一个网格。")
        elif grids and role != Role.GRID_WORKER:
            self.fault("账号", number, "grids", "只有网格员绑定网格。")
        for code in grids:
            if code not in self.grid_codes:
                self.fault("账号", number, "grids", f"找不到网格“{code}”。")
        existing = db.session.scalar(select(User).where(User.username == row["username"]))
        if existing is not None and existing.town_id != self.town_id:
            # A town's file keeps its own town's accounts; moving one is the district's
            # account keeper's (accounts.update_user, which withdraws what was asked of it).
            self.fault(
                "账号",
                number,
                "username",
                f"账号“{row['username']}”已是其他镇或区里的账号；调动请到账号页办理。",
            )
        elif existing is not None and role is not None and existing.role != role:
            self.fault(
                "账号",
                number,
                "role",
                f"账号已存在，角色为{existing.role.label}；改角色请到账号页办理。",
            )


def import_town(data: bytes, *, actor: User | None, ip: str | None = None) -> Outcome:
    """Check the whole file, then write all of it (the caller's unit commits) or raise
    ImportRefused naming every fault. `actor` None is the machine's operator (the CLI)."""
    rows, faults = read(data)
    # Whose file it is, read before the sheets its maker may not write are set aside: a
    # district security admin's accounts go to the town its 镇 sheet names.
    town_id, town_faults = _file_town(rows, actor) if not faults else (None, [])
    faults += town_faults
    outcome = Outcome()
    allowed = (
        PLACES + ACCOUNTS
        if actor is None
        else PLACES
        if actor.role == Role.ADMIN
        else ACCOUNTS
        if actor.role == Role.SECURITY_ADMIN
        else ()
    )
    for sheet in list(rows):
        if sheet not in allowed:
            outcome.skipped.append(sheet)
            del rows[sheet]
    if not faults and not rows:
        faults.append(Fault("文件", 0, "", "没有您有权导入的数据行。"))
    if not faults:
        # A town still to be made has no departments yet (-1: no town's).
        faults = _Checker(rows, town_id if town_id is not None else -1).check()
    if faults:
        raise ImportRefused(faults)
    # The new accounts' one-time passwords, hashed before the first write: argon2 takes a
    # fifth of a second each, which SQLite's write lock would otherwise wait through.
    existing = set(db.session.scalars(select(User.username)))
    fresh = {}
    for _, row in rows.get("账号", []):
        if row["username"] not in existing:
            password = passwords.one_time()
            fresh[row["username"]] = (password, passwords.hash_password(password))
    try:
        _write(rows, actor=actor, ip=ip, outcome=outcome, fresh=fresh, town_id=town_id)
    except DomainError as error:  # a rule only the write knows: all of it goes back
        raise ImportRefused([Fault("文件", 0, "", error.message)]) from error
    return outcome


def _count(outcome: Outcome, sheet: str, new: bool) -> None:
    bucket = outcome.created if new else outcome.changed
    bucket[sheet] = bucket.get(sheet, 0) + 1


def _file_town(rows, actor: User | None) -> tuple[int | None, list[Fault]]:
    """The town a file sets up, and the faults of its 镇 sheet. A town's people's file is
    their own town's (its 镇 row may rename it, not take another town's name). The
    district's people and the machine's operator name the town in the 镇 sheet: an
    existing one, or a new one that the system admin or the operator makes (None). The
    operator's file without one is the first town's, as before there were several."""
    named = [(n, row["name"].strip()) for n, row in rows.get("镇", []) if row["name"].strip()]
    if actor is not None and actor.town_id is not None:
        if named and db.session.scalar(
            select(Town.id).where(Town.name == named[0][1], Town.id != actor.town_id)
        ):
            fault = Fault("镇", named[0][0], "镇名称", f"“{named[0][1]}”是另一个镇的名称。")
            return actor.town_id, [fault]
        return actor.town_id, []
    if named:
        number, name = named[0]
        found = db.session.scalar(select(Town.id).where(Town.name == name))
        if found is None and actor is not None and actor.role != Role.ADMIN:
            message = f"找不到“{name}”：请系统管理员先导入该镇。"
            return None, [Fault("镇", number, "镇名称", message)]
        return found, []
    if actor is not None:
        return None, [Fault("镇", 0, "", "请在“镇”表填写本文件所属的镇。")]
    return db.session.scalar(select(Town.id).order_by(Town.id)), []


def _write(rows, *, actor, ip, outcome, fresh, town_id: int | None) -> None:
    for _, row in rows.get("镇", []):
        town = db.session.get(Town, town_id) if town_id is not None else None
        _count(outcome, "镇", town is None)
        town = town or Town()
        town.name = checked_name(row["name"], "镇名称")
        town.hotline = checked_phone(row["hotline"])
        prefix = (row.get("document_prefix") or "").strip()
        town.document_prefix = checked_name(prefix, "文号简称", 4) if prefix else None
        db.session.add(town)
        db.session.flush()
        reference.forget()  # a report shows its village's town
        audit.record(
            "town.save",
            actor=actor,
            ip=ip,
            object_town=town.id,
            name=town.name,
            hotline=town.hotline,
            document_prefix=town.document_prefix,
        )
        town_id = town.id
    for _, row in rows.get("村", []):
        village = db.session.scalar(select(Village).where(Village.code == row["code"]))
        _count(outcome, "村", village is None)
        places.save_village(
            actor=actor,
            village=village,
            code=row["code"],
            name=row["name"],
            active=row["active"] != NO,
            ip=ip,
            town_id=town_id,
        )
    villages = {v.code: v.id for v in db.session.scalars(select(Village))}
    for _, row in rows.get("网格", []):
        grid = db.session.scalar(select(Grid).where(Grid.code == row["code"]))
        _count(outcome, "网格", grid is None)
        places.save_grid(
            actor=actor,
            grid=grid,
            code=row["code"],
            name=row["name"],
            village_id=villages.get(row["village"]),
            active=row["active"] != NO,
            ip=ip,
        )
    # The file is its town's: its departments are found by name in that town alone.
    in_town = management.of_town(Department.town_id, town_id)
    for _, row in rows.get("部门", []):
        department = db.session.scalar(
            select(Department).where(Department.name == row["name"], in_town)
        )
        _count(outcome, "部门", department is None)
        management.save_department(
            actor=actor,
            department=department,
            name=row["name"],
            kind=KINDS[row["kind"]].value,
            town_wide=row["town_wide"] == YES,
            village_ids=[villages[c] for c in _split(row["villages"])],
            active=row["active"] != NO,
            phone=row["phone"],
            town=str(town_id) if town_id is not None else None,
            ip=ip,
        )
    departments = {d.name: d.id for d in db.session.scalars(select(Department).where(in_town))}
    grids = {g.code: g.id for g in db.session.scalars(select(Grid))}
    for _, row in rows.get("账号", []):
        role = ROLES[row["role"]]
        department_id = departments.get(row["department"]) if row["department"] else None
        grid_ids = [grids[c] for c in _split(row["grids"])]
        user = db.session.scalar(select(User).where(User.username == row["username"]))
        _count(outcome, "账号", user is None)
        if user is not None:
            accounts.update_user(
                user,
                actor=actor,
                department_id=department_id,
                grid_ids=grid_ids,
                display_name=row["display_name"],
                phone=row["phone"],
                ip=ip,
            )
            continue
        password, hashed = fresh[row["username"]]
        user = accounts.create_user(
            actor=actor,
            username=row["username"],
            display_name=row["display_name"],
            role=role.value,
            password=password,
            department_id=department_id,
            grid_ids=grid_ids,
            ip=ip,
            password_hash=hashed,
            town_id=town_id,
        )
        user.phone = row["phone"][:32] or None
        user.must_change_password = True  # a password on paper is used once
        outcome.accounts.append((user.username, user.display_name, role.label, password))
        if not user.active:
            outcome.waiting.append(user.username)
