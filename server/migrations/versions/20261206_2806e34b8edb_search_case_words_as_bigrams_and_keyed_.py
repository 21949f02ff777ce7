"""search: case words as bigrams, and keyed digests of identity

`case_search` keeps each case's village as a term ("_v7") and its description, place and
parties' names as overlapping character bigrams ("邻居漏水" -> "邻居 居漏 漏水 水"), indexed
for full-text search: on SQLite by the FTS5 table `case_search_fts` (external content,
kept current by triggers; "_" is a token character, which no word term holds), on
PostgreSQL by a GIN index over the terms and the case's bucket of 4096 ids as a tsvector. `case_identity_digest` keeps keyed
hashes (HMAC) of each informant's name, phone and WeChat id and of the parties' phones,
so the center can find a case by them. server/cases/search.py says why.

Both are filled here for the cases already filed, by the rules as they stand today
(copied below: a migration does not follow later changes of the app's code). The
identity digests need the app's IDENTITY_KEYS (or, in development, SECRET_KEY), as the
app has them when it runs `grid-report db upgrade`.

Revision ID: 2806e34b8edb
Revises: e5a9c3d17f42
Create Date: 2026-12-05 23:09:10.652649

"""
import base64
import hashlib
import hmac
import re
import unicodedata

from alembic import op
import sqlalchemy as sa
from flask import current_app


# revision identifiers, used by Alembic.
revision = '2806e34b8edb'
down_revision = 'e5a9c3d17f42'
branch_labels = None
depends_on = None

BATCH = 2000

SQLITE_INDEX = [
    "CREATE VIRTUAL TABLE case_search_fts USING fts5(body, content='case_search',"
    " content_rowid='case_id', tokenize='unicode61 remove_diacritics 0 tokenchars ''_''')",
    "CREATE TRIGGER case_search_fts_insert AFTER INSERT ON case_search BEGIN"
    " INSERT INTO case_search_fts(rowid, body) VALUES (new.case_id, new.body); END",
    "CREATE TRIGGER case_search_fts_delete AFTER DELETE ON case_search BEGIN"
    " INSERT INTO case_search_fts(case_search_fts, rowid, body)"
    " VALUES ('delete', old.case_id, old.body); END",
    "CREATE TRIGGER case_search_fts_update AFTER UPDATE ON case_search BEGIN"
    " INSERT INTO case_search_fts(case_search_fts, rowid, body)"
    " VALUES ('delete', old.case_id, old.body);"
    " INSERT INTO case_search_fts(rowid, body) VALUES (new.case_id, new.body); END",
]
# The terms, and the case's bucket of 4096 ids as one more ("~244"), so that a search
# can ask the index for the newest cases first (server/cases/search.py).
POSTGRESQL_INDEX = [
    "CREATE INDEX ix_case_search_terms ON case_search USING gin"
    " (array_to_tsvector(string_to_array(body, ' ') || ('~' || (case_id >> 12)::text)))",
]

# The rules of server/cases/search.py and server/trust/identity.py on 2026-12-06.
_RUN = re.compile(r"[^\W_]+")
_NOT_IN_A_NAME = re.compile(r"[\s·•．.、,，()（）\-—_]+")
_KINDS = {
    "reporter_name": "name",
    "reporter_phone": "phone",
    "reporter_wechat": "wechat",
    "party_phone": "phone",
}


def _terms(value):
    found = []
    for run in _RUN.findall(unicodedata.normalize("NFKC", value or "").lower()):
        found += [run[i : i + 2] for i in range(len(run) - 1)]
        found.append(run[-1])
    return found


def _normalised(domain, value):
    value = unicodedata.normalize("NFKC", value or "").strip().lower()
    if domain == "phone":
        value = re.sub(r"\D", "", value)
        for prefix in ("0086", "86"):
            if len(value) == 11 + len(prefix) and value.startswith(prefix):
                value = value[len(prefix) :]
    elif domain == "name":
        value = _NOT_IN_A_NAME.sub("", value)
    return value or None


