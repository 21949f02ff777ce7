"""repeat disputes: parties as compared, and the flag

Each party gets its name and phone as compared (name_key, phone_key), and each case the
repeat_dispute flag, both filled here for what is already written, with the rules of
server/repeats.py as they are at this revision (copied: a migration must not change when
the code does).

Revision ID: 017a7fc98087
Revises: 69ffd0287fa1
Create Date: 2026-12-01 20:38:06.855495

"""
import bisect
import calendar
import re
import unicodedata
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '017a7fc98087'
down_revision = '69ffd0287fa1'
branch_labels = None
depends_on = None

WINDOW_MONTHS = 12
_SEPARATORS = re.compile(r"[\s·•．.、,，()（）\-—_]+")


def _name_key(name):
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", name or "")).lower()[:64]


def _phone_key(phone):
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits[:32] or None


def _searchable(key, phone):
    return bool(key) and (phone is not None or not ("某" in key or len(key) < 2))


def _same_party(key, phone, other_key, other_phone):
    if not key or key != other_key:
        return False
    if "某" in key or len(key) < 2:  # 张某: kept back, matches by the same phone only
        return phone is not None and phone == other_phone
    return phone is None or other_phone is None or phone == other_phone


def _months_before(moment, months):
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    return moment.replace(year=year, month=month,
                          day=min(moment.day, calendar.monthrange(year, month)[1]))


def upgrade():
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('repeat_dispute', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index('ix_case_file_repeat', ['created_at'], unique=False, sqlite_where=sa.text('repeat_dispute'), postgresql_where=sa.text('repeat_dispute'))

    with op.batch_alter_table('case_party', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('phone_key', sa.String(length=32), nullable=True))

    _backfill()

    with op.batch_alter_table('case_party', schema=None) as batch_op:
        batch_op.alter_column('name_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index('ix_case_party_name_key_case', ['name_key', 'case_id'],
                              unique=False)
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.alter_column('repeat_dispute', existing_type=sa.Boolean(),
                              server_default=None)


def _backfill():
    connection = op.get_bind()
    moment = sa.DateTime(timezone=True)
    party = sa.table("case_party", sa.column("id"), sa.column("case_id"), sa.column("name"),
                     sa.column("phone"), sa.column("name_key"), sa.column("phone_key"))
    case = sa.table("case_file", sa.column("id"), sa.column("status"),
                    sa.column("category_id"), sa.column("created_at", moment),
                    sa.column("repeat_dispute"))
    category = sa.table("category", sa.column("id"), sa.column("group"))
    rows = connection.execute(sa.select(party.c.id, party.c.case_id, party.c.name,
                                        party.c.phone)).all()
    keys = [{"_id": pid, "nk": _name_key(name), "pk": _phone_key(phone)}
            for pid, _case_id, name, phone in rows]
    if keys:
        connection.execute(sa.update(party).where(party.c.id == sa.bindparam("_id"))
                           .values(name_key=sa.bindparam("nk"), phone_key=sa.bindparam("pk")),
                           keys)
    # The repeat flag: the same parties in an earlier dispute within the window.
    disputes = {cid: (created, status) for cid, created, status in connection.execute(
        sa.select(case.c.id, case.c.created_at, case.c.status)
        .join(category, category.c.id == case.c.category_id)
        .where(category.c.group == "dispute"))}
    parties = defaultdict(list)
    for (pid, case_id, _name, _phone), key in zip(rows, keys):
        if case_id in disputes:
            parties[case_id].append((key["nk"], key["pk"]))
    # Per name, the cases naming it in the order they were filed: the window of each case
    # is found by bisection, so a common name costs its window, not every case of it.
    by_name = defaultdict(list)
    for case_id, named in parties.items():
        for name_key in {k for k, p in named if _searchable(k, p)}:
            by_name[name_key].append((disputes[case_id][0], case_id))
    for cases in by_name.values():
        cases.sort()
    flagged = []
    for case_id, mine in parties.items():
        created = disputes[case_id][0]
        since = _months_before(created, WINDOW_MONTHS)
        candidates = set()
        for name_key in {k for k, p in mine if _searchable(k, p)}:
            filed = by_name[name_key]
            start = bisect.bisect_left(filed, (since, -1))
            end = bisect.bisect_left(filed, (created, -1))
            candidates.update(other for _when, other in filed[start:end])
        for other in candidates - {case_id}:
            if disputes[other][1] in ("merged", "rejected"):
                continue
            shared = {k for k, p in mine for ok, op_ in parties[other]
                      if _same_party(k, p, ok, op_)}
            if shared and len(shared) >= min(2, len(mine), len(parties[other])):
                flagged.append({"_id": case_id})
                break
    if flagged:
        connection.execute(sa.update(case).where(case.c.id == sa.bindparam("_id"))
                           .values(repeat_dispute=True), flagged)


def downgrade():
    with op.batch_alter_table('case_party', schema=None) as batch_op:
        batch_op.drop_index('ix_case_party_name_key_case')
        batch_op.drop_column('phone_key')
        batch_op.drop_column('name_key')

    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_index('ix_case_file_repeat', sqlite_where=sa.text('repeat_dispute'), postgresql_where=sa.text('repeat_dispute'))
        batch_op.drop_column('repeat_dispute')