def _keys():
    from cryptography.fernet import Fernet, MultiFernet

    config = current_app.config
    keys = config.get("IDENTITY_KEYS")
    if not keys:
        digest = hashlib.sha256(f"grid-report identity v1:{config['SECRET_KEY']}".encode())
        keys = base64.urlsafe_b64encode(digest.digest()).decode()
    keys = [k.strip() for k in str(keys).split(",") if k.strip()]
    match = hmac.new(keys[0].encode(), b"grid-report identity match v1", hashlib.sha256)
    return MultiFernet([Fernet(k.encode()) for k in keys]), match.digest()


def _unseal(fernet, value):
    from cryptography.fernet import InvalidToken

    if value is None or not value.startswith("f1:"):
        return value
    try:
        return fernet.decrypt(value[3:].encode()).decode()
    except InvalidToken:  # sealed under a key no longer given: it cannot be matched
        return None


def _digest(key, kind, value):
    domain = _KINDS[kind]
    value = _normalised(domain, value)
    if value is None:
        return None
    return hmac.new(key, f"{domain}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def upgrade():
    op.create_table('case_identity_digest',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('reporter_name', 'reporter_phone', 'reporter_wechat', 'party_phone', name='digest_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('digest', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_case_identity_digest_case_id_case_file'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_identity_digest'))
    )
    with op.batch_alter_table('case_identity_digest', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_identity_digest_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_case_identity_digest_digest', ['digest', 'case_id'], unique=False)

    op.create_table('case_search',
    sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_case_search_case_id_case_file'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_case_search'))
    )
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    for statement in SQLITE_INDEX if sqlite else POSTGRESQL_INDEX:
        op.execute(statement)
    _backfill(connection)


def _backfill(connection):
    """Index every case filed before (the SQLite triggers fill the FTS table)."""
    cases = sa.table(
        "case_file",
        sa.column("id", sa.Integer),
        sa.column("village_id", sa.Integer),
        sa.column("description", sa.Text),
        sa.column("place_text", sa.String),
        sa.column("reporter_name", sa.String),
        sa.column("reporter_phone", sa.String),
        sa.column("reporter_wechat", sa.String),
    )
    parties = sa.table(
        "case_party",
        sa.column("case_id", sa.Integer),
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("phone", sa.String),
    )
    search = sa.table("case_search", sa.column("case_id", sa.Integer), sa.column("body", sa.Text))
    digests = sa.table(
        "case_identity_digest",
        sa.column("case_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("digest", sa.String),
    )
    fernet, key = _keys()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(cases).where(cases.c.id > after).order_by(cases.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        of_case = {}
        for party in connection.execute(
            sa.select(parties)
            .where(parties.c.case_id.between(rows[0].id, after))
            .order_by(parties.c.id)
        ):
            of_case.setdefault(party.case_id, []).append(party)
        bodies, hashed = [], []
        for case in rows:
            named = of_case.get(case.id, [])
            text = " ".join([case.description or "", case.place_text or ""] + [p.name for p in named])
            body = " ".join([f"_v{case.village_id}", *_terms(text)])
            bodies.append({"case_id": case.id, "body": body})
            pairs = [("party_phone", p.phone) for p in named] + [
                (f"reporter_{field}", _unseal(fernet, getattr(case, f"reporter_{field}")))
                for field in ("name", "phone", "wechat")
            ]
            for kind, value in pairs:
                found = _digest(key, kind, value)
                if found is not None:
                    hashed.append({"case_id": case.id, "kind": kind, "digest": found})
        connection.execute(sa.insert(search), bodies)
        if hashed:
            connection.execute(sa.insert(digests), hashed)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER case_search_fts_{trigger}")
        op.execute("DROP TABLE case_search_fts")
    else:
        op.execute("DROP INDEX ix_case_search_terms")
    op.drop_table('case_search')
    with op.batch_alter_table('case_identity_digest', schema=None) as batch_op:
        batch_op.drop_index('ix_case_identity_digest_digest')
        batch_op.drop_index(batch_op.f('ix_case_identity_digest_case_id'))

    op.drop_table('case_identity_digest')
